//! Synthetic histories from a sequential model: concurrent clients whose ops take effect
//! atomically at one instant between their invoke and completion, so every history made
//! here is linearizable (and strict serializable). Used by the property tests (valid
//! histories must pass, mutated ones must fail) and by the benchmarks; also handy for
//! checking a checker against a scenario's shape without a database.

use assay_core::{ErrorClass, HistoryEvent, Op, OpMeta, OpResult, OpValue, Outcome, Record};
use std::collections::HashMap;

const TABLE: &str = "kv";

/// xorshift64*: deterministic per seed, no dependency.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(crate::fxhash::mix64(seed) | 1)
    }
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        ((self.next() >> 11) as f64 / (1u64 << 53) as f64) < p
    }
}

/// Single-key register ops: reads, writes and compare-and-set by version.
#[derive(Clone, Debug)]
pub struct RegisterWorkload {
    pub clients: u32,
    pub ops: usize,
    pub keys: usize,
    /// Fraction of writes that end indeterminate (applied or not, at random).
    pub indeterminate: f64,
    /// Read every key once more after all ops completed.
    pub final_reads: bool,
    pub seed: u64,
}

impl Default for RegisterWorkload {
    fn default() -> Self {
        RegisterWorkload {
            clients: 4,
            ops: 200,
            keys: 1,
            indeterminate: 0.0,
            final_reads: true,
            seed: 1,
        }
    }
}

/// List-append transactions (Elle's workload): appends of unique elements and reads.
#[derive(Clone, Debug)]
pub struct ListAppendWorkload {
    pub clients: u32,
    pub txns: usize,
    /// Keys in use at once; a key that reached `appends_per_key` is retired for a new one.
    pub active_keys: usize,
    pub appends_per_key: usize,
    pub max_ops_per_txn: usize,
    /// Fraction of transactions that fail (not applied).
    pub failed: f64,
    /// Fraction that end indeterminate (applied or not, at random).
    pub indeterminate: f64,
    /// Read every key once more after all transactions completed.
    pub final_reads: bool,
    pub seed: u64,
}

impl Default for ListAppendWorkload {
    fn default() -> Self {
        ListAppendWorkload {
            clients: 4,
            txns: 200,
            active_keys: 4,
            appends_per_key: 32,
            max_ops_per_txn: 4,
            failed: 0.0,
            indeterminate: 0.0,
            final_reads: true,
            seed: 1,
        }
    }
}

struct Pending {
    op_id: u64,
    op: Op,
    applied: Option<(Outcome, OpValue)>,
}

/// The sequential model behind a workload.
trait Store {
    fn make(&mut self, rng: &mut Rng, client: u32) -> Op;
    /// Takes the op into effect (or not) and says how it ended.
    fn apply(&mut self, rng: &mut Rng, client: u32, op: &Op) -> (Outcome, OpValue);
    /// A read of every key the workload touched.
    fn final_reads(&self) -> Vec<(Op, OpValue)>;
}

