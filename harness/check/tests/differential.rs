//! Differential test: random small list-append and register histories (≤ 8
//! transactions, with :info and :fail ops, stale reads and shuffled timings) checked by
//! assay-check and by the brute-force oracle in `oracle/`; the verdicts must agree for
//! serializable, strict-serializable and linearizable.
//!
//! `ASSAY_DIFF_CASES` sets the number of histories (default 20,000: CI-sized); run
//! `ASSAY_DIFF_CASES=100000 cargo test -p assay-check --test differential` for the full
//! run. `ASSAY_DIFF_SEED` picks another seed.

mod oracle;

use assay_check::{check_history, edn, Model};
use oracle::{Kind, Mop, Txn, Val};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// xorshift64*: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

fn key_name(k: u8) -> &'static str {
    ["x", "y", "z"][k as usize]
}

/// A list-append history: txns executed in a random serial order, some reads served
/// from an older state (stale or skewed), outcomes and timings drawn at random.
fn list_history(rng: &mut Rng) -> Vec<Txn> {
    let n = 1 + rng.below(8) as usize;
    let keys = 1 + rng.below(3) as u8;
    let mut next_elem = 1i64;
    let mut txns: Vec<Txn> = (0..n)
        .map(|_| {
            let len = 1 + rng.below(4) as usize;
            let mops = (0..len)
                .map(|_| {
                    let k = rng.below(keys as u64) as u8;
                    if rng.chance(50) {
                        next_elem += 1;
                        Mop::Append(k, next_elem - 1)
                    } else {
                        Mop::ReadList(k, None)
                    }
                })
                .collect();
            let kind = match rng.below(10) {
                0 => Kind::Info,
                1 => Kind::Fail,
                _ => Kind::Ok,
            };
            Txn {
                mops,
                kind,
                start: 0,
                end: None,
            }
        })
        .collect();
    // Execute in a random order; failed txns apply only when the backend is "buggy".
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut history: Vec<BTreeMap<u8, Vec<i64>>> = vec![BTreeMap::new()];
    let mut pos = vec![0usize; n];
    for (p, &t) in order.iter().enumerate() {
        pos[t] = p;
        let applies = match txns[t].kind {
            Kind::Ok => true,
            Kind::Info => rng.chance(50),
            Kind::Fail => rng.chance(10),
        };
        let mut state = history.last().cloned().unwrap_or_default();
        let stale_from = rng.below(history.len() as u64) as usize;
        let stale = rng.chance(15);
        for m in &mut txns[t].mops {
            match m {
                Mop::Append(k, e) if applies => {
                    state.entry(*k).or_default().push(*e);
                }
                Mop::Append(..) => {}
                Mop::ReadList(k, seen) => {
                    let src = if stale && rng.chance(60) {
                        &history[stale_from]
                    } else {
                        &state
                    };
                    *seen = Some(src.get(k).cloned().unwrap_or_default());
                }
                _ => {}
            }
        }
        if txns[t].kind != Kind::Ok {
            for m in &mut txns[t].mops {
                if let Mop::ReadList(_, seen) = m {
                    *seen = None;
                }
            }
        }
        history.push(state);
    }
    timings(rng, &mut txns, &pos);
    txns
}

/// Intervals loosely following the execution order, often overlapping, sometimes
/// contradicting it (real-time anomalies).
fn timings(rng: &mut Rng, txns: &mut [Txn], pos: &[usize]) {
    for (t, txn) in txns.iter_mut().enumerate() {
        let start = pos[t] as u64 * 3 + rng.below(8);
        txn.start = start;
        txn.end = match txn.kind {
            Kind::Info => None,
            _ => Some(start + 1 + rng.below(6)),
        };
    }
}

