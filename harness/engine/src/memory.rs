//! An in-process driver with the exact semantics of the portable op model and no I/O:
//! the reference against which the engine and the checkers are tested, and the way to
//! measure the engine itself.

use assay_core::scenario::TableSpec;
use assay_core::{
    Capabilities, Capability, Driver, DriverError, ErrorClass, Op, OpResult, OpValue, Record,
};
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

#[derive(Clone, Debug, Default)]
struct Row {
    value: Option<String>,
    version: u64,
    counter: i64,
    list: Vec<i64>,
}

#[derive(Default)]
pub struct MemoryDriver {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    tables: BTreeSet<String>,
    rows: BTreeMap<(String, String), Row>,
}

impl MemoryDriver {
    pub fn new() -> Self {
        Self::default()
    }

    /// Tables that exist now (after setup, before teardown).
    pub fn tables(&self) -> Vec<String> {
        self.lock().tables.iter().cloned().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn record(key: &str, row: &Row) -> Record {
    Record {
        key: key.to_string(),
        value: row.value.clone(),
        version: Some(row.version),
        counter: Some(row.counter),
        list: Some(row.list.clone()),
    }
}

impl State {
    fn apply(&mut self, op: &Op) -> OpResult {
        let table_missing = |t: &str| {
            OpResult::error(
                ErrorClass::InvalidRequest,
                format!("table `{t}` does not exist"),
            )
        };
        match op {
            Op::Batch { ops } => OpResult::ok(OpValue::Results(
                ops.iter().map(|o| self.apply(o)).collect(),
            )),
            Op::Txn { ops } => {
                let before = self.rows.clone();
                let mut results = Vec::with_capacity(ops.len());
                for o in ops {
                    let r = self.apply(o);
                    if r.outcome != assay_core::Outcome::Ok {
                        self.rows = before;
                        return r;
                    }
                    results.push(r);
                }
                OpResult::ok(OpValue::Results(results))
            }
            Op::Read { table, key, .. }
            | Op::Write { table, key, .. }
            | Op::InsertIfAbsent { table, key, .. }
            | Op::CompareAndSet { table, key, .. }
            | Op::Delete { table, key }
            | Op::Increment { table, key, .. }
            | Op::Append { table, key, .. } => {
                if !self.tables.contains(table) {
                    return table_missing(table);
                }
                let id = (table.clone(), key.clone());
                match op {
                    Op::Read { .. } => {
                        OpResult::ok(OpValue::Record(self.rows.get(&id).map(|r| record(key, r))))
                    }
                    Op::Write { value, .. } => {
                        let row = self.rows.entry(id).or_default();
                        row.value = Some(value.clone());
                        row.version += 1;
                        OpResult::ok(OpValue::None)
                    }
                    Op::InsertIfAbsent { value, .. } => {
                        if self.rows.contains_key(&id) {
                            return OpResult::error(ErrorClass::ConditionFailed, "key exists");
                        }
                        self.rows.insert(
                            id,
                            Row {
                                value: Some(value.clone()),
                                version: 1,
                                ..Row::default()
                            },
                        );
                        OpResult::ok(OpValue::None)
                    }
                    Op::CompareAndSet {
                        expected_version,
                        value,
                        ..
                    } => {
                        let current = self.rows.get(&id).map(|r| r.version);
                        if current != *expected_version {
                            return OpResult::error(
                                ErrorClass::ConditionFailed,
                                format!("version is {current:?}, expected {expected_version:?}"),
                            );
                        }
                        let row = self.rows.entry(id).or_default();
                        row.value = Some(value.clone());
                        row.version += 1;
                        OpResult::ok(OpValue::None)
                    }
                    Op::Delete { .. } => {
                        self.rows.remove(&id);
                        OpResult::ok(OpValue::None)
                    }
                    Op::Increment { by, .. } => {
                        let row = self.rows.entry(id).or_default();
                        row.counter += by;
                        OpResult::ok(OpValue::Counter(row.counter))
                    }
                    Op::Append { element, .. } => {
                        self.rows.entry(id).or_default().list.push(*element);
                        OpResult::ok(OpValue::None)
                    }
                    _ => unreachable_single_key(),
                }
            }
            Op::Query {
                table,
                prefix,
                limit,
            } => {
                if !self.tables.contains(table) {
                    return table_missing(table);
                }
                let rows = self
                    .rows
                    .range((table.clone(), prefix.clone())..)
                    .take_while(|((t, k), _)| t == table && k.starts_with(prefix.as_str()))
                    .take(limit.map_or(usize::MAX, |l| l as usize))
                    .map(|((_, k), r)| record(k, r))
                    .collect();
                OpResult::ok(OpValue::Records(rows))
            }
        }
    }
}

/// The outer match already selected single-key ops; this arm cannot be reached.
fn unreachable_single_key() -> OpResult {
    OpResult::error(ErrorClass::Other, "internal: op routed to the wrong arm")
}

#[async_trait]
impl Driver for MemoryDriver {
    fn family(&self) -> &'static str {
        "memory"
    }

    fn capabilities(&self) -> Capabilities {
        Capabilities::none("").support(&Capability::ALL)
    }

    async fn setup(&self, tables: &[TableSpec]) -> Result<(), DriverError> {
        let mut st = self.lock();
        for t in tables {
            st.tables.insert(t.name.clone());
        }
        Ok(())
    }

    async fn execute(&self, op: &Op) -> OpResult {
        self.lock().apply(op)
    }

    async fn teardown(&self) -> Result<(), DriverError> {
        let mut st = self.lock();
        st.tables.clear();
        st.rows.clear();
        Ok(())
    }
}
