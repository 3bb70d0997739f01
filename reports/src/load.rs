//! The resolved load of a scenario in one line, as summary.md and index.html print it.

/// The load in one line: `closed loop, 8 clients, warmup 2 s, 10 s, zipfian …`.
pub fn load_line(l: &assay_core::record::LoadConfig) -> String {
    let mut parts: Vec<String> = Vec::new();
    match (l.mode, l.rate_per_s) {
        (Some(assay_core::scenario::LoadMode::Open), Some(rate)) => {
            parts.push(format!("open loop at {rate}/s"));
            if let Some(m) = l.max_in_flight {
                parts.push(format!("at most {m} in flight"));
            }
        }
        (Some(_), _) => parts.push(format!("closed loop, {} clients", l.clients)),
        (None, _) => parts.push(format!("{} client(s)", l.clients)),
    }
    if !l.stages.is_empty() {
        let stages: Vec<String> = l
            .stages
            .iter()
            .map(|s| format!("{} over {} s", s.target, s.duration_s))
            .collect();
        parts.push(format!("stages {}", stages.join(" → ")));
    }
    if l.warmup_s > 0.0 {
        parts.push(format!("warmup {} s", l.warmup_s));
    }
    if l.duration_s > 0.0 {
        parts.push(format!("duration {} s", l.duration_s));
    }
    if let Some(n) = l.max_ops {
        parts.push(format!("at most {n} ops"));
    }
    if let (Some(keys), Some(d)) = (l.keys, &l.key_distribution) {
        parts.push(format!("{keys} keys, {d}"));
    }
    if let Some(v) = &l.value_size {
        parts.push(format!("values {v}"));
    }
    if let Some(i) = l.isolation {
        parts.push(format!("isolation {i}"));
    }
    if !l.faults.is_empty() {
        parts.push(format!("faults {}", l.faults.join(", ")));
    }
    parts.push(format!("op timeout {} s", l.op_timeout_s));
    parts.join(", ")
}