/// Drives clients: each step picks one, which invokes, takes effect, or completes.
struct Sim {
    rng: Rng,
    events: Vec<HistoryEvent>,
    now: u64,
    next_id: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        Sim {
            rng: Rng::new(seed),
            events: Vec::new(),
            now: 0,
            next_id: 0,
        }
    }
    fn tick(&mut self) -> u64 {
        self.now += 1_000 + self.rng.below(20_000);
        self.now
    }
    fn invoke(&mut self, client: u32, op: Op) -> Pending {
        let t = self.tick();
        let op_id = self.next_id;
        self.next_id += 1;
        self.events.push(HistoryEvent::Invoke {
            op_id,
            client,
            step: "workload".into(),
            op: op.clone(),
            intended_start_ns: t,
            start_ns: t,
        });
        Pending {
            op_id,
            op,
            applied: None,
        }
    }
    fn complete(&mut self, client: u32, p: Pending) {
        let t = self.tick();
        let (outcome, value) = p.applied.unwrap_or((Outcome::Indeterminate, OpValue::None));
        let error_class = match outcome {
            Outcome::Ok => None,
            Outcome::Fail => Some(ErrorClass::ConditionFailed),
            Outcome::Indeterminate => Some(ErrorClass::Timeout),
        };
        self.events.push(HistoryEvent::Complete {
            op_id: p.op_id,
            client,
            outcome,
            value,
            error_class,
            error: error_class.map(|c| c.to_string()),
            meta: OpMeta::default(),
            end_ns: t,
        });
    }

    /// Runs `total` ops over `clients`, then the final reads when asked.
    fn run(
        mut self,
        store: &mut dyn Store,
        clients: u32,
        total: usize,
        final_reads: bool,
    ) -> Vec<HistoryEvent> {
        let clients = clients.max(1);
        let mut pending: Vec<Option<Pending>> = (0..clients).map(|_| None).collect();
        let (mut issued, mut busy) = (0usize, 0usize);
        while issued < total || busy > 0 {
            let c = self.rng.below(clients as u64) as u32;
            match pending[c as usize].take() {
                None if issued < total => {
                    let op = store.make(&mut self.rng, c);
                    issued += 1;
                    busy += 1;
                    pending[c as usize] = Some(self.invoke(c, op));
                }
                None => {}
                Some(mut p) if p.applied.is_none() => {
                    p.applied = Some(store.apply(&mut self.rng, c, &p.op));
                    pending[c as usize] = Some(p);
                }
                Some(p) => {
                    busy -= 1;
                    self.complete(c, p);
                }
            }
        }
        if final_reads {
            for (op, value) in store.final_reads() {
                let mut p = self.invoke(0, op);
                p.applied = Some((Outcome::Ok, value));
                self.complete(0, p);
            }
        }
        self.events
    }
}

struct Registers {
    keys: Vec<String>,
    state: HashMap<String, (String, u64)>,
    /// Per (client, key): the version the client last read, for its compare-and-sets.
    seen: HashMap<(u32, String), u64>,
    counter: u64,
    indeterminate: f64,
}

impl Registers {
    fn read(&self, key: &str) -> OpValue {
        OpValue::Record(self.state.get(key).map(|(v, ver)| Record {
            key: key.to_string(),
            value: Some(v.clone()),
            version: Some(*ver),
            ..Record::default()
        }))
    }
}

impl Store for Registers {
    fn make(&mut self, rng: &mut Rng, client: u32) -> Op {
        let key = self.keys[rng.below(self.keys.len() as u64) as usize].clone();
        self.counter += 1;
        let value = format!("v{}", self.counter);
        match rng.below(10) {
            0..=4 => Op::Read {
                table: TABLE.into(),
                key,
                consistency: Default::default(),
            },
            5..=7 => Op::Write {
                table: TABLE.into(),
                key,
                value,
            },
            _ => {
                let expected_version = self.seen.get(&(client, key.clone())).copied();
                Op::CompareAndSet {
                    table: TABLE.into(),
                    key,
                    expected_version,
                    value,
                }
            }
        }
    }

    fn apply(&mut self, rng: &mut Rng, client: u32, op: &Op) -> (Outcome, OpValue) {
        match op {
            Op::Read { key, .. } => {
                if let Some((_, ver)) = self.state.get(key) {
                    self.seen.insert((client, key.clone()), *ver);
                }
                (Outcome::Ok, self.read(key))
            }
            Op::Write { key, value, .. } | Op::CompareAndSet { key, value, .. } => {
                let cur = self.state.get(key).map(|s| s.1);
                if let Op::CompareAndSet {
                    expected_version, ..
                } = op
                {
                    if *expected_version != cur {
                        return (Outcome::Fail, OpValue::None);
                    }
                }
                let unknown = rng.chance(self.indeterminate);
                if unknown && rng.chance(0.5) {
                    return (Outcome::Indeterminate, OpValue::None);
                }
                self.state
                    .insert(key.clone(), (value.clone(), cur.unwrap_or(0) + 1));
                let outcome = if unknown {
                    Outcome::Indeterminate
                } else {
                    Outcome::Ok
                };
                (outcome, OpValue::None)
            }
            _ => (Outcome::Ok, OpValue::None),
        }
    }

