//! What a workload op is: keys from the scenario's distribution (uniform, scrambled zipfian,
//! latest, hotspot), value bytes of a fixed or distributed size, and the portable op(s) each
//! mix entry stands for (YCSB's read / update / insert / scan / read-modify-write, and the
//! TPC-B-like transaction). Everything here is a pure function of an RNG, so a seed fixes
//! the op sequence.

use assay_core::scenario::{
    KeyDistribution, MixOp, ValueSize, Workload, TPCB_TABLES, TPCB_TELLERS_PER_BRANCH,
};
use assay_core::{Consistency, LoadRow, Op};
use rand::rngs::SmallRng;
use rand::Rng;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

/// Exact zeta sums up to this many items; the tail beyond is the integral approximation,
/// which keeps set-up at O(1e6) even for a keyspace of billions.
const ZETA_EXACT_TERMS: u64 = 1_000_000;

fn zeta(n: u64, theta: f64) -> f64 {
    let exact = n.min(ZETA_EXACT_TERMS);
    let mut sum: f64 = (1..=exact).map(|i| 1.0 / (i as f64).powf(theta)).sum();
    if n > exact {
        // ∫ x^-θ dx from `exact` to `n`: the Euler–Maclaurin leading term.
        let e = 1.0 - theta;
        sum += ((n as f64).powf(e) - (exact as f64).powf(e)) / e;
    }
    sum
}

/// Zipfian ranks over `0..n` (rank 0 the most popular), Gray et al.'s method as in YCSB.
#[derive(Clone, Debug)]
pub struct Zipfian {
    n: u64,
    theta: f64,
    alpha: f64,
    zetan: f64,
    eta: f64,
}

impl Zipfian {
    pub fn new(n: u64, theta: f64) -> Self {
        let n = n.max(1);
        let zetan = zeta(n, theta);
        let zeta2 = zeta(2, theta);
        let eta = (1.0 - (2.0 / n as f64).powf(1.0 - theta)) / (1.0 - zeta2 / zetan);
        Zipfian {
            n,
            theta,
            alpha: 1.0 / (1.0 - theta),
            zetan,
            eta,
        }
    }

    /// A rank from a uniform `u` in [0, 1).
    pub fn rank(&self, u: f64) -> u64 {
        let uz = u * self.zetan;
        if uz < 1.0 {
            return 0;
        }
        if uz < 1.0 + 0.5f64.powf(self.theta) {
            return 1.min(self.n - 1);
        }
        let r = (self.n as f64 * (self.eta * u - self.eta + 1.0).powf(self.alpha)) as u64;
        r.min(self.n - 1)
    }
}

/// FNV-1a of the rank's bytes: spreads popular ranks over the keyspace (YCSB's scramble).
fn fnv1a(x: u64) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in x.to_le_bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Picks key indexes; `latest` and `insert` share the count of inserted keys.
#[derive(Debug)]
pub struct KeyChooser {
    count: u64,
    distribution: KeyDistribution,
    zipf: Option<Zipfian>,
    /// Next index an `insert` takes (starts after the keyspace).
    next_insert: AtomicU64,
    /// Inserts that completed: `latest` reads only keys known to exist.
    inserted: AtomicU64,
}

impl KeyChooser {
    pub fn new(count: u64, distribution: KeyDistribution) -> Self {
        let zipf = match distribution {
            KeyDistribution::Zipfian { theta } | KeyDistribution::Latest { theta } => {
                Some(Zipfian::new(count, theta))
            }
            _ => None,
        };
        KeyChooser {
            count: count.max(1),
            distribution,
            zipf,
            next_insert: AtomicU64::new(count),
            inserted: AtomicU64::new(0),
        }
    }

