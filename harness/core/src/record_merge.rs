//! Shards of one run, merged: the run records of N load generators that ran the same
//! scenarios against the same targets become one record that judges and renders like
//! any other. Histograms add exactly; counts add; each shard's per-second series is
//! placed by its wall-clock start; the configured load is the sum of the shards'.

use crate::record::{RunRecord, ScenarioRecord, ScenarioStatus, TargetRecord, WorkloadRecord};

impl RunRecord {
    /// Merges shard records (at least one). Targets and scenarios are matched by name;
    /// one present in only some shards is taken from those.
    pub fn merge(mut parts: Vec<RunRecord>) -> Result<RunRecord, String> {
        if parts.is_empty() {
            return Err("nothing to merge: name at least one run directory".into());
        }
        parts.sort_by_key(|p| p.started_unix_ms);
        let start_ms = parts[0].started_unix_ms;
        let mut parts = parts.into_iter();
        let mut merged = parts.next().expect("checked non-empty");
        let mut run_ids = vec![merged.run_id.clone()];
        for part in parts {
            let offset_ms = part.started_unix_ms.saturating_sub(start_ms);
            if !run_ids.contains(&part.run_id) {
                run_ids.push(part.run_id.clone());
            }
            merged.finished_at = merged.finished_at.max(part.finished_at.clone());
            merged.interrupted = merged.interrupted.take().or(part.interrupted);
            merged.timeline.extend(part.timeline);
            for t in part.targets {
                match merged.targets.iter_mut().find(|m| m.name == t.name) {
                    Some(m) => merge_target(m, t, offset_ms),
                    None => merged.targets.push(t),
                }
            }
        }
        merged.timeline.sort_by_key(|e| e.unix_ms);
        if run_ids.len() > 1 {
            merged.run_id = format!("merged-{}", run_ids.join("+"));
        }
        Ok(merged)
    }
}

fn merge_target(into: &mut TargetRecord, other: TargetRecord, offset_ms: u64) {
    into.start_error = into.start_error.take().or(other.start_error);
    for s in other.scenarios {
        match into.scenarios.iter_mut().find(|m| m.name == s.name) {
            Some(m) => merge_scenario(m, s, offset_ms),
            None => into.scenarios.push(s),
        }
    }
}

fn merge_scenario(into: &mut ScenarioRecord, other: ScenarioRecord, offset_ms: u64) {
    // A shard that did not run the scenario decides its status: the merge did not run
    // it whole.
    let mine = std::mem::replace(
        &mut into.status,
        ScenarioStatus::NotRun {
            reason: String::new(),
        },
    );
    into.status = match (mine, other.status) {
        (
            ScenarioStatus::Ran {
                aborted: a1,
                teardown_error: t1,
            },
            ScenarioStatus::Ran {
                aborted: a2,
                teardown_error: t2,
            },
        ) => ScenarioStatus::Ran {
            aborted: a1.or(a2),
            teardown_error: t1.or(t2),
        },
        (ScenarioStatus::Ran { .. }, not_run) => not_run,
        (not_run, _) => not_run,
    };
    into.ops += other.ops;
    into.elapsed_ns = into.elapsed_ns.max(other.elapsed_ns);
    into.latency.merge(&other.latency);
    for (k, v) in other.request_units_by_op {
        *into.request_units_by_op.entry(k).or_default() += v;
    }
    into.retries += other.retries;
    for (k, v) in other.error_classes {
        *into.error_classes.entry(k).or_default() += v;
    }
    for n in other.notes {
        if !into.notes.contains(&n) {
            into.notes.push(n);
        }
    }
    into.faults.extend(other.faults);
    // Shards ran on machines of their own: keep the busiest one's.
    into.host = match (into.host, other.host) {
        (Some(a), Some(b)) => Some(if b.taken_cores() > a.taken_cores() {
            b
        } else {
            a
        }),
        (a, b) => a.or(b),
    };
    merge_load(&mut into.load, &other.load);
    into.workload = match (into.workload.take(), other.workload) {
        (Some(a), Some(b)) => Some(merge_workload(a, b, offset_ms)),
        (a, b) => a.or(b),
    };
}

