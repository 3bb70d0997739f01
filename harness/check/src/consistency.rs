//! The entry point for consistency checking: runs the checkers a model needs over one
//! history and assembles the verdict (`assay check --model …` and scenario `[checks]`).
//!
//! What runs follows from the model's row in `models::MODELS`: every model gets the
//! transactional (Elle-style) analysis, the lost/phantom write checks against final
//! reads and the staleness figures; models that order transactions by client or by real
//! time add those edges; models that forbid `nonlinearizable` check single-key register
//! ops per key in real time, and models that forbid `nonserializable` check them in any
//! order; `session` adds the per-client session guarantees. Anomalies the model allows
//! are counted and named in `allowed`, but do not fail the verdict; a search that runs
//! out of budget leaves the verdict unknown (`inconclusive`), never valid.

use crate::elle;
use crate::evidence::Findings;
use crate::history_view::{KeyKind, View};
use crate::index::{ListIndex, RegisterIndex};
use crate::linearizable;
use crate::lost_writes::{self, FinalReads};
use crate::model::{names, ConsistencyVerdict, Model};
use crate::session;
use crate::staleness;
use assay_core::HistoryEvent;

/// Model plus the search budgets (defaults suit 100k-op histories on one core).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckOptions {
    pub model: Model,
    /// Linearizability search steps per key before that key is inconclusive.
    pub linearizability_steps_per_key: u64,
    /// Edge visits for the dependency-cycle search before it is inconclusive.
    pub cycle_search_work: u64,
    /// Which reads count as final for lost writes.
    pub final_reads: FinalReads,
}

impl CheckOptions {
    pub fn new(model: Model) -> CheckOptions {
        CheckOptions {
            model,
            linearizability_steps_per_key: linearizable::DEFAULT_STEP_BUDGET,
            cycle_search_work: elle::DEFAULT_CYCLE_WORK,
            final_reads: FinalReads::Marked,
        }
    }
}

/// Checks `events` (one target's history; see `input::parse_history_text`) against
/// `model` with the default budgets.
pub fn check_history(events: &[HistoryEvent], model: Model) -> ConsistencyVerdict {
    check_history_with(events, &CheckOptions::new(model))
}

pub fn check_history_with(events: &[HistoryEvent], opts: &CheckOptions) -> ConsistencyVerdict {
    let model = opts.model;
    let view = View::new(events);
    let mut findings = Findings::default();
    findings.skipped.extend(view.notes.iter().cloned());
    let lists = ListIndex::build(&view);
    let regs = RegisterIndex::build(&view);

    let realtime_registers = model.forbids_anomaly(names::NONLINEARIZABLE);
    if realtime_registers || model.forbids_anomaly(names::NONSERIALIZABLE) {
        linearizable::check(
            &view,
            &mut findings,
            opts.linearizability_steps_per_key,
            realtime_registers,
        );
    } else {
        let lone: usize = view
            .accesses
            .iter()
            .filter(|a| {
                view.key_kind[a.key as usize] == KeyKind::Register
                    && !view.key_in_txn[a.key as usize]
            })
            .count();
        if lone > 0 {
            findings.skipped.push(format!(
                "order of {lone} single-key register op(s) outside transactions: checked by serializable and stronger models (lost and phantom writes are checked here)"
            ));
        }
    }
    elle::check(
        &view,
        &lists,
        &regs,
        model,
        &mut findings,
        opts.cycle_search_work,
    );
    lost_writes::check(&view, &lists, &regs, opts.final_reads, &mut findings);
    if model == Model::Session {
        session::check(&view, &lists, &regs, &mut findings);
    }
    let staleness = staleness::compute(&view, &lists).summary;
    if findings.checked.is_empty() && findings.counts.is_empty() {
        findings.inconclusive.push(format!(
            "nothing in this history could be checked under {model} (see skipped); a verdict needs completed reads and writes of register or list keys"
        ));
    }

    let Findings {
        anomalies,
        counts,
        checked,
        skipped,
        inconclusive,
    } = findings;
    let allowed: Vec<&'static str> = counts
        .keys()
        .copied()
        .filter(|n| !model.forbids_anomaly(n))
        .collect();
    let anomalies: Vec<_> = anomalies
        .into_iter()
        .filter(|a| model.forbids_anomaly(a.name))
        .collect();
    let valid = counts.keys().all(|n| !model.forbids_anomaly(n)) && inconclusive.is_empty();
    ConsistencyVerdict {
        model,
        valid,
        anomalies,
        counts,
        allowed,
        checked,
        skipped,
        inconclusive,
        staleness,
    }
}