    /// An index of an existing key.
    pub fn pick(&self, rng: &mut SmallRng) -> u64 {
        match (&self.distribution, &self.zipf) {
            (KeyDistribution::Zipfian { .. }, Some(z)) => {
                fnv1a(z.rank(rng.random::<f64>())) % self.count
            }
            (KeyDistribution::Latest { .. }, Some(z)) => {
                // Ranks over the initial keyspace: the newest key is rank 0. Inserts during
                // a run are few relative to the keyspace, so the rank table is not rebuilt.
                let newest = self.count + self.inserted.load(Ordering::Relaxed) - 1;
                newest.saturating_sub(z.rank(rng.random::<f64>()))
            }
            (
                KeyDistribution::Hotspot {
                    data_fraction,
                    op_fraction,
                },
                _,
            ) => {
                let hot = ((self.count as f64 * data_fraction).ceil() as u64).clamp(1, self.count);
                if rng.random::<f64>() < *op_fraction || hot == self.count {
                    rng.random_range(0..hot)
                } else {
                    rng.random_range(hot..self.count)
                }
            }
            _ => rng.random_range(0..self.count),
        }
    }

    /// The index for a new key (after the keyspace and every earlier insert).
    pub fn next_insert(&self) -> u64 {
        self.next_insert.fetch_add(1, Ordering::Relaxed)
    }

    pub fn insert_done(&self) {
        self.inserted.fetch_add(1, Ordering::Relaxed);
    }
}

/// Random printable bytes to slice values from, so a value costs one copy, not one RNG
/// call per byte.
pub struct ValueSource {
    pool: String,
    size: ValueSize,
    zipf: Option<Zipfian>,
}

const VALUE_POOL_SLACK: usize = 4096;

impl ValueSource {
    pub fn new(size: ValueSize, rng: &mut SmallRng) -> Self {
        let len = size.max() + VALUE_POOL_SLACK;
        let pool = (0..len)
            .map(|_| char::from(b'a' + rng.random_range(0..26u8)))
            .collect();
        let zipf = match size {
            ValueSize::Zipfian { min, max } => Some(Zipfian::new((max - min + 1) as u64, 0.99)),
            _ => None,
        };
        ValueSource { pool, size, zipf }
    }

    pub fn value(&self, rng: &mut SmallRng) -> String {
        let len = match (self.size, &self.zipf) {
            (ValueSize::Fixed(n), _) => n,
            (ValueSize::Uniform { min, max }, _) => rng.random_range(min..=max),
            (ValueSize::Zipfian { min, .. }, Some(z)) => min + z.rank(rng.random::<f64>()) as usize,
            (ValueSize::Zipfian { min, .. }, None) => min,
        };
        let off = rng.random_range(0..VALUE_POOL_SLACK);
        // The pool is ASCII, so any byte range is a valid str.
        self.pool[off..off + len].to_string()
    }
}

/// One unit of work a client issues for a mix entry.
#[derive(Clone, Debug, PartialEq)]
pub enum Work {
    One(Op),
    /// A read, then a write of the same key by the same client (two recorded ops).
    ReadModifyWrite {
        read: Op,
        write: Op,
    },
    /// An insert of a new key: `latest` learns of it once it succeeded.
    Insert(Op),
}

/// Builds workload ops from the scenario's mix, keyspace and value sizes.
pub struct OpGenerator {
    table: String,
    prefix: String,
    start: u64,
    digits: usize,
    mix: Vec<(MixOp, f64)>,
    total_weight: f64,
    keys: KeyChooser,
    scan_length: u32,
    /// Digits a scan drops from a key to get a prefix covering at least `scan_length` keys.
    scan_drop_digits: usize,
    tpcb_branches: u64,
    history_seq: AtomicU64,
}

impl OpGenerator {
    pub fn new(w: &Workload) -> Self {
        let mix: Vec<(MixOp, f64)> = w.mix.iter().filter(|(_, wt)| *wt > 0.0).copied().collect();
        let scan_drop_digits = (w.scan_length.max(1) as f64).log10().ceil() as usize;
        OpGenerator {
            table: w.table.clone(),
            prefix: w.keys.prefix.clone(),
            start: w.keys.start,
            digits: w.key_digits as usize,
            total_weight: mix.iter().map(|(_, wt)| wt).sum(),
            mix,
            keys: KeyChooser::new(w.keys.count, w.key_distribution),
            scan_length: w.scan_length,
            scan_drop_digits,
            tpcb_branches: w.tpcb_branches(),
            history_seq: AtomicU64::new(0),
        }
    }

