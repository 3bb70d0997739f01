//! The compare against a brute-force diff (the oracle) on small random tables: every
//! missing row and every changed column is found, nothing else, whatever the bounds
//! (leaf size, parents per pass, rows per pass) make the bisection do. Plus the recheck:
//! a difference that heals during the pause is cleared, one that stays is kept.

use assay_core::verify::{
    digest::{Bucket, BucketSet, Digests},
    CanonicalRow, Kind, PlanColumn, SidePlan, SourceStats, StoredAs, TableShape, TableSource,
    Value, VerifyError,
};
use assay_verify::compare::{compare, DiffKind, Options, Side};
use async_trait::async_trait;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;
use std::time::Duration;

type Table = BTreeMap<String, (Vec<Value>, Vec<Value>)>;

/// A table in memory, read through the same seam the drivers implement.
struct MemSource {
    rows: Mutex<Table>,
    calls: Mutex<u64>,
}

impl MemSource {
    fn new(rows: Table) -> MemSource {
        MemSource {
            rows: Mutex::new(rows),
            calls: Mutex::new(0),
        }
    }

    fn canonical(&self) -> Vec<CanonicalRow> {
        *self.calls.lock().unwrap() += 1;
        self.rows
            .lock()
            .unwrap()
            .values()
            .map(|(k, c)| CanonicalRow::from_values(k, c))
            .collect()
    }
}

#[async_trait]
impl TableSource for MemSource {
    fn family(&self) -> &'static str {
        "memory"
    }
    async fn describe(&self, _: &str) -> Result<TableShape, VerifyError> {
        unreachable!("the test builds its plans itself")
    }
    async fn prepare(&self, _: &SidePlan) -> Result<(), VerifyError> {
        Ok(())
    }
    async fn digests(&self, _: &SidePlan, within: &BucketSet) -> Result<Digests, VerifyError> {
        let mut out = Digests::new();
        for row in self.canonical() {
            let h = row.key_hash();
            if within.contains(h) {
                out.entry(Bucket::of(h, within.level() + 1))
                    .or_default()
                    .add_row(row.row_hash());
            }
        }
        Ok(out)
    }
    async fn rows(
        &self,
        _: &SidePlan,
        buckets: &BucketSet,
    ) -> Result<Vec<CanonicalRow>, VerifyError> {
        Ok(self
            .canonical()
            .into_iter()
            .filter(|r| buckets.contains(r.key_hash()))
            .collect())
    }
    async fn rows_by_key(
        &self,
        _: &SidePlan,
        keys: &[Vec<Value>],
    ) -> Result<Vec<CanonicalRow>, VerifyError> {
        let wanted: BTreeSet<String> = keys
            .iter()
            .map(|k| assay_core::verify::value::encode_all(k))
            .collect();
        Ok(self
            .canonical()
            .into_iter()
            .filter(|r| wanted.contains(&r.key))
            .collect())
    }
    fn stats(&self) -> SourceStats {
        SourceStats::default()
    }
}

fn plan(columns: usize) -> SidePlan {
    let col = |name: &str| PlanColumn {
        name: name.into(),
        path: vec![name.into()],
        kind: Some(Kind::Text),
        stored_as: StoredAs::Native,
        native_type: None,
    };
    SidePlan {
        table: "t".into(),
        key: vec![col("k")],
        columns: (0..columns).map(|i| col(&format!("c{i}"))).collect(),
    }
}

fn random_value(rng: &mut SmallRng) -> Value {
    match rng.random_range(0..5) {
        0 => Value::Null,
        1 => Value::Number(rng.random_range(-50..50).to_string()),
        2 => Value::Text(format!("t{}", rng.random_range(0..20))),
        3 => Value::Bool(rng.random()),
        _ => Value::Timestamp(rng.random_range(-5..5) * 1_000_000_000),
    }
}

fn key(i: u32, text_keys: bool) -> Vec<Value> {
    vec![if text_keys {
        Value::Text(format!("key-{i}"))
    } else {
        Value::Number(i.to_string())
    }]
}

fn insert(t: &mut Table, k: Vec<Value>, cols: Vec<Value>) {
    t.insert(assay_core::verify::value::encode_all(&k), (k, cols));
}

/// (key encoding, kind, changed column names) of every difference, brute force.
fn oracle(a: &Table, b: &Table, names: &[String]) -> BTreeSet<(String, DiffKind, Vec<String>)> {
    let mut out = BTreeSet::new();
    for (k, (_, ca)) in a {
        match b.get(k) {
            None => {
                out.insert((k.clone(), DiffKind::MissingInTarget, vec![]));
            }
            Some((_, cb)) if ca != cb => {
                let changed = names
                    .iter()
                    .zip(ca.iter().zip(cb))
                    .filter(|(_, (x, y))| x != y)
                    .map(|(n, _)| n.clone())
                    .collect();
                out.insert((k.clone(), DiffKind::Changed, changed));
            }
            Some(_) => {}
        }
    }
    for k in b.keys().filter(|k| !a.contains_key(*k)) {
        out.insert((k.clone(), DiffKind::MissingInSource, vec![]));
    }
    out
}

