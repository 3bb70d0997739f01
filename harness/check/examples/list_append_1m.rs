//! Generates Elle's list-append workload with 1M transactions (16 clients, 1 % failed,
//! 1 % indeterminate, final reads) and checks it as serializable, printing the time of
//! each phase; run under `/usr/bin/time -v` for the peak RSS (issue #14: ≤ 3 s and
//! ≤ 1 GiB). `ASSAY_TXNS` overrides the count; a first argument names another model.

use assay_check::generate::{list_append_history, ListAppendWorkload};
use assay_check::{check_history, Model};
use std::time::Instant;

fn main() {
    let txns = std::env::var("ASSAY_TXNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let model: Model = match std::env::args().nth(1) {
        Some(m) => m.parse().unwrap_or_else(|e| panic!("{e}")),
        None => Model::Serializable,
    };
    let t = Instant::now();
    let events = list_append_history(&ListAppendWorkload {
        clients: 16,
        txns,
        active_keys: 16,
        appends_per_key: 128,
        max_ops_per_txn: 4,
        failed: 0.01,
        indeterminate: 0.01,
        final_reads: true,
        seed: 42,
    });
    println!(
        "generated {txns} txns ({} events) in {:.2?}{}",
        events.len(),
        t.elapsed(),
        peak_rss()
    );
    let t = Instant::now();
    let v = check_history(&events, model);
    println!("checked in {:.2?}{}", t.elapsed(), peak_rss());
    print!("{v}");
    if !v.valid {
        std::process::exit(1);
    }
}

/// The peak RSS so far, where the kernel reports it (Linux's `VmHWM`), as ", peak RSS …".
fn peak_rss() -> String {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .map(|v| format!(", peak RSS {}", v.trim()))
        })
        .unwrap_or_default()
}
