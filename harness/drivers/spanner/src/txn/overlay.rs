//! A read-write transaction's overlay: what the ops so far have read or written per
//! `(table, key)`, applied in order on top of the rows read, then turned into mutations.

use super::{BodyError, Mode, Step};
use crate::layout::{self, RowState, COLUMNS};
use crate::options::{query_options, read_options};
use assay_core::{ErrorClass, Op, OpResult, OpValue, Record};
use gcloud_gax::grpc::Status;
use gcloud_googleapis::spanner::v1::Mutation;
use gcloud_spanner::statement::Statement;
use gcloud_spanner::transaction::Transaction;
use gcloud_spanner::transaction_rw::ReadWriteTransaction;
use std::collections::BTreeMap;

/// What the transaction has read or written so far, per `(table, key)`.
#[derive(Default)]
pub(super) struct Overlay {
    slots: BTreeMap<(String, String), Slot>,
}

struct Slot {
    /// The row as the ops so far leave it; `None` is absent.
    current: Option<RowState>,
    dirty: bool,
    blind_insert: bool,
}

impl Overlay {
    async fn get(
        &mut self,
        tx: &mut ReadWriteTransaction,
        table: &str,
        key: &str,
    ) -> Result<Option<RowState>, ReadFailure> {
        let id = (table.to_string(), key.to_string());
        if let Some(slot) = self.slots.get(&id) {
            return Ok(slot.current.clone());
        }
        let row = tx
            .read_row_with_option(table, &COLUMNS, layout::key(key), read_options())
            .await
            .map_err(ReadFailure::Grpc)?;
        let current = match row {
            None => None,
            Some(row) => Some(layout::decode(&row).map_err(ReadFailure::Decode)?.1),
        };
        self.slots.insert(
            id,
            Slot {
                current: current.clone(),
                dirty: false,
                blind_insert: false,
            },
        );
        Ok(current)
    }

    pub(super) fn put(&mut self, table: &str, key: &str, state: Option<RowState>) {
        let slot = self
            .slots
            .entry((table.to_string(), key.to_string()))
            .or_insert(Slot {
                current: None,
                dirty: false,
                blind_insert: false,
            });
        slot.current = state;
        slot.dirty = true;
    }

    pub(super) fn put_blind_insert(&mut self, table: &str, key: &str, state: RowState) {
        self.slots.insert(
            (table.to_string(), key.to_string()),
            Slot {
                current: Some(state),
                dirty: true,
                blind_insert: true,
            },
        );
    }

    /// Rows the transaction deleted whose key starts with `prefix`.
    pub(super) fn deleted_with_prefix(&self, table: &str, prefix: &str) -> usize {
        self.with_prefix(table, prefix)
            .filter(|(_, slot)| slot.current.is_none())
            .count()
    }

    fn with_prefix<'s>(
        &'s self,
        table: &'s str,
        prefix: &'s str,
    ) -> impl Iterator<Item = (&'s str, &'s Slot)> + 's {
        self.slots
            .iter()
            .filter(move |((t, k), _)| t == table && k.starts_with(prefix))
            .map(|((_, k), slot)| (k.as_str(), slot))
    }

    pub(super) fn into_mutations(self) -> Vec<Mutation> {
        self.slots
            .into_iter()
            .filter(|(_, slot)| slot.dirty)
            .map(
                |((table, key), slot)| match (&slot.current, slot.blind_insert) {
                    (None, _) => layout::delete(&table, &key),
                    (Some(state), true) => layout::insert(&table, &key, state),
                    (Some(state), false) => layout::upsert(&table, &key, state),
                },
            )
            .collect()
    }
}

pub(super) enum ReadFailure {
    Grpc(Status),
    Decode(String),
}

impl From<Status> for ReadFailure {
    fn from(s: Status) -> Self {
        ReadFailure::Grpc(s)
    }
}

