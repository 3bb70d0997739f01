//! Porcupine's key-value model (`:get` / `:put` / `:append` with `:key` and string
//! values, append = concatenation), checked per key, and the etcd / Knossos
//! cas-register: generated histories with 1, 10 and 50 clients must be linearizable,
//! and the same histories with one get corrupted must not be, with the evidence naming
//! the get that cannot be placed.

use assay_check::edn::{self, DataModel};
use assay_check::generate::{cas_register_edn, kv_edn, CasRegisterWorkload, KvWorkload};
use assay_check::{check_history, Model};
use std::path::Path;

fn kv(clients: u32, ops: usize, corrupt: bool, seed: u64) -> String {
    kv_edn(&KvWorkload {
        clients,
        ops,
        keys: 10,
        indeterminate: 0.0,
        corrupt,
        seed,
    })
}

#[test]
fn generated_kv_histories_with_1_10_and_50_clients() {
    for (clients, ops) in [(1, 500), (10, 1_000), (50, 2_000)] {
        for seed in [1, 2] {
            let h = edn::parse_history(&kv(clients, ops, false, seed)).expect("parses");
            let v = check_history(&h, Model::Linearizable);
            assert!(v.valid, "{clients} clients, seed {seed}:\n{v}");
            assert!(
                v.checked.iter().any(|c| c.contains("linearizability")),
                "{v}"
            );

            let text = kv(clients, ops, true, seed);
            let bad_line = text
                .lines()
                .find(|l| l.contains("never written"))
                .expect("a corrupted get");
            let h = edn::parse_history(&text).expect("parses");
            let v = check_history(&h, Model::Linearizable);
            assert!(
                !v.valid,
                "{clients} clients, seed {seed}: corrupted must fail"
            );
            assert_eq!(v.forbidden_names(), vec!["nonlinearizable"], "{v}");
            let a = &v.anomalies[0];
            assert!(a.explanation.contains("longest linearizable prefix"), "{a}");
            // The op that cannot be placed is the corrupted get.
            let key = bad_line
                .split(":key ")
                .nth(1)
                .and_then(|r| r.split(',').next())
                .unwrap_or("");
            let stuck = a
                .evidence
                .ops
                .iter()
                .find(|o| o.ops.contains("never written"))
                .unwrap_or_else(|| panic!("the corrupted get {key} is in the evidence:\n{a}"));
            assert!(
                a.explanation
                    .contains(&format!("{} cannot be placed", stuck.label)),
                "{a}"
            );
        }
    }
}

fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_stale_get_is_not_linearizable_and_concurrent_appends_are() {
    let h = edn::parse_history(&fixture("kv-stale-get.edn")).expect("parses");
    let v = check_history(&h, Model::Linearizable);
    assert_eq!(v.forbidden_names(), vec!["nonlinearizable"], "{v}");
    let a = &v.anomalies[0];
    assert!(a.explanation.contains("key \"x\""), "{a}");
    assert!(a.explanation.contains("places 2 of 3 ops"), "{a}");
    assert!(a.explanation.contains("leaves the key \"ab\""), "{a}");
    assert!(a.explanation.contains("T3 cannot be placed"), "{a}");
    assert_eq!(a.evidence.ops[2].ops, "[r x \"a\"]", "{a}");

    let h = edn::parse_history(&fixture("kv-concurrent-append.edn")).expect("parses");
    let v = check_history(&h, Model::Linearizable);
    assert!(v.valid, "{v}");
}

#[test]
fn the_data_model_can_be_forced_and_refuses_what_it_does_not_know() {
    let text = "{:process 0, :type :invoke, :f :append, :value [\"k\" \"a\"]}\n{:process 0, :type :ok, :f :append, :value [\"k\" \"a\"]}\n{:process 0, :type :invoke, :f :read, :value [\"k\" nil]}\n{:process 0, :type :ok, :f :read, :value [\"k\" \"a\"]}\n";
    let h = edn::parse_history_as(text, DataModel::KeyValue).expect("parses");
    assert!(check_history(&h, Model::Linearizable).valid);
    let err = edn::parse_history_as(text, DataModel::CasRegister).unwrap_err();
    assert!(err.message.contains(":append"), "{err}");
}

#[test]
fn generated_etcd_cas_register_histories_are_linearizable() {
    for seed in 1..=5 {
        let text = cas_register_edn(&CasRegisterWorkload {
            clients: 5,
            ops: 160,
            crashed: 20,
            values: 5,
            seed,
        });
        let crashed = text.lines().filter(|l| l.contains(":type :info")).count();
        assert!(
            (10..=30).contains(&crashed),
            "seed {seed}: {crashed} crashed"
        );
        let h = edn::parse_history_as(&text, DataModel::CasRegister).expect("parses");
        let v = check_history(&h, Model::Linearizable);
        assert!(v.valid, "seed {seed}:\n{v}");
    }
}