#[tokio::test]
async fn the_compare_finds_exactly_what_brute_force_finds() {
    let mut rng = SmallRng::seed_from_u64(0x5eed_0fa5_5a70);
    for case in 0..300 {
        let columns = rng.random_range(0..4);
        let text_keys = rng.random();
        let n = rng.random_range(0..400);
        let mut a = Table::new();
        for i in 0..n {
            let cols = (0..columns).map(|_| random_value(&mut rng)).collect();
            insert(&mut a, key(i, text_keys), cols);
        }
        let mut b = a.clone();
        let edits = if rng.random_bool(0.2) {
            0
        } else {
            rng.random_range(1..30)
        };
        for _ in 0..edits {
            let i = rng.random_range(0..n + 20);
            match rng.random_range(0..3) {
                0 => {
                    b.remove(&assay_core::verify::value::encode_all(&key(i, text_keys)));
                }
                1 => {
                    let cols = (0..columns).map(|_| random_value(&mut rng)).collect();
                    insert(&mut b, key(i, text_keys), cols);
                }
                _ if columns > 0 => {
                    let k = assay_core::verify::value::encode_all(&key(i, text_keys));
                    if let Some((_, cols)) = b.get_mut(&k) {
                        cols[rng.random_range(0..columns)] = random_value(&mut rng);
                    }
                }
                _ => {}
            }
        }
        let plan = plan(columns);
        let names: Vec<String> = plan.columns.iter().map(|c| c.name.clone()).collect();
        let want = oracle(&a, &b, &names);
        let opts = Options {
            leaf_rows: [0, 1, 3, 4096][rng.random_range(0..4)],
            parents_per_pass: [1, 2, 256][rng.random_range(0..3)],
            rows_per_pass: [1, 5, 1000][rng.random_range(0..3)],
            first: usize::MAX,
            ..Options::default()
        };
        let (sa, sb) = (MemSource::new(a.clone()), MemSource::new(b.clone()));
        let out = compare(
            Side {
                source: &sa,
                plan: &plan,
            },
            Side {
                source: &sb,
                plan: &plan,
            },
            &opts,
            &|_| {},
        )
        .await
        .unwrap();
        let got: BTreeSet<(String, DiffKind, Vec<String>)> = out
            .first
            .iter()
            .map(|d| {
                (
                    assay_core::verify::value::encode_all(&d.key),
                    d.kind,
                    d.columns.iter().map(|c| c.column.clone()).collect(),
                )
            })
            .collect();
        assert_eq!(got, want, "case {case}: {opts:?}");
        assert_eq!(out.totals.total(), want.len() as u64, "case {case}");
        assert_eq!(out.equal(), want.is_empty());
        assert_eq!(
            (out.source_rows, out.target_rows),
            (a.len() as u64, b.len() as u64)
        );
        // First differences come in key order.
        let keys: Vec<&Vec<Value>> = out.first.iter().map(|d| &d.key).collect();
        assert!(
            keys.windows(2)
                .all(|w| w[0][0].cmp_canonical(&w[1][0]).is_le()),
            "case {case}"
        );
        // An equal table needs one pass and nothing more.
        if want.is_empty() {
            assert_eq!(out.row_passes, 0, "case {case}");
        }
    }
}

#[tokio::test]
async fn only_the_first_ten_are_listed_but_all_are_counted() {
    let mut a = Table::new();
    for i in 0..1000 {
        insert(&mut a, key(i, false), vec![Value::Text(format!("v{i}"))]);
    }
    let mut b = a.clone();
    for i in (0..1000).step_by(7) {
        b.remove(&assay_core::verify::value::encode_all(&key(i, false)));
    }
    let (sa, sb) = (MemSource::new(a), MemSource::new(b));
    let plan = plan(1);
    let out = compare(
        Side {
            source: &sa,
            plan: &plan,
        },
        Side {
            source: &sb,
            plan: &plan,
        },
        &Options::default(),
        &|_| {},
    )
    .await
    .unwrap();
    assert_eq!(out.totals.missing_in_target, 143);
    let shown: Vec<String> = out.first.iter().map(|d| d.key[0].display()).collect();
    assert_eq!(
        shown,
        ["0", "7", "14", "21", "28", "35", "42", "49", "56", "63"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_recheck_clears_what_caught_up_and_keeps_what_did_not() {
    let mut a = Table::new();
    for i in 0..100 {
        insert(&mut a, key(i, false), vec![Value::Number(i.to_string())]);
    }
    let mut b = a.clone();
    insert(&mut b, key(5, false), vec![Value::Number("-1".into())]);
    b.remove(&assay_core::verify::value::encode_all(&key(9, false)));
    let sa = MemSource::new(a);
    let sb = std::sync::Arc::new(MemSource::new(b));
    // During the pause, "replication" brings key 9 over; key 5 stays wrong.
    let healer = {
        let sb = sb.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            insert(
                &mut sb.rows.lock().unwrap(),
                key(9, false),
                vec![Value::Number("9".into())],
            );
        })
    };
    let plan = plan(1);
    let opts = Options {
        recheck_after: Some(Duration::from_millis(400)),
        ..Options::default()
    };
    let out = compare(
        Side {
            source: &sa,
            plan: &plan,
        },
        Side {
            source: &*sb,
            plan: &plan,
        },
        &opts,
        &|_| {},
    )
    .await
    .unwrap();
    healer.await.unwrap();
    let rc = out.recheck.unwrap();
    assert_eq!((rc.rechecked, rc.cleared, rc.not_rechecked), (2, 1, 0));
    assert_eq!(out.totals.total(), 1);
    assert_eq!(out.first[0].key[0].display(), "5");
    assert_eq!(out.first[0].columns[0].column, "c0");
}

#[tokio::test]
async fn a_key_that_is_not_unique_is_bad_input() {
    let plan = plan(0);
    let dup = CanonicalRow::from_values(&key(1, false), &[]);
    let e = assay_verify::compare::diff_rows(vec![dup.clone(), dup], vec![], &[]).unwrap_err();
    assert_eq!(e.kind, assay_core::verify::VerifyErrorKind::Input);
    assert!(e.message.starts_with("--key:"), "{e}");
    let _ = plan;
}