    fn final_reads(&self) -> Vec<(Op, OpValue)> {
        self.keys
            .iter()
            .map(|key| {
                (
                    Op::Read {
                        table: TABLE.into(),
                        key: key.clone(),
                        consistency: Default::default(),
                    },
                    self.read(key),
                )
            })
            .collect()
    }
}

/// A linearizable history of register ops.
pub fn register_history(w: &RegisterWorkload) -> Vec<HistoryEvent> {
    let mut store = Registers {
        keys: (0..w.keys.max(1)).map(|i| format!("r{i}")).collect(),
        state: HashMap::new(),
        seen: HashMap::new(),
        counter: 0,
        indeterminate: w.indeterminate,
    };
    Sim::new(w.seed).run(&mut store, w.clients, w.ops, w.final_reads)
}

struct Lists {
    lists: HashMap<String, Vec<i64>>,
    /// Keys in use with their number of appends; retired keys are replaced.
    active: Vec<(u64, usize)>,
    next_key: u64,
    all_keys: Vec<String>,
    next_elem: HashMap<String, i64>,
    w: ListAppendWorkload,
}

impl Lists {
    fn read(&self, key: &str) -> OpValue {
        OpValue::Record(
            self.lists
                .get(key)
                .filter(|l| !l.is_empty())
                .map(|l| Record {
                    key: key.to_string(),
                    list: Some(l.clone()),
                    ..Record::default()
                }),
        )
    }
}

impl Store for Lists {
    fn make(&mut self, rng: &mut Rng, _client: u32) -> Op {
        let n = 1 + rng.below(self.w.max_ops_per_txn.max(1) as u64);
        let mut ops = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let slot = rng.below(self.active.len() as u64) as usize;
            let key = format!("k{}", self.active[slot].0);
            if rng.chance(0.5) {
                let e = self.next_elem.entry(key.clone()).or_insert(0);
                *e += 1;
                ops.push(Op::Append {
                    table: TABLE.into(),
                    key,
                    element: *e,
                });
                self.active[slot].1 += 1;
                if self.active[slot].1 >= self.w.appends_per_key.max(1) {
                    self.active[slot] = (self.next_key, 0);
                    self.all_keys.push(format!("k{}", self.next_key));
                    self.next_key += 1;
                }
            } else {
                ops.push(Op::Read {
                    table: TABLE.into(),
                    key,
                    consistency: Default::default(),
                });
            }
        }
        match ops.pop() {
            Some(single) if ops.is_empty() && rng.chance(0.5) => single,
            Some(last) => {
                ops.push(last);
                Op::Txn { ops }
            }
            None => Op::Txn { ops },
        }
    }

    fn apply(&mut self, rng: &mut Rng, _client: u32, op: &Op) -> (Outcome, OpValue) {
        if rng.chance(self.w.failed) {
            return (Outcome::Fail, OpValue::None);
        }
        let unknown = rng.chance(self.w.indeterminate);
        if unknown && rng.chance(0.5) {
            return (Outcome::Indeterminate, OpValue::None);
        }
        let single = !matches!(op, Op::Txn { .. });
        let ops = match op {
            Op::Txn { ops } => ops.as_slice(),
            one => std::slice::from_ref(one),
        };
        let mut results = Vec::with_capacity(ops.len());
        for o in ops {
            results.push(match o {
                Op::Append { key, element, .. } => {
                    self.lists.entry(key.clone()).or_default().push(*element);
                    OpValue::None
                }
                Op::Read { key, .. } => self.read(key),
                _ => OpValue::None,
            });
        }
        if unknown {
            (Outcome::Indeterminate, OpValue::None)
        } else if single {
            (Outcome::Ok, results.pop().unwrap_or(OpValue::None))
        } else {
            (
                Outcome::Ok,
                OpValue::Results(results.into_iter().map(OpResult::ok).collect()),
            )
        }
    }

    fn final_reads(&self) -> Vec<(Op, OpValue)> {
        self.all_keys
            .iter()
            .map(|key| {
                (
                    Op::Read {
                        table: TABLE.into(),
                        key: key.clone(),
                        consistency: Default::default(),
                    },
                    self.read(key),
                )
            })
            .collect()
    }
}