    pub fn keys(&self) -> &KeyChooser {
        &self.keys
    }

    /// The key for index `i` of the keyspace (indexes past it are inserted keys).
    pub fn key(&self, i: u64) -> String {
        let mut s = String::with_capacity(self.prefix.len() + self.digits.max(8));
        s.push_str(&self.prefix);
        let _ = write!(s, "{:0width$}", self.start + i, width = self.digits);
        s
    }

    /// The table the workload's keyspace lives in (the one the load phase fills).
    pub fn table(&self) -> &str {
        &self.table
    }

    /// The row that loads key `i` before the run (written as `Op::Write` would).
    pub fn load_row(&self, i: u64, values: &ValueSource, rng: &mut SmallRng) -> LoadRow {
        LoadRow {
            key: self.key(i),
            value: values.value(rng),
        }
    }

    fn choose(&self, rng: &mut SmallRng) -> MixOp {
        let mut pick = rng.random::<f64>() * self.total_weight;
        for (m, wt) in &self.mix {
            if pick < *wt {
                return *m;
            }
            pick -= wt;
        }
        self.mix[self.mix.len() - 1].0
    }

    pub fn next(&self, values: &ValueSource, rng: &mut SmallRng) -> Work {
        let table = || self.table.clone();
        match self.choose(rng) {
            MixOp::Read => Work::One(Op::Read {
                table: table(),
                key: self.key(self.keys.pick(rng)),
                consistency: Consistency::Strong,
            }),
            MixOp::Write => Work::One(Op::Write {
                table: table(),
                key: self.key(self.keys.pick(rng)),
                value: values.value(rng),
            }),
            MixOp::InsertIfAbsent => Work::One(Op::InsertIfAbsent {
                table: table(),
                key: self.key(self.keys.pick(rng)),
                value: values.value(rng),
            }),
            MixOp::Delete => Work::One(Op::Delete {
                table: table(),
                key: self.key(self.keys.pick(rng)),
            }),
            MixOp::Increment => Work::One(Op::Increment {
                table: table(),
                key: self.key(self.keys.pick(rng)),
                by: 1,
            }),
            MixOp::Insert => Work::Insert(Op::InsertIfAbsent {
                table: table(),
                key: self.key(self.keys.next_insert()),
                value: values.value(rng),
            }),
            MixOp::Scan => {
                // A prefix of a zero-padded key is a block of consecutive keys; the limit
                // then makes it a short range (the block holding the chosen key).
                let key = self.key(self.keys.pick(rng));
                let keep = key
                    .len()
                    .saturating_sub(self.scan_drop_digits)
                    .max(self.prefix.len());
                Work::One(Op::Query {
                    table: table(),
                    prefix: key[..keep].to_string(),
                    limit: Some(rng.random_range(1..=self.scan_length)),
                })
            }
            MixOp::ReadModifyWrite => {
                let key = self.key(self.keys.pick(rng));
                Work::ReadModifyWrite {
                    read: Op::Read {
                        table: table(),
                        key: key.clone(),
                        consistency: Consistency::Strong,
                    },
                    write: Op::Write {
                        table: table(),
                        key,
                        value: values.value(rng),
                    },
                }
            }
            MixOp::Tpcb => Work::One(self.tpcb(rng)),
        }
    }

