//! Assay history events → Jepsen EDN, so Jepsen's checkers can read Assay's runs.

use crate::edn::format::*;
use crate::edn::syntax::{print, Edn};
use assay_core::{HistoryEvent, Op, OpValue, Outcome};
use std::collections::HashMap;
use std::fmt::Write as _;

// ---- history → EDN ----

fn edn_scalar(s: &str) -> Edn {
    match s.parse::<i64>() {
        Ok(i) if i.to_string() == s => Edn::Int(i),
        _ => Edn::Str(s.to_string()),
    }
}

fn kw(s: &str) -> Edn {
    Edn::Keyword(s.to_string())
}

fn read_edn(v: Option<&OpValue>) -> Edn {
    match v {
        Some(OpValue::Record(Some(r))) => match (&r.list, &r.value) {
            (Some(l), _) => Edn::Vector(l.iter().map(|x| Edn::Int(*x)).collect()),
            (None, Some(v)) => edn_scalar(v),
            (None, None) => Edn::Nil,
        },
        _ => Edn::Nil,
    }
}

/// `(:f, :value)` of an op, with read results from `results` when given; `None` when
/// the op has no EDN form.
fn op_edn(op: &Op, step: &str, result: Option<&OpValue>) -> Option<(&'static str, Edn)> {
    let tuple = |key: &str, v: Edn| {
        if key == SINGLE_REGISTER_KEY {
            v
        } else {
            Edn::Vector(vec![edn_scalar(key), v])
        }
    };
    Some(match op {
        Op::Read { key, .. } => ("read", tuple(key, read_edn(result))),
        Op::Write { key, value, .. } => ("write", tuple(key, edn_scalar(value))),
        Op::CompareAndSet {
            key,
            expected_version,
            value,
            ..
        } => match cas_value_expected(step) {
            Some(old) => (
                "cas",
                tuple(
                    key,
                    Edn::Vector(vec![
                        old.as_deref().map_or(Edn::Nil, edn_scalar),
                        edn_scalar(value),
                    ]),
                ),
            ),
            None => {
                let v = expected_version.map_or(Edn::Nil, |v| Edn::Int(v as i64));
                (
                    "cas-version",
                    tuple(key, Edn::Vector(vec![v, edn_scalar(value)])),
                )
            }
        },
        Op::InsertIfAbsent { key, value, .. } => (
            "cas",
            tuple(key, Edn::Vector(vec![Edn::Nil, edn_scalar(value)])),
        ),
        Op::Delete { key, .. } => ("delete", tuple(key, Edn::Nil)),
        Op::Append { key, element, .. } => (
            "append",
            Edn::Vector(vec![edn_scalar(key), Edn::Int(*element)]),
        ),
        Op::Txn { ops } => {
            let results = match result {
                Some(OpValue::Results(r)) if r.len() == ops.len() => Some(r),
                _ => None,
            };
            let mut micro = Vec::with_capacity(ops.len());
            for (i, o) in ops.iter().enumerate() {
                micro.push(Edn::Vector(match o {
                    Op::Append { key, element, .. } => {
                        vec![kw("append"), edn_scalar(key), Edn::Int(*element)]
                    }
                    Op::Read { key, .. } => vec![
                        kw("r"),
                        edn_scalar(key),
                        read_edn(results.map(|r| &r[i].value)),
                    ],
                    Op::Write { key, value, .. } => {
                        vec![kw("w"), edn_scalar(key), edn_scalar(value)]
                    }
                    _ => return None,
                }));
            }
            ("txn", Edn::Vector(micro))
        }
        Op::Increment { .. } | Op::Query { .. } | Op::Batch { .. } => return None,
    })
}

/// Writes an Assay history as EDN, one Jepsen op map per line, with `:time` in ns and
/// `:process` = client. Ops with no EDN form (increment, query, batch, and transactions
/// holding them) are left out with a `;` comment naming them.
pub fn write_history(events: &[HistoryEvent]) -> String {
    let mut out = String::new();
    let mut invokes: HashMap<u64, (&Op, &str)> = HashMap::new();
    let mut index: i64 = 0;
    for e in events {
        let (op_id, client, kind, time, op, step, result, error) = match e {
            HistoryEvent::Invoke {
                op_id,
                client,
                step,
                op,
                start_ns,
                ..
            } => {
                invokes.insert(*op_id, (op, step));
                (
                    *op_id,
                    *client,
                    "invoke",
                    *start_ns,
                    op,
                    step.as_str(),
                    None,
                    None,
                )
            }
            HistoryEvent::Complete {
                op_id,
                client,
                outcome,
                value,
                error,
                end_ns,
                ..
            } => {
                let Some((op, step)) = invokes.get(op_id) else {
                    continue;
                };
                let kind = match outcome {
                    Outcome::Ok => "ok",
                    Outcome::Fail => "fail",
                    Outcome::Indeterminate => "info",
                };
                let result = (*outcome == Outcome::Ok).then_some(value);
                (
                    *op_id,
                    *client,
                    kind,
                    *end_ns,
                    *op,
                    *step,
                    result,
                    error.as_deref(),
                )
            }
        };
        let Some((f, value)) = op_edn(op, step, result) else {
            if kind == "invoke" {
                let _ = writeln!(
                    out,
                    "; op {op_id} ({}) has no EDN form; left out",
                    op.kind()
                );
            }
            continue;
        };
        let mut map = vec![
            (kw("index"), Edn::Int(index)),
            (kw("time"), Edn::Int(time.min(i64::MAX as u64) as i64)),
            (kw("type"), kw(kind)),
            (kw("process"), Edn::Int(client as i64)),
            (kw("f"), kw(f)),
            (kw("value"), value),
        ];
        if let Some(err) = error {
            map.push((kw("error"), Edn::Str(err.to_string())));
        }
        index += 1;
        print(&Edn::Map(map), &mut out);
        out.push('\n');
    }
    out
}