/// A strict-serializable history of list-append transactions (and some single ops).
pub fn list_append_history(w: &ListAppendWorkload) -> Vec<HistoryEvent> {
    let active: Vec<(u64, usize)> = (0..w.active_keys.max(1) as u64).map(|k| (k, 0)).collect();
    let mut store = Lists {
        next_key: active.len() as u64,
        all_keys: active.iter().map(|(k, _)| format!("k{k}")).collect(),
        active,
        lists: HashMap::new(),
        next_elem: HashMap::new(),
        w: w.clone(),
    };
    Sim::new(w.seed).run(&mut store, w.clients, w.txns, w.final_reads)
}

/// A Jepsen etcd-style history of one compare-and-set register (Knossos' cas-register):
/// `:read`, `:write v`, `:cas [old new]` over small integer values, some writes and
/// compare-and-sets crashing (`:info`, applied or not at random; the process is
/// replaced by a new one, as Jepsen does). Written as EDN text, one op map per line.
#[derive(Clone, Debug)]
pub struct CasRegisterWorkload {
    pub clients: u32,
    pub ops: usize,
    /// How many writes / compare-and-sets crash.
    pub crashed: usize,
    /// Values are drawn from `0..values`.
    pub values: u64,
    pub seed: u64,
}

/// Porcupine's key-value workload: `:get`, `:put`, `:append` (string concatenation) on
/// `keys` keys with `:key` and string values, as Porcupine's test logs write them.
#[derive(Clone, Debug)]
pub struct KvWorkload {
    pub clients: u32,
    pub ops: usize,
    pub keys: usize,
    /// Fraction of puts / appends that time out (`:info`, applied or not at random).
    pub indeterminate: f64,
    /// Corrupt one completed `:get` to return a value the key never held, so the
    /// history is not linearizable.
    pub corrupt: bool,
    pub seed: u64,
}