/// The shards' loads add up to the configured one: clients, rate, in-flight bound, every
/// stage's level and the op bound are summed; the merge is no one shard.
fn merge_load(into: &mut crate::record::LoadConfig, other: &crate::record::LoadConfig) {
    into.clients += other.clients;
    if let (Some(a), Some(b)) = (into.rate_per_s.as_mut(), other.rate_per_s) {
        *a += b;
    }
    if let (Some(a), Some(b)) = (into.max_in_flight.as_mut(), other.max_in_flight) {
        *a += b;
    }
    if let (Some(a), Some(b)) = (into.max_ops.as_mut(), other.max_ops) {
        *a += b;
    }
    for (a, b) in into.stages.iter_mut().zip(&other.stages) {
        a.target += b.target;
    }
    into.shard = None;
}

fn merge_workload(mut a: WorkloadRecord, b: WorkloadRecord, offset_ms: u64) -> WorkloadRecord {
    a.measured_ns = a.measured_ns.max(b.measured_ns);
    a.ops += b.ops;
    a.errors += b.errors;
    a.offered_rate = match (a.offered_rate, b.offered_rate) {
        (Some(x), Some(y)) => Some(x + y),
        (x, y) => x.or(y),
    };
    a.late += b.late;
    a.dropped += b.dropped;
    a.abandoned += b.abandoned;
    a.warmup_ops += b.warmup_ops;
    a.service.merge(&b.service);
    let _ = a.schedule_lag.add(&b.schedule_lag);
    let mut series = b.series;
    let width_ms = (series.interval_ns() / 1_000_000).max(1);
    series.delay((offset_ms / width_ms) as usize);
    a.series.merge(&series);
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::op::{OpKind, Outcome};
    use crate::record::{LoadConfig, Machine, RecordKind, RECORD_SCHEMA_VERSION};
    use crate::target::Family;

    fn shard(run_id: &str, started_unix_ms: u64, reads: u64, clients: u32) -> RunRecord {
        let mut s = ScenarioRecord::new(
            "ycsb",
            "y.toml",
            "00",
            RecordKind::Throughput,
            String::new(),
            LoadConfig {
                clients,
                ..LoadConfig::default()
            },
        );
        s.status = ScenarioStatus::Ran {
            aborted: None,
            teardown_error: None,
        };
        for i in 0..reads {
            s.latency.record(OpKind::Read, Outcome::Ok, 1_000 + i * 7);
        }
        s.latency.record(OpKind::Write, Outcome::Fail, 9_000);
        s.ops = reads + 1;
        s.error_classes.insert("aborted".into(), 1);
        RunRecord {
            schema_version: RECORD_SCHEMA_VERSION,
            run_id: run_id.into(),
            assay_version: "0".into(),
            seed: 1,
            started_at: format!("t{started_unix_ms}"),
            finished_at: format!("t{}", started_unix_ms + 10),
            started_unix_ms,
            machine: Machine::current(),
            interrupted: None,
            targets: vec![TargetRecord {
                name: "postgres".into(),
                family: Family::Postgres,
                endpoint: None,
                stand_in: None,
                backend_version: None,
                start_error: None,
                scenarios: vec![s],
            }],
            timeline: vec![],
        }
    }

    #[test]
    fn shards_merge_into_exactly_the_sum_of_their_histograms_and_load() {
        let a = shard("r", 1_000, 300, 4);
        let b = shard("r", 1_200, 500, 4);
        let m = RunRecord::merge(vec![b.clone(), a.clone()]).unwrap();
        assert_eq!(m.run_id, "r", "shards of one run keep its id");
        let s = &m.targets[0].scenarios[0];
        assert_eq!(s.ops, 802);
        assert_eq!(s.load.clients, 8);
        assert_eq!(s.error_classes["aborted"], 2);
        let count = |r: &RunRecord, o| {
            r.targets[0].scenarios[0]
                .latency
                .count(Some(OpKind::Read), &[o])
        };
        assert_eq!(
            count(&m, Outcome::Ok),
            count(&a, Outcome::Ok) + count(&b, Outcome::Ok)
        );
        assert_eq!(s.latency.count(None, &Outcome::ALL), 802);
        // Adding histograms is exact: every bucket count is the sum of the shards'.
        let mut sum = a.targets[0].scenarios[0].latency.clone();
        sum.merge(&b.targets[0].scenarios[0].latency);
        for ((k1, o1, h1), (k2, o2, h2)) in s.latency.iter().zip(sum.iter()) {
            assert_eq!((k1, o1), (k2, o2));
            assert_eq!(h1, h2);
        }
        assert_eq!(m.started_unix_ms, 1_000);
        let other = RunRecord::merge(vec![shard("x", 0, 1, 1), shard("y", 5, 1, 1)]).unwrap();
        assert_eq!(other.run_id, "merged-x+y");
        assert!(RunRecord::merge(vec![]).is_err());
    }
}
