//! Step expectations: every op of a step must end with the step's `expect`ed outcome
//! (and, for reads, value / presence). Also counts errors per op kind for thresholds.

use assay_core::scenario::Step;
use assay_core::{HistoryEvent, Op, OpKind, OpValue, Outcome, Scenario};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};

/// At most this many mismatches are kept as evidence per step; all are counted.
const MAX_EXAMPLES: usize = 5;

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Mismatch {
    pub op_id: u64,
    pub key: String,
    pub expected: String,
    pub observed: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepVerdict {
    pub step: String,
    pub op: OpKind,
    /// Ops the step was to run (one per key).
    pub planned: u64,
    pub completed: u64,
    pub outcomes: BTreeMap<Outcome, u64>,
    pub mismatches: u64,
    pub examples: Vec<Mismatch>,
    pub passed: bool,
    /// The documented behaviour the step checks, when the scenario cites one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub documented: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cite: Option<String>,
}

/// Ops and errors per op kind. An error is an outcome other than `ok` that the step did
/// not expect (every non-`ok` outcome, for workload ops).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct OpCounts {
    pub ops: u64,
    pub errors: u64,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Expectations {
    pub steps: Vec<StepVerdict>,
    pub by_op: BTreeMap<OpKind, OpCounts>,
}

impl Expectations {
    pub fn passed(&self) -> bool {
        self.steps.iter().all(|s| s.passed)
    }
    pub fn total(&self) -> OpCounts {
        self.by_op
            .values()
            .fold(OpCounts::default(), |a, c| OpCounts {
                ops: a.ops + c.ops,
                errors: a.errors + c.errors,
            })
    }
}

/// The key an op names, for evidence (a query's prefix).
fn op_key(op: &Op) -> String {
    match op {
        Op::Query { prefix, .. } => prefix.clone(),
        other => other.key().unwrap_or_default().to_string(),
    }
}

/// The key's index in the step's key range (the `{i}` of templates).
fn key_index(step: &Step, key: &str) -> Option<u64> {
    if step.keys.literal {
        return Some(0);
    }
    key.strip_prefix(step.keys.prefix.as_str())?
        .parse::<u64>()
        .ok()?
        .checked_sub(step.keys.start)
}

fn observe(outcome: Outcome, value: &OpValue, error: Option<&str>) -> String {
    match (outcome, value) {
        (Outcome::Ok, OpValue::Record(None)) => "ok, absent".into(),
        (Outcome::Ok, OpValue::Record(Some(r))) => {
            format!("ok, value {:?}", r.value.as_deref().unwrap_or(""))
        }
        (Outcome::Ok, _) => "ok".into(),
        (o, _) => match error {
            Some(e) => format!("{o}: {e}"),
            None => o.to_string(),
        },
    }
}

pub fn check_expectations(scenario: &Scenario, history: &[HistoryEvent]) -> Expectations {
    let mut invokes: HashMap<u64, (&str, &Op)> = HashMap::new();
    for e in history {
        if let HistoryEvent::Invoke {
            op_id, step, op, ..
        } = e
        {
            invokes.insert(*op_id, (step.as_str(), op));
        }
    }
    let steps_by_name: HashMap<&str, usize> = scenario
        .steps
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.as_str(), i))
        .collect();
    let mut verdicts: Vec<StepVerdict> = scenario
        .steps
        .iter()
        .map(|s| StepVerdict {
            step: s.name.clone(),
            op: s.op,
            planned: s.keys.count,
            completed: 0,
            outcomes: BTreeMap::new(),
            mismatches: 0,
            examples: Vec::new(),
            passed: true,
            documented: s.documented.clone(),
            cite: s.cite.clone(),
        })
        .collect();
    let mut by_op: BTreeMap<OpKind, OpCounts> = BTreeMap::new();

    for e in history {
        let HistoryEvent::Complete {
            op_id,
            outcome,
            value,
            error,
            ..
        } = e
        else {
            continue;
        };
        let Some((step_name, op)) = invokes.get(op_id) else {
            continue;
        };
        let counts = by_op.entry(op.kind()).or_default();
        counts.ops += 1;
        let Some(&si) = steps_by_name.get(step_name) else {
            // Workload ops: any outcome other than ok is an error.
            if *outcome != Outcome::Ok {
                counts.errors += 1;
            }
            continue;
        };
        let step = &scenario.steps[si];
        let v = &mut verdicts[si];
        v.completed += 1;
        *v.outcomes.entry(*outcome).or_default() += 1;
        if *outcome != Outcome::Ok && *outcome != step.expect.outcome {
            counts.errors += 1;
        }
        let key = op_key(op);
        let mut wrong: Option<String> = None;
        if *outcome != step.expect.outcome {
            wrong = Some(format!("outcome {}", step.expect.outcome));
        } else if let OpValue::Record(found) = value {
            if let Some(want_found) = step.expect.found {
                if found.is_some() != want_found {
                    wrong = Some(if want_found {
                        "present".into()
                    } else {
                        "absent".into()
                    });
                }
            }
            if wrong.is_none() {
                let want_value = key_index(step, &key).and_then(|i| step.expected_value(i));
                if let Some(want) = want_value {
                    let got = found.as_ref().and_then(|r| r.value.as_deref());
                    if got != Some(want.as_str()) {
                        wrong = Some(format!("value {want:?}"));
                    }
                }
            }
        }
        if let Some(expected) = wrong {
            v.mismatches += 1;
            v.passed = false;
            if v.examples.len() < MAX_EXAMPLES {
                v.examples.push(Mismatch {
                    op_id: *op_id,
                    key,
                    expected,
                    observed: observe(*outcome, value, error.as_deref()),
                });
            }
        }
    }
    for v in &mut verdicts {
        if v.completed < v.planned {
            v.passed = false;
        }
    }
    Expectations {
        steps: verdicts,
        by_op,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::{ErrorClass, OpMeta, Record};

    const SRC: &str = r#"
format = 1
name = "t"
kind = "conformance"
[[setup.tables]]
name = "kv"
[[steps]]
name = "read"
op = "read"
keys = { prefix = "k", start = 10, count = 2 }
expect = { outcome = "ok", value = "v{i}" }
[[steps]]
name = "dup"
op = "insert_if_absent"
key = "k10"
value = "x"
expect = { outcome = "fail" }
"#;

    fn invoke(op_id: u64, step: &str, op: Op) -> HistoryEvent {
        HistoryEvent::Invoke {
            op_id,
            client: 0,
            step: step.into(),
            op,
            intended_start_ns: 0,
            start_ns: 0,
        }
    }

    fn complete(
        op_id: u64,
        outcome: Outcome,
        value: OpValue,
        error: Option<ErrorClass>,
    ) -> HistoryEvent {
        HistoryEvent::Complete {
            op_id,
            client: 0,
            outcome,
            value,
            error_class: error,
            error: error.map(|c| c.to_string()),
            meta: OpMeta::default(),
            end_ns: 1,
        }
    }

    fn read(key: &str) -> Op {
        Op::Read {
            table: "kv".into(),
            key: key.into(),
            consistency: Default::default(),
        }
    }

    fn rec(key: &str, v: &str) -> OpValue {
        OpValue::Record(Some(Record {
            key: key.into(),
            value: Some(v.into()),
            ..Record::default()
        }))
    }

    #[test]
    fn matching_history_passes_and_expected_fails_are_not_errors() {
        let s = Scenario::parse(SRC, "t.toml").unwrap();
        let dup = Op::InsertIfAbsent {
            table: "kv".into(),
            key: "k10".into(),
            value: "x".into(),
        };
        let h = vec![
            invoke(0, "read", read("k10")),
            complete(0, Outcome::Ok, rec("k10", "v0"), None),
            invoke(1, "read", read("k11")),
            complete(1, Outcome::Ok, rec("k11", "v1"), None),
            invoke(2, "dup", dup),
            complete(
                2,
                Outcome::Fail,
                OpValue::None,
                Some(ErrorClass::ConditionFailed),
            ),
        ];
        let x = check_expectations(&s, &h);
        assert!(x.passed(), "{x:?}");
        assert_eq!(x.total(), OpCounts { ops: 3, errors: 0 });
    }

    #[test]
    fn wrong_value_missing_ops_and_surprise_success_are_evidence() {
        let s = Scenario::parse(SRC, "t.toml").unwrap();
        let dup = Op::InsertIfAbsent {
            table: "kv".into(),
            key: "k10".into(),
            value: "x".into(),
        };
        let h = vec![
            invoke(0, "read", read("k10")),
            complete(0, Outcome::Ok, rec("k10", "stale"), None),
            invoke(2, "dup", dup),
            complete(2, Outcome::Ok, OpValue::None, None),
        ];
        let x = check_expectations(&s, &h);
        assert!(!x.passed());
        let read = &x.steps[0];
        assert_eq!((read.completed, read.mismatches), (1, 1));
        assert_eq!(read.examples[0].expected, "value \"v0\"");
        assert_eq!(read.examples[0].observed, "ok, value \"stale\"");
        let dup = &x.steps[1];
        assert!(!dup.passed);
        assert_eq!(dup.examples[0].expected, "outcome fail");
    }

    #[test]
    fn indeterminate_where_ok_was_expected_is_an_error() {
        let s = Scenario::parse(SRC, "t.toml").unwrap();
        let h = vec![
            invoke(0, "read", read("k10")),
            complete(
                0,
                Outcome::Indeterminate,
                OpValue::None,
                Some(ErrorClass::Timeout),
            ),
        ];
        let x = check_expectations(&s, &h);
        assert_eq!(x.by_op[&OpKind::Read], OpCounts { ops: 1, errors: 1 });
        assert_eq!(x.steps[0].examples[0].observed, "indeterminate: timeout");
    }
}