    /// pgbench's TPC-B-like transaction: account, teller and branch chosen independently
    /// and uniformly, delta in -5000..=5000.
    fn tpcb(&self, rng: &mut SmallRng) -> Op {
        let [tellers, branches, history] = TPCB_TABLES;
        let aid = rng.random_range(0..self.keys.count);
        let tid = rng.random_range(0..self.tpcb_branches * TPCB_TELLERS_PER_BRANCH);
        let bid = rng.random_range(0..self.tpcb_branches);
        let delta: i64 = rng.random_range(-5000..=5000);
        let account = self.key(aid);
        let seq = self.history_seq.fetch_add(1, Ordering::Relaxed);
        Op::Txn {
            ops: vec![
                Op::Increment {
                    table: self.table.clone(),
                    key: account.clone(),
                    by: delta,
                },
                Op::Read {
                    table: self.table.clone(),
                    key: account,
                    consistency: Consistency::Strong,
                },
                Op::Increment {
                    table: tellers.to_string(),
                    key: format!("teller{tid}"),
                    by: delta,
                },
                Op::Increment {
                    table: branches.to_string(),
                    key: format!("branch{bid}"),
                    by: delta,
                },
                Op::InsertIfAbsent {
                    table: history.to_string(),
                    key: format!("h{seq:012}"),
                    value: format!("{tid} {bid} {aid} {delta}"),
                },
            ],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn zipfian_favours_low_ranks_and_stays_in_range() {
        let z = Zipfian::new(1000, 0.99);
        let mut rng = SmallRng::seed_from_u64(1);
        let mut counts = vec![0u32; 1000];
        for _ in 0..100_000 {
            counts[z.rank(rng.random::<f64>()) as usize] += 1;
        }
        assert!(
            counts[0] > counts[10] && counts[10] > counts[500],
            "{:?}",
            &counts[..12]
        );
        // Rank 0 of a 1000-item zipfian(0.99) draws ≈ 1/zeta(1000) ≈ 13 % of samples.
        assert!((10_000..16_000).contains(&counts[0]), "{}", counts[0]);
    }

    #[test]
    fn zeta_tail_approximation_is_close() {
        let exact: f64 = (1..=2_000_000u64)
            .map(|i| 1.0 / (i as f64).powf(0.99))
            .sum();
        let approx = zeta(2_000_000, 0.99);
        assert!((exact - approx).abs() / exact < 1e-6, "{exact} vs {approx}");
    }

    #[test]
    fn hotspot_sends_the_op_fraction_to_the_hot_set() {
        let k = KeyChooser::new(
            1000,
            KeyDistribution::Hotspot {
                data_fraction: 0.1,
                op_fraction: 0.9,
            },
        );
        let mut rng = SmallRng::seed_from_u64(2);
        let hot = (0..10_000).filter(|_| k.pick(&mut rng) < 100).count();
        assert!((8_800..9_200).contains(&hot), "{hot}");
    }

    #[test]
    fn latest_follows_inserts() {
        let k = KeyChooser::new(1000, KeyDistribution::Latest { theta: 0.99 });
        let mut rng = SmallRng::seed_from_u64(3);
        for _ in 0..50 {
            k.next_insert();
            k.insert_done();
        }
        let picks: Vec<u64> = (0..1000).map(|_| k.pick(&mut rng)).collect();
        assert!(picks.iter().all(|&i| i < 1050));
        let newest = picks.iter().filter(|&&i| i >= 1040).count();
        assert!(
            newest > 300,
            "the newest keys are the most popular: {newest}"
        );
    }

    #[test]
    fn scans_are_prefix_ranges_of_padded_keys() {
        let src = r#"
format = 1
name = "e"
kind = "throughput"
[[setup.tables]]
name = "kv"
[workload]
duration = "1s"
keys = { prefix = "user", count = 10000, digits = 8 }
mix = { scan = 1 }
scan_length = 100
"#;
        let w = assay_core::Scenario::parse(src, "e.toml")
            .unwrap()
            .workload
            .unwrap();
        let g = OpGenerator::new(&w);
        assert_eq!(g.key(42), "user00000042");
        let mut rng = SmallRng::seed_from_u64(4);
        let values = ValueSource::new(w.value_size, &mut rng);
        match g.next(&values, &mut rng) {
            Work::One(Op::Query { prefix, limit, .. }) => {
                assert_eq!(prefix.len(), "user000000".len(), "{prefix}");
                assert!((1..=100).contains(&limit.unwrap()));
            }
            other => panic!("not a scan: {other:?}"),
        }
    }
}