/// A single-register history (Knossos' cas-register): reads, writes and cas by value.
fn register_history(rng: &mut Rng) -> Vec<Txn> {
    let n = 1 + rng.below(8) as usize;
    let mut txns: Vec<Txn> = Vec::new();
    let mut order: Vec<usize> = (0..n).collect();
    for i in (1..n).rev() {
        order.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let mut values: Vec<Option<i64>> = vec![None];
    for _ in 0..n {
        let kind = match rng.below(10) {
            0 => Kind::Info,
            1 => Kind::Fail,
            _ => Kind::Ok,
        };
        let mop = match rng.below(3) {
            0 => Mop::ReadReg(0, None),
            1 => Mop::Write(0, rng.below(4) as i64),
            _ => Mop::Cas(0, rng.below(4) as i64, rng.below(4) as i64),
        };
        txns.push(Txn {
            mops: vec![mop],
            kind,
            start: 0,
            end: None,
        });
    }
    let mut pos = vec![0usize; n];
    for (p, &t) in order.iter().enumerate() {
        pos[t] = p;
        let cur = *values.last().unwrap();
        let applies = match txns[t].kind {
            Kind::Ok => true,
            Kind::Info => rng.chance(50),
            Kind::Fail => false,
        };
        let stale = rng.chance(15);
        let kind = txns[t].kind;
        let next = match &mut txns[t].mops[0] {
            Mop::ReadReg(_, seen) => {
                let v = if stale {
                    values[rng.below(values.len() as u64) as usize]
                } else {
                    cur
                };
                if kind == Kind::Ok {
                    *seen = Some(v.map_or(Val::Nil, Val::Int));
                }
                cur
            }
            Mop::Write(_, v) => {
                if applies {
                    Some(*v)
                } else {
                    cur
                }
            }
            Mop::Cas(_, old, new) => {
                // An ok cas held; make it hold against the state most of the time.
                if kind == Kind::Ok && !stale {
                    if let Some(c) = cur {
                        *old = c;
                    }
                }
                if applies && cur == Some(*old) {
                    Some(*new)
                } else {
                    cur
                }
            }
            _ => cur,
        };
        values.push(next);
    }
    timings(rng, &mut txns, &pos);
    txns
}

fn mop_edn(m: &Mop, completed: bool, out: &mut String) {
    match m {
        Mop::Append(k, e) => write!(out, "[:append :{} {e}]", key_name(*k)).unwrap(),
        Mop::ReadList(k, seen) => match (completed, seen) {
            (true, Some(l)) => {
                let l: Vec<String> = l.iter().map(|e| e.to_string()).collect();
                write!(out, "[:r :{} [{}]]", key_name(*k), l.join(" ")).unwrap()
            }
            _ => write!(out, "[:r :{} nil]", key_name(*k)).unwrap(),
        },
        _ => unreachable!("register ops are not in transactions here"),
    }
}

/// The history as Jepsen EDN, one op map per line in time order, each txn its own
/// process.
fn to_edn(txns: &[Txn]) -> String {
    // (time, 0 = invoke / 1 = completion, txn)
    let mut events: Vec<(u64, u8, usize)> = Vec::new();
    for (i, t) in txns.iter().enumerate() {
        events.push((t.start * 2 + 1, 0, i));
        // Completions at even times, invokes at odd: no ties between the two kinds.
        events.push((t.end.map_or(1_000, |e| e * 2), 1, i));
    }
    events.sort();
    let mut out = String::new();
    for (time, phase, i) in events {
        let t = &txns[i];
        let ty = match (phase, t.kind) {
            (0, _) => "invoke",
            (_, Kind::Ok) => "ok",
            (_, Kind::Fail) => "fail",
            (_, Kind::Info) => "info",
        };
        let completed = phase == 1 && t.kind == Kind::Ok;
        let (f, value) = match &t.mops[0] {
            Mop::ReadReg(_, seen) => (
                "read",
                match (completed, seen) {
                    (true, Some(Val::Int(v))) => v.to_string(),
                    _ => "nil".to_string(),
                },
            ),
            Mop::Write(_, v) => ("write", v.to_string()),
            Mop::Cas(_, o, n) => ("cas", format!("[{o} {n}]")),
            _ => {
                let mut v = String::from("[");
                for (j, m) in t.mops.iter().enumerate() {
                    if j > 0 {
                        v.push(' ');
                    }
                    mop_edn(m, completed, &mut v);
                }
                v.push(']');
                ("txn", v)
            }
        };
        writeln!(
            out,
            "{{:type :{ty}, :f :{f}, :value {value}, :process {i}, :time {}}}",
            time * 1000
        )
        .unwrap();
    }
    out
}

fn cases() -> u64 {
    std::env::var("ASSAY_DIFF_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000)
}

#[test]
fn checker_agrees_with_brute_force_oracle() {
    let n = cases();
    let seed: u64 = std::env::var("ASSAY_DIFF_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x9e37_79b9_7f4a_7c15);
    let mut rng = Rng(seed | 1);
    let started = std::time::Instant::now();
    let mut disagreements = Vec::new();
    let (mut invalid, mut checked, mut vacuous) = ([0u64; 2], 0u64, 0u64);
    for case in 0..n {
        let txns = if case % 2 == 0 {
            list_history(&mut rng)
        } else {
            register_history(&mut rng)
        };
        let text = to_edn(&txns);
        let events = edn::parse_history(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        // No ok op: nothing can be checked, which the checker rightly calls unknown
        // (nothing unverified passes) while the oracle calls it vacuously valid.
        if txns.iter().all(|t| t.kind != Kind::Ok) {
            vacuous += 1;
            continue;
        }
        for (model, strict) in [
            (Model::Serializable, false),
            (Model::StrictSerializable, true),
            (Model::Linearizable, true),
        ] {
            let want = oracle::serializable(&txns, strict);
            let v = check_history(&events, model);
            checked += 1;
            if !want {
                invalid[strict as usize] += 1;
            }
            if v.valid != want && disagreements.len() < 5 {
                disagreements.push(format!(
                    "case {case} under {model}: oracle says {}, checker says {}\n{text}\n{v}",
                    if want { "valid" } else { "invalid" },
                    if v.valid { "valid" } else { "invalid" },
                ));
            } else if v.valid != want {
                disagreements.push(String::new());
            }
        }
    }
    eprintln!(
        "differential: {n} histories ({vacuous} without an ok op skipped), {checked} verdicts, {} disagreements, oracle-invalid: {} serializable / {} strict, in {:.1?}",
        disagreements.len(),
        invalid[0],
        invalid[1],
        started.elapsed()
    );
    // Both sides of the verdict must be exercised for the agreement to mean anything.
    assert!(n < 100 || (invalid[0] > n / 20 && invalid[0] < checked / 3 * 19 / 20));
    assert!(
        disagreements.is_empty(),
        "{} disagreement(s); first ones:\n{}",
        disagreements.len(),
        disagreements
            .iter()
            .filter(|d| !d.is_empty())
            .cloned()
            .collect::<Vec<_>>()
            .join("\n---\n")
    );
}
