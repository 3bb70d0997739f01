//! The bulk load (`Driver::bulk_load`, batched mutations) against the Cloud Spanner
//! emulator: every row lands with its value, also across several commits.

mod common;

use assay_core::{Driver, LoadRow, Op, OpValue, Record};
use common::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batched_mutations_land_every_row() {
    let Some(emu) = emulator().await else { return };
    let d = driver(&emu, "bulk").await;
    d.setup(&[table("kv")]).await.expect("setup");
    let path = d.bulk_load_path();
    assert_eq!((path.method, path.writers), ("batched mutations", 1));
    let rows: Vec<LoadRow> = (0..4_500u64)
        .map(|i| LoadRow {
            key: format!("user{i:06}"),
            value: format!("value {i}"),
        })
        .collect();
    // 4,500 rows: three commits (2,000 + 2,000 + 500).
    assert_eq!(d.bulk_load("kv", &rows).await, Ok(4_500));
    let all = d
        .execute(&Op::Query {
            table: "kv".into(),
            prefix: "user".into(),
            limit: None,
        })
        .await;
    assert_ok(&all);
    let OpValue::Records(found) = all.value else {
        panic!("a query returns records")
    };
    assert_eq!(found.len(), 4_500);
    for i in [0u64, 1_999, 2_000, 4_499] {
        let key = format!("user{i:06}");
        assert_eq!(
            record(d.execute(&read("kv", &key)).await),
            Some(Record {
                key: key.clone(),
                value: Some(format!("value {i}")),
                version: Some(1),
                counter: None,
                list: None,
            }),
            "{key}"
        );
    }
    d.teardown().await.expect("teardown");
    emu.stop().await;
}
