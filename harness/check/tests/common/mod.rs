//! Builders for hand-written Assay histories in tests.
#![allow(dead_code)]

use assay_core::{HistoryEvent, Op, OpMeta, OpResult, OpValue, Outcome, Record};

/// Ops complete in the order they are added unless invoked and completed separately;
/// each event is 1µs after the previous one.
#[derive(Default)]
pub struct History {
    pub events: Vec<HistoryEvent>,
    t: u64,
    next_id: u64,
}

impl History {
    pub fn new() -> History {
        History::default()
    }

    fn tick(&mut self) -> u64 {
        self.t += 1_000;
        self.t
    }

    pub fn invoke(&mut self, client: u32, op: Op) -> u64 {
        let t = self.tick();
        let op_id = self.next_id;
        self.next_id += 1;
        self.events.push(HistoryEvent::Invoke {
            op_id,
            client,
            step: "workload".into(),
            op,
            intended_start_ns: t,
            start_ns: t,
        });
        op_id
    }

    pub fn complete(&mut self, op_id: u64, client: u32, outcome: Outcome, value: OpValue) {
        let t = self.tick();
        self.events.push(HistoryEvent::Complete {
            op_id,
            client,
            outcome,
            value,
            error_class: None,
            error: None,
            meta: OpMeta::default(),
            end_ns: t,
        });
    }

    /// Invoke and complete ok at once.
    pub fn ok(&mut self, client: u32, op: Op, value: OpValue) -> &mut History {
        let id = self.invoke(client, op);
        self.complete(id, client, Outcome::Ok, value);
        self
    }
}

pub fn read(key: &str) -> Op {
    Op::Read {
        table: "kv".into(),
        key: key.into(),
        consistency: Default::default(),
    }
}

pub fn write(key: &str, value: &str) -> Op {
    Op::Write {
        table: "kv".into(),
        key: key.into(),
        value: value.into(),
    }
}

pub fn append(key: &str, element: i64) -> Op {
    Op::Append {
        table: "kv".into(),
        key: key.into(),
        element,
    }
}

pub fn txn(ops: Vec<Op>) -> Op {
    Op::Txn { ops }
}

pub fn reg(key: &str, value: &str, version: u64) -> OpValue {
    OpValue::Record(Some(Record {
        key: key.into(),
        value: Some(value.into()),
        version: Some(version),
        ..Record::default()
    }))
}

pub fn absent() -> OpValue {
    OpValue::Record(None)
}

pub fn list(key: &str, l: &[i64]) -> OpValue {
    if l.is_empty() {
        return absent();
    }
    OpValue::Record(Some(Record {
        key: key.into(),
        list: Some(l.to_vec()),
        ..Record::default()
    }))
}

pub fn results(values: Vec<OpValue>) -> OpValue {
    OpValue::Results(values.into_iter().map(OpResult::ok).collect())
}

pub fn none() -> OpValue {
    OpValue::None
}
