//! The history format: one JSON line per event, an `invoke` when a client issues an op
//! and a `complete` when it ends. Checkers read nothing else.
//!
//! Times are nanoseconds since the run's start on a monotonic clock. `intended_start_ns`
//! is when the schedule wanted the op to start (equal to `start_ns` in a closed loop);
//! latency measured from it is free of coordinated omission.

use crate::op::{ErrorClass, Op, OpMeta, OpValue, Outcome};
use serde::{Deserialize, Serialize};

/// Version of the history line format; bumped on incompatible change.
pub const HISTORY_FORMAT_VERSION: u32 = 1;

/// The step of the reads a consistency workload makes after it quiesced: against them a
/// missing acknowledged write is lost, not merely not yet visible.
pub const FINAL_READ_STEP: &str = "final-read";

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum HistoryEvent {
    Invoke {
        /// Unique per run; pairs the invoke with its completion.
        op_id: u64,
        client: u32,
        /// The scenario step (or `workload`) this op belongs to.
        step: String,
        op: Op,
        intended_start_ns: u64,
        start_ns: u64,
    },
    Complete {
        op_id: u64,
        client: u32,
        outcome: Outcome,
        #[serde(default)]
        value: OpValue,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error_class: Option<ErrorClass>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        error: Option<String>,
        #[serde(default)]
        meta: OpMeta,
        end_ns: u64,
    },
}

/// A history line in a run's `history.jsonl`, which holds every target and scenario of
/// the run: the event plus where it came from. Readers that want only the event can
/// parse the line as a `HistoryEvent` (extra fields are ignored).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HistoryLine {
    pub target: String,
    pub scenario: String,
    #[serde(flatten)]
    pub event: HistoryEvent,
}

impl HistoryEvent {
    pub fn op_id(&self) -> u64 {
        match self {
            HistoryEvent::Invoke { op_id, .. } | HistoryEvent::Complete { op_id, .. } => *op_id,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_complete_line_names_its_outcome_and_error_class() {
        let ev = HistoryEvent::Complete {
            op_id: 7,
            client: 2,
            outcome: Outcome::Indeterminate,
            value: OpValue::None,
            error_class: Some(ErrorClass::Timeout),
            error: Some("no answer in 5s".into()),
            meta: OpMeta::default(),
            end_ns: 1_000,
        };
        let line = serde_json::to_string(&ev).unwrap();
        assert!(
            line.starts_with(
                r#"{"type":"complete","op_id":7,"client":2,"outcome":"indeterminate""#
            ),
            "{line}"
        );
        assert!(line.contains(r#""error_class":"timeout""#), "{line}");
        assert_eq!(serde_json::from_str::<HistoryEvent>(&line).unwrap(), ev);
    }

    #[test]
    fn a_tagged_line_still_parses_as_a_plain_event() {
        let ev = HistoryEvent::Invoke {
            op_id: 1,
            client: 0,
            step: "insert".into(),
            op: Op::Delete {
                table: "kv".into(),
                key: "k1".into(),
            },
            intended_start_ns: 10,
            start_ns: 12,
        };
        let line = serde_json::to_string(&HistoryLine {
            target: "postgres".into(),
            scenario: "smoke".into(),
            event: ev.clone(),
        })
        .unwrap();
        assert_eq!(serde_json::from_str::<HistoryEvent>(&line).unwrap(), ev);
        let back: HistoryLine = serde_json::from_str(&line).unwrap();
        assert_eq!(back.target, "postgres");
    }
}