/// Runs the steps on the overlay, in order.
pub(super) async fn apply_steps(
    tx: &mut ReadWriteTransaction,
    overlay: &mut Overlay,
    steps: &[Step],
    mode: Mode,
) -> Result<Vec<OpResult>, BodyError> {
    let mut results = Vec::with_capacity(steps.len());
    for (index, step) in steps.iter().enumerate() {
        let result = match step {
            Step::Rejected(r) => r.clone(),
            Step::Run {
                op,
                table,
                blind_insert,
            } => match apply_one(tx, overlay, op, table, *blind_insert).await {
                Ok(value) => OpResult::ok(value),
                Err(OpFailure::Grpc(s)) => return Err(BodyError::Grpc(s)),
                Err(OpFailure::Op(class, message)) => {
                    if mode.atomic() {
                        return Err(BodyError::Op {
                            index,
                            class,
                            message,
                        });
                    }
                    OpResult::error(class, message)
                }
            },
        };
        results.push(result);
    }
    Ok(results)
}

enum OpFailure {
    Grpc(Status),
    Op(ErrorClass, String),
}

impl From<ReadFailure> for OpFailure {
    fn from(f: ReadFailure) -> Self {
        match f {
            ReadFailure::Grpc(s) => OpFailure::Grpc(s),
            ReadFailure::Decode(m) => OpFailure::Op(ErrorClass::Other, m),
        }
    }
}

fn bumped(version: i64, table: &str, key: &str) -> Result<i64, OpFailure> {
    version.checked_add(1).ok_or_else(|| {
        OpFailure::Op(
            ErrorClass::InvalidRequest,
            format!("version of `{key}` in `{table}` is at INT64 max and cannot be bumped"),
        )
    })
}

async fn apply_one(
    tx: &mut ReadWriteTransaction,
    overlay: &mut Overlay,
    op: &Op,
    table: &str,
    blind_insert: bool,
) -> Result<OpValue, OpFailure> {
    match op {
        Op::Read { key, .. } => {
            // Reads in a read-write transaction are strong whatever the consistency.
            let row = overlay.get(tx, table, key).await?;
            let record = row
                .map(|s| s.to_record(key))
                .transpose()
                .map_err(|m| OpFailure::Op(ErrorClass::Other, m))?;
            Ok(OpValue::Record(record))
        }
        Op::Write { key, value, .. } => {
            let cur = overlay.get(tx, table, key).await?.unwrap_or_default();
            let ver = bumped(cur.version_or_zero(), table, key)?;
            overlay.put(
                table,
                key,
                Some(RowState {
                    v: Some(value.clone()),
                    ver: Some(ver),
                    ..cur
                }),
            );
            Ok(OpValue::None)
        }
        Op::InsertIfAbsent { key, value, .. } => {
            let fresh = RowState {
                v: Some(value.clone()),
                ver: Some(1),
                ..RowState::default()
            };
            if blind_insert {
                overlay.put_blind_insert(table, key, fresh);
                return Ok(OpValue::None);
            }
            if overlay.get(tx, table, key).await?.is_some() {
                return Err(OpFailure::Op(
                    ErrorClass::ConditionFailed,
                    format!("insert_if_absent: key `{key}` already exists in `{table}`"),
                ));
            }
            overlay.put(table, key, Some(fresh));
            Ok(OpValue::None)
        }
        Op::CompareAndSet {
            key,
            expected_version,
            value,
            ..
        } => {
            let cur = overlay.get(tx, table, key).await?;
            let holds = match (expected_version, &cur) {
                (None, None) => true,
                (Some(expected), Some(row)) => {
                    i64::try_from(*expected).is_ok_and(|e| e == row.version_or_zero())
                }
                _ => false,
            };
            if !holds {
                let found = match &cur {
                    None => "the row is absent".to_string(),
                    Some(row) => format!("the stored version is {}", row.version_or_zero()),
                };
                let wanted = match expected_version {
                    None => "absent".to_string(),
                    Some(v) => format!("version {v}"),
                };
                return Err(OpFailure::Op(
                    ErrorClass::ConditionFailed,
                    format!(
                        "compare_and_set on `{key}` in `{table}` expected {wanted} but {found}"
                    ),
                ));
            }
            let cur = cur.unwrap_or_default();
            let ver = bumped(cur.version_or_zero(), table, key)?;
            overlay.put(
                table,
                key,
                Some(RowState {
                    v: Some(value.clone()),
                    ver: Some(ver),
                    ..cur
                }),
            );
            Ok(OpValue::None)
        }
        Op::Delete { key, .. } => {
            // Deleting an absent key is fine, so no read is needed.
            overlay.put(table, key, None);
            Ok(OpValue::None)
        }
        Op::Increment { key, by, .. } => {
            let cur = overlay.get(tx, table, key).await?.unwrap_or_default();
            let n = cur.n.unwrap_or(0).checked_add(*by).ok_or_else(|| {
                OpFailure::Op(
                    ErrorClass::InvalidRequest,
                    format!("increment of `{key}` in `{table}` by {by} overflows INT64"),
                )
            })?;
            overlay.put(table, key, Some(RowState { n: Some(n), ..cur }));
            Ok(OpValue::Counter(n))
        }
        Op::Append { key, element, .. } => {
            let mut cur = overlay.get(tx, table, key).await?.unwrap_or_default();
            cur.l.get_or_insert_with(Vec::new).push(*element);
            overlay.put(table, key, Some(cur));
            Ok(OpValue::None)
        }
        Op::Query { prefix, limit, .. } => {
            let limit = limit.map(i64::from);
            // The SQL does not see this transaction's own writes: fetch enough rows to
            // make up for the ones it deleted, then apply the overlay.
            let extra = overlay.deleted_with_prefix(table, prefix) as i64;
            let fetched = prefix_rows(tx, table, prefix, limit.map(|l| l + extra)).await?;
            let mut merged: BTreeMap<String, RowState> = fetched.into_iter().collect();
            for (key, slot) in overlay.with_prefix(table, prefix) {
                match &slot.current {
                    Some(state) => merged.insert(key.to_string(), state.clone()),
                    None => merged.remove(key),
                };
            }
            let take = limit.map_or(usize::MAX, |l| usize::try_from(l).unwrap_or(usize::MAX));
            let records = to_records(merged.into_iter().take(take).collect())
                .map_err(|m| OpFailure::Op(ErrorClass::Other, m))?;
            Ok(OpValue::Records(records))
        }
        Op::Batch { .. } | Op::Txn { .. } => Err(OpFailure::Op(
            ErrorClass::Unsupported,
            "nested batch/txn is not supported on spanner; flatten it".to_string(),
        )),
    }
}