/// One client op in an EDN simulation: its `:f`, key and value as EDN text.
struct EdnOp {
    f: &'static str,
    key: Option<String>,
    value: String,
    /// Completion: `:type` and `:value`, once the op took effect (or did not).
    done: Option<(&'static str, String)>,
}

/// Drives `clients` processes through `total` ops of a sequential model (`make` draws
/// an op, `apply` takes it into effect atomically), writing EDN lines with `:time`.
fn edn_sim(
    seed: u64,
    clients: u32,
    total: usize,
    mut make: impl FnMut(&mut Rng) -> EdnOp,
    mut apply: impl FnMut(&mut Rng, usize, &EdnOp) -> (&'static str, String),
) -> String {
    let mut rng = Rng::new(seed);
    let clients = clients.max(1) as usize;
    let mut process: Vec<u64> = (0..clients as u64).collect();
    let mut pending: Vec<Option<EdnOp>> = (0..clients).map(|_| None).collect();
    let (mut issued, mut busy, mut now) = (0usize, 0usize, 0u64);
    let mut out = String::new();
    let line = |out: &mut String, p: u64, kind: &str, op: &EdnOp, value: &str, now: u64| {
        let key = match &op.key {
            Some(k) => format!(", :key {k}"),
            None => String::new(),
        };
        out.push_str(&format!(
            "{{:process {p}, :type :{kind}, :f :{}{key}, :value {value}, :time {now}}}\n",
            op.f
        ));
    };
    while issued < total || busy > 0 {
        let c = rng.below(clients as u64) as usize;
        now += 1_000 + rng.below(20_000);
        match pending[c].take() {
            None if issued < total => {
                let op = make(&mut rng);
                line(&mut out, process[c], "invoke", &op, &op.value, now);
                issued += 1;
                busy += 1;
                pending[c] = Some(op);
            }
            None => {}
            Some(mut op) if op.done.is_none() => {
                op.done = Some(apply(&mut rng, issued, &op));
                pending[c] = Some(op);
            }
            Some(op) => {
                busy -= 1;
                let (kind, value) = op.done.clone().unwrap_or(("info", "nil".into()));
                line(&mut out, process[c], kind, &op, &value, now);
                if kind == "info" {
                    process[c] += clients as u64;
                }
            }
        }
    }
    out
}

/// An etcd-style cas-register history (see [`CasRegisterWorkload`]); linearizable.
pub fn cas_register_edn(w: &CasRegisterWorkload) -> String {
    let mut state: Option<u64> = None;
    let values = w.values.max(1);
    // Which ops (by issue number) crash if they are writes or compare-and-sets.
    let mut crash_at = std::collections::HashSet::new();
    let mut pick = Rng::new(w.seed ^ 0x5eed);
    let mut tries = 0;
    while crash_at.len() < w.crashed.min(w.ops) && tries < 100 * w.ops.max(1) {
        crash_at.insert(pick.below(w.ops as u64) as usize);
        tries += 1;
    }
    let mut crashes_left = w.crashed;
    edn_sim(
        w.seed,
        w.clients,
        w.ops,
        |rng| {
            let (f, value) = match rng.below(3) {
                0 => ("read", "nil".to_string()),
                1 => ("write", rng.below(values).to_string()),
                _ => (
                    "cas",
                    format!("[{} {}]", rng.below(values), rng.below(values)),
                ),
            };
            EdnOp {
                f,
                key: None,
                value,
                done: None,
            }
        },
        |rng, issued, op| {
            let crash = op.f != "read"
                && crashes_left > 0
                && (crash_at.contains(&issued) || rng.chance(0.02));
            if crash {
                crashes_left -= 1;
            }
            let applies = !crash || rng.chance(0.5);
            let show = |s: Option<u64>| s.map_or("nil".to_string(), |v| v.to_string());
            let outcome = match op.f {
                "read" => ("ok", show(state)),
                "write" => {
                    if applies {
                        state = op.value.parse().ok();
                    }
                    ("ok", op.value.clone())
                }
                _ => {
                    let pair: Vec<u64> = op
                        .value
                        .trim_matches(['[', ']'])
                        .split(' ')
                        .filter_map(|v| v.parse().ok())
                        .collect();
                    if state == pair.first().copied() {
                        if applies {
                            state = pair.get(1).copied();
                        }
                        ("ok", op.value.clone())
                    } else {
                        ("fail", op.value.clone())
                    }
                }
            };
            if crash {
                ("info", op.value.clone())
            } else {
                outcome
            }
        },
    )
}

/// A Porcupine-style key-value history (see [`KvWorkload`]); linearizable unless
/// `corrupt`.
pub fn kv_edn(w: &KvWorkload) -> String {
    let keys = w.keys.max(1) as u64;
    let mut state: HashMap<String, String> = HashMap::new();
    let mut n = 0u64;
    let text = edn_sim(
        w.seed,
        w.clients,
        w.ops,
        |rng| {
            n += 1;
            let key = format!("\"{}\"", rng.below(keys));
            let (f, value) = match rng.below(3) {
                0 => ("get", "nil".to_string()),
                1 => ("put", format!("\"x {n} y\"")),
                _ => ("append", format!("\"x {n} y\"")),
            };
            EdnOp {
                f,
                key: Some(key),
                value,
                done: None,
            }
        },
        |rng, _, op| {
            let key = op.key.clone().unwrap_or_default();
            let timeout = op.f != "get" && rng.chance(w.indeterminate);
            if timeout && rng.chance(0.5) {
                return ("info", op.value.clone());
            }
            let v = op.value.trim_matches('"');
            match op.f {
                "get" => {
                    let cur = state.get(&key).cloned().unwrap_or_default();
                    return ("ok", format!("\"{cur}\""));
                }
                "put" => {
                    state.insert(key, v.to_string());
                }
                _ => state.entry(key).or_default().push_str(v),
            }
            (if timeout { "info" } else { "ok" }, op.value.clone())
        },
    );
    if !w.corrupt {
        return text;
    }
    // The last completed get that saw something now sees a value never written.
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    if let Some(l) = lines
        .iter_mut()
        .rev()
        .find(|l| l.contains(":type :ok, :f :get") && !l.contains(":value \"\""))
    {
        *l = l.replacen(":value \"", ":value \"never written ", 1);
    }
    let mut out = lines.join("\n");
    out.push('\n');
    out
}
