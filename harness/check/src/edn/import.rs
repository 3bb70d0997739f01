//! EDN op maps → Assay history events: pairs completions with invokes by process,
//! maps each `:f` onto an Assay op under the data model, and keeps nemesis ops apart.

use crate::edn::format::*;
use crate::edn::stream::Forms;
use crate::edn::syntax::{scalar_string, to_text, Edn, EdnError, Reader};
use assay_core::{HistoryEvent, Op, OpMeta, OpResult, OpValue, Outcome, Record};
use std::collections::{BTreeMap, HashMap};

// ---- EDN → history ----

struct Converter {
    /// Line and column of the op map being converted, for errors.
    at: (usize, usize),
    nemesis: Vec<NemesisOp>,
    events: Vec<HistoryEvent>,
    pending: HashMap<i64, Pending>,
    next_op_id: u64,
    last_time: u64,
    /// Ops carry `:index`: their order is the file's (sorted by index), times ignored.
    indexed: bool,
    /// Last process id given to an op without `:process` (each its own process, counting
    /// down from the top of the id range).
    next_anonymous: i64,
    /// Non-integer list elements (keywords, strings) → the integer that stands for them.
    elements: HashMap<String, i64>,
    data: DataModel,
}

/// Interned non-integer elements start here, far from any element a test appends.
const INTERNED_ELEMENT_BASE: i64 = 1 << 62;

struct Pending {
    op_id: u64,
    f: String,
    op: Op,
    /// The op addressed an explicit key (`[k v]` tuples).
    independent: bool,
}

impl Converter {
    fn err(&self, _at: usize, msg: impl Into<String>) -> EdnError {
        EdnError {
            line: self.at.0,
            col: self.at.1,
            message: msg.into(),
        }
    }

    fn key(&self, e: &Edn, at: usize) -> Result<String, EdnError> {
        match e {
            Edn::Int(_) | Edn::Str(_) | Edn::Keyword(_) => Ok(scalar_string(e)),
            other => Err(self.err(
                at,
                format!(
                    "key {} must be an integer, string or keyword",
                    to_text(other)
                ),
            )),
        }
    }

    fn value(&self, e: &Edn, at: usize, what: &str) -> Result<String, EdnError> {
        match e {
            Edn::Nil => Err(self.err(at, format!("{what} value must not be nil"))),
            e if e.is_scalar() => Ok(scalar_string(e)),
            other => Err(self.err(
                at,
                format!("{what} value {} must be a scalar", to_text(other)),
            )),
        }
    }