/// The prefix scan, in key order, in whatever transaction `tx` is.
pub(super) async fn prefix_rows(
    tx: &mut Transaction,
    table: &str,
    prefix: &str,
    limit: Option<i64>,
) -> Result<Vec<(String, RowState)>, ReadFailure> {
    let mut stmt = Statement::new(layout::prefix_query_sql(table, limit.is_some()));
    stmt.add_param("p", &prefix.to_string());
    if let Some(n) = limit {
        stmt.add_param("n", &n);
    }
    let mut rows = tx.query_with_option(stmt, query_options()).await?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().await? {
        out.push(layout::decode(&row).map_err(ReadFailure::Decode)?);
    }
    Ok(out)
}

pub(super) fn to_records(rows: Vec<(String, RowState)>) -> Result<Vec<Record>, String> {
    rows.iter().map(|(k, s)| s.to_record(k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlay_turns_into_the_right_mutations() {
        let mut o = Overlay::default();
        o.put("t", "gone", None);
        o.put_blind_insert("t", "new", RowState::default());
        o.put("t", "set", Some(RowState::default()));
        o.slots.insert(
            ("t".into(), "read_only".into()),
            Slot {
                current: Some(RowState::default()),
                dirty: false,
                blind_insert: false,
            },
        );
        use gcloud_googleapis::spanner::v1::mutation::Operation;
        let kinds: Vec<&str> = o
            .into_mutations()
            .iter()
            .map(|m| match &m.operation {
                Some(Operation::Delete(_)) => "delete",
                Some(Operation::Insert(_)) => "insert",
                Some(Operation::InsertOrUpdate(_)) => "insert_or_update",
                _ => "other",
            })
            .collect();
        // In key order; the slot that was only read sends nothing.
        assert_eq!(kinds, vec!["delete", "insert", "insert_or_update"]);
    }

    #[test]
    fn a_deleted_key_is_counted_for_the_query_limit() {
        let mut o = Overlay::default();
        o.put("t", "a1", None);
        o.put("t", "a2", Some(RowState::default()));
        o.put("t", "b1", None);
        o.put("u", "a3", None);
        assert_eq!(o.deleted_with_prefix("t", "a"), 1);
    }
}
