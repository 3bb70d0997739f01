//! What `assay run` settles before it starts anything: the plan shown before a real run,
//! this shard's share of the workloads, and a run id given on the command line.

use crate::load::LoadedScenario;
use assay_core::scenario::Shard;

/// What a run will send, for the confirmation before a real run: per scenario its
/// load, and the ops it may issue. There is no cost model yet, so op counts stand in.
pub(crate) fn plan(scenarios: &[LoadedScenario]) -> String {
    let parts: Vec<String> = scenarios
        .iter()
        .map(|l| {
            let s = &l.scenario;
            match &s.workload {
                Some(w) => {
                    let secs = (w.warmup + w.duration).as_secs_f64();
                    let ops = match (w.max_ops, w.rate > 0.0) {
                        (Some(m), _) => format!("≤ {m} ops"),
                        (None, true) => format!("≈ {:.0} ops", w.rate * secs),
                        (None, false) => format!("{} clients, closed loop", w.clients),
                    };
                    format!(
                        "{} ({ops} over {secs:.0} s{})",
                        s.name,
                        if w.load {
                            format!(", loading {} keys first", w.keys.count)
                        } else {
                            String::new()
                        }
                    )
                }
                None => format!("{} ({} steps)", s.name, s.steps.len() + s.native.len()),
            }
        })
        .collect();
    format!(
        "{} scenario(s): {}; estimated cost: no cost model in this version, op counts only",
        scenarios.len(),
        parts.join("; ")
    )
}

/// `--shard i/N`: every scenario's workload becomes this shard's share of it. Shards of
/// one run share its id (`--run-id`).
pub(crate) fn take_shard(
    scenarios: &mut [LoadedScenario],
    text: &str,
    has_run_id: bool,
) -> Result<Shard, String> {
    let shard = Shard::parse(text)?;
    if !has_run_id {
        return Err(format!(
            "--shard {shard}: name the run the shards belong to with --run-id ID (the same for every shard)"
        ));
    }
    for l in scenarios.iter_mut() {
        if let Some(w) = &l.scenario.workload {
            let sharded = w
                .sharded(shard)
                .map_err(|e| format!("{}: {e}", l.path.display()))?;
            l.scenario.workload = Some(sharded);
        }
    }
    Ok(shard)
}

/// `--run-id ID`: letters, digits, `-` and `_` (it names a directory and, shortened, the
/// tables of the run); the short form is its last six characters.
pub(crate) fn given_run_id(id: &str) -> Result<(String, String), String> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if !ok {
        return Err(format!(
            "--run-id `{id}`: use 1–64 letters, digits, - or _ (e.g. nightly-42)"
        ));
    }
    let short: String = id
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    let short = short[short.len().saturating_sub(6)..].to_string();
    Ok((
        id.to_string(),
        if short.is_empty() {
            "run".into()
        } else {
            short
        },
    ))
}