    /// `[k v]` → (key, v, true); anything else → (the single register, value, false).
    fn split_key<'e>(
        &self,
        value: &'e Edn,
        at: usize,
        pair_is_tuple: impl Fn(&Edn) -> bool,
    ) -> Result<(String, &'e Edn, bool), EdnError> {
        match value.items() {
            Some([k, v]) if pair_is_tuple(v) => Ok((self.key(k, at)?, v, true)),
            _ => Ok((SINGLE_REGISTER_KEY.to_string(), value, false)),
        }
    }

    /// The integer standing for list element `e`: itself if an integer, else interned.
    fn element(&mut self, e: &Edn, at: usize) -> Result<i64, EdnError> {
        match e {
            Edn::Int(i) => Ok(*i),
            Edn::Str(_) | Edn::Keyword(_) => {
                let name = to_text(e);
                let n = self.elements.len() as i64;
                Ok(*self
                    .elements
                    .entry(name)
                    .or_insert(INTERNED_ELEMENT_BASE + n))
            }
            other => Err(self.err(
                at,
                format!(
                    "list element {} must be an integer, keyword or string",
                    to_text(other)
                ),
            )),
        }
    }

    /// A Porcupine key-value op: key from `:key`, or `[k v]`.
    fn kv_op(
        &mut self,
        f: &str,
        value: &Edn,
        key: Option<&Edn>,
        at: usize,
    ) -> Result<(Op, String, bool), EdnError> {
        let table = EDN_TABLE.to_string();
        let (key, v, independent) = match key {
            Some(k) => (self.key(k, at)?, value, false),
            None => self.split_key(value, at, |_| true)?,
        };
        let text = |c: &Self, what: &str| match v {
            Edn::Str(s) => Ok(s.clone()),
            Edn::Nil => Ok(String::new()),
            e if e.is_scalar() => Ok(scalar_string(e)),
            other => Err(c.err(
                at,
                format!(":{what} value {} must be a string", to_text(other)),
            )),
        };
        Ok(match f {
            "get" | "read" | "r" => (
                Op::Read {
                    table,
                    key,
                    consistency: Default::default(),
                },
                KV_STEP.to_string(),
                independent,
            ),
            "put" | "write" | "w" => (
                Op::Write {
                    table,
                    key,
                    value: text(self, f)?,
                },
                KV_STEP.to_string(),
                independent,
            ),
            "append" => (
                Op::Write {
                    table,
                    key,
                    value: text(self, f)?,
                },
                KV_APPEND_STEP.to_string(),
                independent,
            ),
            other => {
                return Err(self.err(
                    at,
                    format!(
                    "unsupported :f :{other} under the key-value model; use :get, :put or :append"
                ),
                ))
            }
        })
    }

    fn invoke_op(
        &mut self,
        f: &str,
        value: &Edn,
        key: Option<&Edn>,
        at: usize,
    ) -> Result<(Op, String, bool), EdnError> {
        let table = EDN_TABLE.to_string();
        let step = IMPORTED_STEP.to_string();
        match (self.data, f) {
            (DataModel::KeyValue, _) | (DataModel::Detect, "get" | "put") => {
                return self.kv_op(f, value, key, at)
            }
            (DataModel::Detect, "append") if key.is_some() || matches!(value, Edn::Str(_)) => {
                return self.kv_op(f, value, key, at)
            }
            (DataModel::CasRegister, "read" | "r" | "write" | "w" | "cas") => {}
            (DataModel::CasRegister, other) => {
                return Err(self.err(at, format!("unsupported :f :{other} under the cas-register model; use :read, :write or :cas")))
            }
            _ => {}
        }
        match f {
            "read" | "r" => {
                let (key, _, ind) = self.split_key(value, at, |_| true)?;
                Ok((Op::Read { table, key, consistency: Default::default() }, step, ind))
            }
            "write" | "w" => {
                let (key, v, ind) = self.split_key(value, at, |_| true)?;
                let value = self.value(v, at, "write")?;
                Ok((Op::Write { table, key, value }, step, ind))
            }
            "cas" => {
                let (key, pair, ind) = self.split_key(value, at, |v| v.items().is_some_and(|i| i.len() == 2))?;
                let Some([old, new]) = pair.items() else {
                    return Err(self.err(at, format!(":cas value {} must be [old new] or [key [old new]]", to_text(value))));
                };
                let value = self.value(new, at, "cas new")?;
                let step = format!("{CAS_VALUE_STEP_PREFIX}{}", to_text(old));
                Ok((Op::CompareAndSet { table, key, expected_version: None, value }, step, ind))
            }
            "cas-version" => {
                let (key, pair, ind) = self.split_key(value, at, |v| v.items().is_some_and(|i| i.len() == 2))?;
                let (expected_version, new) = match pair.items() {
                    Some([Edn::Nil, new]) => (None, new),
                    Some([Edn::Int(v), new]) if *v >= 0 => (Some(*v as u64), new),
                    _ => return Err(self.err(at, format!(":cas-version value {} must be [version new] or [key [version new]]", to_text(value)))),
                };
                let value = self.value(new, at, "cas-version new")?;
                Ok((Op::CompareAndSet { table, key, expected_version, value }, step, ind))
            }
            "delete" => {
                let (key, _, ind) = self.split_key(value, at, |_| true)?;
                Ok((Op::Delete { table, key }, step, ind))
            }
            "append" => match value.items() {
                Some([k, e]) if e.is_scalar() => {
                    let element = self.element(e, at)?;
                    Ok((Op::Append { table, key: self.key(k, at)?, element }, step, true))
                }
                _ => Err(self.err(at, format!(":append value {} must be [key element]", to_text(value)))),
            },
            "txn" => {
                let Some(micro) = value.items() else {
                    return Err(self.err(at, format!(":txn value {} must be a vector of micro-ops like [:append k 1]", to_text(value))));
                };
                let mut ops = Vec::with_capacity(micro.len());
                for m in micro {
                    let parts = m.items().unwrap_or(&[]);
                    let (mf, k, v) = match parts {
                        [mf, k, v] => (mf.keyword().unwrap_or(""), k, v),
                        _ => return Err(self.err(at, format!("micro-op {} must be [f key value]", to_text(m)))),
                    };
                    let key = self.key(k, at)?;
                    let table = table.clone();
                    ops.push(match mf {
                        "append" => Op::Append { table, key, element: self.element(v, at)? },
                        "r" | "read" => Op::Read { table, key, consistency: Default::default() },
                        "w" | "write" => Op::Write { table, key, value: self.value(v, at, "write")? },
                        other => return Err(self.err(at, format!("unsupported micro-op :{other}; use :append, :r or :w"))),
                    });
                }
                Ok((Op::Txn { ops }, step, true))
            }
            other => Err(self.err(
                at,
                format!("unsupported :f :{other}; supported: :read :write :cas :txn :append (and :cas-version :delete)"),
            )),
        }
    }

    fn read_value(&mut self, key: &str, v: &Edn, at: usize) -> Result<OpValue, EdnError> {
        Ok(OpValue::Record(match v {
            Edn::Nil => None,
            Edn::Vector(items) | Edn::List(items) => {
                let mut list = Vec::with_capacity(items.len());
                for i in items {
                    list.push(self.element(i, at)?);
                }
                Some(Record {
                    key: key.to_string(),
                    list: Some(list),
                    ..Record::default()
                })
            }
            s if s.is_scalar() => Some(Record {
                key: key.to_string(),
                value: Some(scalar_string(s)),
                ..Record::default()
            }),
            other => {
                return Err(self.err(
                    at,
                    format!(
                        "read value {} must be nil, a scalar or a list of scalars",
                        to_text(other)
                    ),
                ))
            }
        }))
    }

    fn ok_value(
        &mut self,
        p: &Pending,
        value: Option<&Edn>,
        at: usize,
    ) -> Result<OpValue, EdnError> {
        match &p.op {
            Op::Read { key, .. } => {
                let v = match (value, p.independent) {
                    (Some(v), true) => match v.items() {
                        Some([_, v]) => v,
                        _ => v,
                    },
                    (Some(v), false) => v,
                    (None, _) => &Edn::Nil,
                };
                self.read_value(key, v, at)
            }
            Op::Txn { ops } => {
                let Some(micro) = value.and_then(|v| v.items()) else {
                    return Err(self.err(
                        at,
                        ":ok of a :txn must carry the completed micro-ops as :value",
                    ));
                };
                if micro.len() != ops.len() {
                    return Err(self.err(
                        at,
                        format!(
                            ":ok :txn has {} micro-ops but its invoke had {}",
                            micro.len(),
                            ops.len()
                        ),
                    ));
                }
                let mut results = Vec::with_capacity(ops.len());
                for (op, m) in ops.iter().zip(micro) {
                    results.push(match (op, m.items()) {
                        (Op::Read { key, .. }, Some([_, _, v])) => {
                            OpResult::ok(self.read_value(key, v, at)?)
                        }
                        (Op::Read { .. }, _) => {
                            return Err(self.err(
                                at,
                                format!("micro-op {} must be [:r key value]", to_text(m)),
                            ))
                        }
                        _ => OpResult::ok(OpValue::None),
                    });
                }
                Ok(OpValue::Results(results))
            }
            _ => Ok(OpValue::None),
        }
    }

    fn op_map(&mut self, m: &Edn, at: usize) -> Result<(), EdnError> {
        let m = match m {
            Edn::Tagged(_, inner) => inner.as_ref(),
            other => other,
        };
        if !matches!(m, Edn::Map(_)) {
            return Err(self.err(
                at,
                format!(
                    "expected an op map like {{:type :invoke, :f :read, :process 0}}, found {}",
                    to_text(m)
                ),
            ));
        }
        let process = match m.get("process") {
            Some(Edn::Int(p)) => *p,
            // The nemesis and other non-client processes: not part of the checked history.
            Some(p) => {
                self.nemesis.push(NemesisOp {
                    process: to_text(p),
                    kind: m.get("type").map(to_text).unwrap_or_default(),
                    f: m.get("f").map(to_text).unwrap_or_default(),
                    value: m.get("value").map(to_text).unwrap_or_default(),
                    time_ns: match m.get("time") {
                        Some(Edn::Int(t)) if *t >= 0 => Some(*t as u64),
                        _ => None,
                    },
                });
                return Ok(());
            }
            // Elle's README form: no process, so no process order; each op is its own.
            None => {
                self.next_anonymous -= 1;
                self.next_anonymous
            }
        };
        if process < 0 || process > u32::MAX as i64 && m.get("process").is_some() {
            return Err(self.err(
                at,
                format!(":process {process} must be between 0 and {}", u32::MAX),
            ));
        }
        let kind = m.get("type").and_then(|t| t.keyword()).unwrap_or("");
        let f = match m.get("f").and_then(|f| f.keyword()) {
            Some(f) => f.to_string(),
            // No :f: a vector of micro-ops is a transaction (Elle's README form).
            None if is_micro_ops(m.get("value")) => "txn".to_string(),
            None => return Err(self.err(at, "op map has no :f keyword (and its :value is not a vector of micro-ops like [:append :x 1])")),
        };
        let time = match m.get("time") {
            Some(Edn::Int(t)) if *t >= 0 && !self.indexed => (*t as u64).max(self.last_time),
            _ => self.last_time + 1,
        };
        // Completed-only histories: an :ok/:fail/:info with no pending invoke was
        // invoked at the dawn of time, concurrent with everything (no real-time order).
        if kind != "invoke"
            && !self.pending.contains_key(&process)
            && matches!(kind, "ok" | "fail" | "info")
        {
            let (op, step, independent) =
                self.invoke_op(&f, m.get("value").unwrap_or(&Edn::Nil), m.get("key"), at)?;
            let op_id = self.next_op_id;
            self.next_op_id += 1;
            self.events.push(HistoryEvent::Invoke {
                op_id,
                client: process.clamp(0, u32::MAX as i64) as u32,
                step: final_step(m, step),
                op: op.clone(),
                intended_start_ns: 0,
                start_ns: 0,
            });
            self.pending.insert(
                process,
                Pending {
                    op_id,
                    f: f.clone(),
                    op,
                    independent,
                },
            );
        }
        self.last_time = time;
        let value = m.get("value");
        match kind {
            "invoke" => {
                if self.pending.contains_key(&process) {
                    return Err(self.err(
                        at,
                        format!("process {process} invokes again before its previous op completed"),
                    ));
                }
                let (op, step, independent) =
                    self.invoke_op(&f, value.unwrap_or(&Edn::Nil), m.get("key"), at)?;
                let op_id = self.next_op_id;
                self.next_op_id += 1;
                self.events.push(HistoryEvent::Invoke {
                    op_id,
                    client: process as u32,
                    step: final_step(m, step),
                    op: op.clone(),
                    intended_start_ns: time,
                    start_ns: time,
                });
                self.pending.insert(
                    process,
                    Pending {
                        op_id,
                        f,
                        op,
                        independent,
                    },
                );
                Ok(())
            }
            "ok" | "fail" | "info" => {
                let Some(p) = self.pending.remove(&process) else {
                    return Err(self.err(
                        at,
                        format!(":{kind} for process {process}, which has no pending :invoke"),
                    ));
                };
                if p.f != f {
                    return Err(self.err(
                        at,
                        format!(":{kind} :f :{f} completes an :invoke of :{}", p.f),
                    ));
                }
                let (outcome, value) = match kind {
                    "ok" => (Outcome::Ok, self.ok_value(&p, value, at)?),
                    "fail" => (Outcome::Fail, OpValue::None),
                    _ => (Outcome::Indeterminate, OpValue::None),
                };
                self.events.push(HistoryEvent::Complete {
                    op_id: p.op_id,
                    client: process.clamp(0, u32::MAX as i64) as u32,
                    outcome,
                    value,
                    error_class: None,
                    error: m.get("error").map(to_text),
                    meta: OpMeta::default(),
                    end_ns: time,
                });
                Ok(())
            }
            other => Err(self.err(
                at,
                format!(":type :{other} must be :invoke, :ok, :fail or :info"),
            )),
        }
    }
}

