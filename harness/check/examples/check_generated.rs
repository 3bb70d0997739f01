//! Times the checkers on the benches' generated histories once each (a quick look
//! without criterion): `cargo run --release --example check_generated [DIR]`; with a
//! directory, also writes the etcd and key-value histories there as EDN files (to try
//! `assay check` on them).

use assay_check::generate::{
    cas_register_edn, kv_edn, register_history, CasRegisterWorkload, KvWorkload, RegisterWorkload,
};
use assay_check::{check_history, edn, Model};
use std::time::Instant;

fn main() {
    let out = std::env::args().nth(1).map(std::path::PathBuf::from);
    let save = |name: &str, text: &str| {
        if let Some(dir) = &out {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        }
    };
    let time = |name: &str, events: &[assay_core::HistoryEvent]| {
        let t = Instant::now();
        let v = check_history(events, Model::Linearizable);
        println!("{name}: {:.2?} valid={}", t.elapsed(), v.valid);
        if !v.valid {
            print!("{v}");
        }
    };
    for seed in 1..=10 {
        let text = cas_register_edn(&CasRegisterWorkload {
            clients: 5,
            ops: 160,
            crashed: 20,
            values: 5,
            seed,
        });
        let crashed = text.lines().filter(|l| l.contains(":type :info")).count();
        save(&format!("etcd-{seed}.edn"), &text);
        let h = edn::parse_history(&text).expect("parses");
        time(&format!("etcd seed {seed} ({crashed} crashed)"), &h);
    }
    for keys in [1, 100] {
        let h = register_history(&RegisterWorkload {
            clients: 8,
            ops: 10_000,
            keys,
            indeterminate: 0.05,
            final_reads: true,
            seed: 42,
        });
        time(&format!("register 10k {keys} keys"), &h);
    }
    for (clients, ops) in [(1, 1000), (10, 3000), (50, 5000)] {
        let w = KvWorkload {
            clients,
            ops,
            keys: 10,
            indeterminate: 0.0,
            corrupt: true,
            seed: 42,
        };
        save(&format!("kv-c{clients:02}-bad.edn"), &kv_edn(&w));
        let text = kv_edn(&KvWorkload {
            corrupt: false,
            ..w
        });
        save(&format!("kv-c{clients:02}-ok.edn"), &text);
        let h = edn::parse_history(&text).expect("parses");
        time(&format!("kv {clients} clients {ops} ops"), &h);
    }
}