/// A micro-op vector like `[[:append :x 1] [:r :y nil]]`.
fn is_micro_ops(v: Option<&Edn>) -> bool {
    v.and_then(|v| v.items()).is_some_and(|ms| {
        ms.iter().all(|m| {
            m.items()
                .is_some_and(|p| p.len() == 3 && p[0].keyword().is_some())
        })
    })
}

/// Reads marked `:final? true` (Jepsen's final reads after the nemesis healed) become
/// Assay's final-read step, the reads lost writes are judged against.
fn final_step(m: &Edn, step: String) -> String {
    match m.get("final?") {
        Some(Edn::Bool(true)) => FINAL_READ_STEP.to_string(),
        _ => step,
    }
}

/// Reads a Jepsen/Elle EDN history (see the module docs for what is understood).
pub fn parse_history(text: &str) -> Result<Vec<HistoryEvent>, EdnError> {
    parse_history_as(text, DataModel::Detect)
}

/// [`parse_history`] with the data model detected or forced.
pub fn parse_history_as(text: &str, data: DataModel) -> Result<Vec<HistoryEvent>, EdnError> {
    read_history(text.as_bytes(), data).map(|h| h.events)
}

/// A history read from EDN: the client ops as events, and the nemesis's ops (skipped
/// for checking, kept for the timeline).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct EdnHistory {
    pub events: Vec<HistoryEvent>,
    pub nemesis: Vec<NemesisOp>,
}

/// An op of a non-client process (`:process :nemesis`), as EDN text.
#[derive(Clone, Debug, PartialEq)]
pub struct NemesisOp {
    pub process: String,
    /// `:invoke`, `:info`, …
    pub kind: String,
    pub f: String,
    pub value: String,
    pub time_ns: Option<u64>,
}

/// How far (in ops) an op may come after ops with a higher `:index` and still be put
/// in its place; Jepsen writes histories in `:index` order.
const INDEX_WINDOW: usize = 4096;

/// Reads an EDN history op by op from `input` (see the module docs), holding one op's
/// text at a time. When the first op has an `:index`, ops are taken in `:index` order
/// (within [`INDEX_WINDOW`] ops of reordering) and times are ignored.
pub fn read_history<R: std::io::BufRead>(
    input: R,
    data: DataModel,
) -> Result<EdnHistory, EdnError> {
    let mut forms = Forms::new(input);
    let mut c = Converter {
        at: (1, 1),
        nemesis: Vec::new(),
        events: Vec::new(),
        pending: HashMap::new(),
        next_op_id: 0,
        last_time: 0,
        indexed: false,
        next_anonymous: u32::MAX as i64 + 1,
        elements: HashMap::new(),
        data,
    };
    let index = |e: &Edn| match e.get("index") {
        Some(Edn::Int(i)) => Some(*i),
        _ => None,
    };
    let mut window: BTreeMap<(i64, u64), (Edn, (usize, usize))> = BTreeMap::new();
    let (mut seq, mut released, mut last_index) = (0u64, None::<i64>, i64::MIN);
    let (mut first, mut discard_next) = (true, false);
    let mut tag: Option<String> = None;
    let convert = |c: &mut Converter, e: &Edn, at: (usize, usize)| {
        c.at = at;
        c.op_map(e, 0)
    };
    while let Some(f) = forms.next_form()? {
        let at = (f.line, f.col);
        if f.text == "#_" {
            discard_next = true;
            continue;
        }
        if f.text.starts_with('#') && !f.text.contains(['{', '[', '(', '"']) {
            // A tag on its own, e.g. `#jepsen.history.Op {...}`: it goes with the next form.
            tag = Some(f.text.to_string());
            continue;
        }
        let joined;
        let text = match tag.take() {
            Some(t) => {
                joined = format!("{t} {}", f.text);
                joined.as_str()
            }
            None => f.text,
        };
        let mut r = Reader::new(text);
        let parsed = r.next_form().map_err(|e| EdnError {
            line: at.0 + e.line - 1,
            col: if e.line == 1 { at.1 + e.col - 1 } else { e.col },
            message: e.message,
        })?;
        let Some((edn, _)) = parsed else { continue };
        if std::mem::take(&mut discard_next) {
            continue;
        }
        if std::mem::take(&mut first) {
            c.indexed = index(&edn).is_some();
        }
        if !c.indexed {
            convert(&mut c, &edn, at)?;
            continue;
        }
        let i = index(&edn).unwrap_or(last_index);
        last_index = i;
        if let Some(r) = released.filter(|r| i < *r) {
            return Err(EdnError {
                line: at.0,
                col: at.1,
                message: format!(
                    ":index {i} comes more than {INDEX_WINDOW} ops after :index {r}; sort the history by :index"
                ),
            });
        }
        window.insert((i, seq), (edn, at));
        seq += 1;
        if window.len() > INDEX_WINDOW {
            if let Some(((ri, _), (e, at))) = window.pop_first() {
                released = Some(ri);
                convert(&mut c, &e, at)?;
            }
        }
    }
    while let Some((_, (e, at))) = window.pop_first() {
        convert(&mut c, &e, at)?;
    }
    Ok(EdnHistory {
        events: c.events,
        nemesis: c.nemesis,
    })
}
