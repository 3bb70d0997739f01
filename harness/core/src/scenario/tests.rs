//! Parsing tests: valid scenarios, located errors, workloads, native steps.

use super::*;
use crate::capability::Capability;
use crate::isolation_level::IsolationLevel;
use crate::native::{CheckSpec, FamilyChecks, ParamSpec};
use crate::op::Op;
use std::time::Duration;

const SMOKE: &str = r#"
format = 1
name = "smoke"
kind = "conformance"
thresholds = ["p99 < 2s"]

[[setup.tables]]
name = "kv"

[[steps]]
name = "insert"
op = "write"
keys = { prefix = "k", count = 3 }
value = "v-{i}"
clients = 2
expect = { outcome = "ok" }

[[steps]]
name = "read back"
op = "read"
keys = { prefix = "k", count = 3 }
expect = { outcome = "ok", value = "v-{i}" }
"#;

#[test]
fn a_valid_scenario_parses() {
    let s = Scenario::parse(SMOKE, "smoke.toml").unwrap();
    assert_eq!(s.steps.len(), 2);
    assert_eq!(s.steps[0].table, "kv");
    assert_eq!(
        s.steps[0].op_at(2),
        Op::Write {
            table: "kv".into(),
            key: "k2".into(),
            value: "v-2".into()
        }
    );
    assert_eq!(s.steps[1].expected_value(1).as_deref(), Some("v-1"));
    assert_eq!(s.checks, vec![CheckKind::Expectations]);
    assert_eq!(
        s.required_capabilities(),
        vec![Capability::Read, Capability::Write]
    );
}

fn err(src: &str) -> ScenarioError {
    Scenario::parse(src, "bad.toml").unwrap_err()
}

#[test]
fn native_steps_keep_their_place_params_and_citation() {
    let src = format!(
        "{SMOKE}\n[[steps]]\nname = \"gsi\"\nnative = \"dynamodb.gsi_query\"\nparams = {{ items = 20, index = \"by_v\" }}\ndocumented = \"a GSI query returns the matching items\"\ncite = \"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html\"\ntimeout = \"30s\"\n"
    );
    let s = Scenario::parse(&src, "n.toml").unwrap();
    assert_eq!(s.native.len(), 1);
    let n = &s.native[0];
    assert_eq!(
        (n.family.as_str(), n.check.as_str()),
        ("dynamodb", "gsi_query")
    );
    assert_eq!(n.after, s.steps.len());
    assert_eq!(n.param_u64("items", 0), 20);
    assert_eq!(n.params["index"], "by_v");
    assert_eq!(n.timeout, Duration::from_secs(30));
}

#[test]
fn native_steps_need_a_family_documented_behaviour_and_citation() {
    let base = "format = 1\nname = \"n\"\nkind = \"conformance\"\n[[steps]]\nname = \"s\"\n";
    let e = err(&format!(
        "{base}native = \"gsi\"\ndocumented = \"d\"\ncite = \"https://x\"\n"
    ));
    assert!(e.message.contains("family.check"), "{}", e.message);
    let e = err(&format!(
        "{base}native = \"dynamodb.gsi\"\ncite = \"https://x\"\n"
    ));
    assert!(e.message.contains("documented"), "{}", e.message);
    let e = err(&format!(
        "{base}native = \"dynamodb.gsi\"\ndocumented = \"d\"\n"
    ));
    assert!(e.message.contains("cite"), "{}", e.message);
    let e = err(&format!("{base}native = \"dynamodb.gsi\"\nop = \"read\"\ndocumented = \"d\"\ncite = \"https://x\"\n"));
    assert!(e.message.contains("not both"), "{}", e.message);
    let e = err(&format!(
        "{}documented = \"d\"\n",
        base.replace("[[steps]]", "[[setup.tables]]\nname = \"kv\"\n[[steps]]")
    ));
    assert!(e.message.contains("native"), "{}", e.message);
    // A native-only scenario needs no tables.
    let ok = format!("{base}native = \"dynamodb.gsi\"\ndocumented = \"d\"\ncite = \"https://x\"\n");
    assert_eq!(Scenario::parse(&ok, "n.toml").unwrap().native.len(), 1);
}

#[test]
fn unknown_field_is_located() {
    let src = SMOKE.replace("clients = 2", "clients = 2\ncolour = \"red\"");
    let e = err(&src);
    assert_eq!((e.line, e.file.as_str()), (16, "bad.toml"));
    assert!(e.message.contains("unknown field `colour`"), "{e}");
    assert!(e.to_string().starts_with("bad.toml:16:"), "{e}");
}

#[test]
fn wrong_type_is_located() {
    let e = err(&SMOKE.replace("clients = 2", "clients = \"two\""));
    assert_eq!(e.line, 15);
    assert!(e.message.contains("invalid type"), "{e}");
}

#[test]
fn bad_toml_is_located() {
    let e = err(&SMOKE.replace("name = \"kv\"", "name = \"kv"));
    assert_eq!(e.line, 8);
}

#[test]
fn semantic_errors_are_located() {
    let e = err(&SMOKE.replace("op = \"read\"", "op = \"reed\""));
    assert_eq!((e.line, e.col), (20, 6));
    assert!(e.message.contains("unknown op `reed`"), "{e}");

    let e = err(&SMOKE.replace("p99 < 2s", "p99 < soon"));
    assert_eq!(e.line, 5);

    let e = err(&SMOKE.replace("format = 1", "format = 2"));
    assert_eq!(e.line, 2);
}

#[test]
fn a_consistency_section_parses_and_needs_a_model() {
    let src = r#"
format = 1
name = "la"
kind = "consistency"
isolation = "read_committed"
checks = ["serializable"]

[[setup.tables]]
name = "lists"

[consistency]
workload = "list-append"
ops = 100
duration = "5s"
"#;
    let s = Scenario::parse(src, "la.toml").unwrap();
    let c = s.consistency.as_ref().unwrap();
    assert_eq!(c.kind, ConsistencyWorkloadKind::ListAppend);
    assert_eq!((c.clients, c.keys, c.max_txn_ops), (8, 8, 4));
    assert_eq!(s.isolation, Some(IsolationLevel::ReadCommitted));
    assert_eq!(s.checks, vec![CheckKind::Serializable]);
    assert!(s.required_capabilities().contains(&Capability::Txn));

    let e =
        Scenario::parse(&src.replace("checks = [\"serializable\"]\n", ""), "la.toml").unwrap_err();
    assert!(e.message.contains("needs a model"), "{e}");
    let e = Scenario::parse(&src.replace("serializable\"]", "acid\"]"), "la.toml").unwrap_err();
    assert!(e.message.contains("unknown variant `acid`"), "{e}");
}

#[test]
fn families_limit_a_scenario_and_levels_have_their_models() {
    let src = r#"
format = 1
name = "rr"
kind = "consistency"
families = ["mysql"]
isolation = "repeatable_read"
checks = ["repeatable-read", "read-uncommitted"]

[[setup.tables]]
name = "lists"

[consistency]
workload = "list-append"
ops = 100
duration = "5s"
"#;
    let s = Scenario::parse(src, "rr.toml").unwrap();
    assert_eq!(s.families, vec![crate::target::Family::Mysql]);
    assert_eq!(
        s.checks,
        vec![CheckKind::RepeatableRead, CheckKind::ReadUncommitted]
    );
    assert_eq!(s.checks[0].model_name(), Some("repeatable-read"));
    assert_eq!(s.checks[1].model_name(), Some("read-uncommitted"));
    let all = Scenario::parse(&src.replace("families = [\"mysql\"]\n", ""), "rr.toml").unwrap();
    assert!(all.families.is_empty());
    let e = Scenario::parse(&src.replace("[\"mysql\"]", "[\"oracle\"]"), "rr.toml").unwrap_err();
    assert!(e.message.contains("unknown variant `oracle`"), "{e}");
}

#[test]
fn line_col_counts_characters() {
    assert_eq!(line_col("ab\ncd", 4), (2, 2));
    assert_eq!(line_col("é\nx", 0), (1, 1));
}

const WORKLOAD_BASE: &str = "format = 1\nname = \"w\"\nkind = \"throughput\"\n[[setup.tables]]\nname = \"kv\"\n[workload]\n";

fn workload(body: &str) -> Result<Workload, ScenarioError> {
    Scenario::parse(&format!("{WORKLOAD_BASE}{body}"), "w.toml").map(|s| s.workload.unwrap())
}

#[test]
fn a_format_1_closed_loop_workload_keeps_its_meaning() {
    let w = workload("clients = 8\nduration = \"10s\"\nmax_ops = 50000\nkeys = { prefix = \"user\", count = 1000 }\nmix = { read = 0.9, write = 0.1 }\nvalue_size = 100").unwrap();
    assert_eq!(
        (w.mode, w.clients, w.duration),
        (LoadMode::Closed, 8, Duration::from_secs(10))
    );
    assert_eq!(
        (w.warmup, w.key_digits, w.history, w.load),
        (Duration::ZERO, 0, true, false)
    );
    assert_eq!(w.key_distribution, KeyDistribution::Uniform);
    assert_eq!(w.value_size, ValueSize::Fixed(100));
    assert_eq!(w.mix, vec![(MixOp::Read, 0.9), (MixOp::Write, 0.1)]);
    assert_eq!(w.timeline(), Duration::from_secs(10));
}

#[test]
fn open_loop_stages_and_distributions_parse() {
    let w = workload("rate = 100\nmax_in_flight = 32\nwarmup = \"5s\"\nstages = [{ duration = \"10s\", target = 1000 }, { duration = \"20s\", target = 1000 }]\nkeys = { prefix = \"user\", count = 1000, digits = 8, distribution = \"hotspot\", hot_data_fraction = 0.1 }\nmix = { scan = 0.95, insert = 0.05 }\nvalue_size = { min = 10, max = 100, distribution = \"zipfian\" }").unwrap();
    assert_eq!(
        (w.mode, w.rate, w.max_in_flight),
        (LoadMode::Open, 100.0, 32)
    );
    assert_eq!(w.stages.len(), 2);
    assert_eq!(
        (w.timeline(), w.duration),
        (Duration::from_secs(30), Duration::from_secs(25))
    );
    assert_eq!(
        w.key_distribution,
        KeyDistribution::Hotspot {
            data_fraction: 0.1,
            op_fraction: 0.8
        }
    );
    assert_eq!(w.value_size, ValueSize::Zipfian { min: 10, max: 100 });
    assert_eq!(
        w.capabilities(),
        vec![Capability::InsertIfAbsent, Capability::Query]
    );
}

#[test]
fn bad_workloads_say_how_to_fix_them() {
    for (body, needle) in [
        ("keys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "give `duration"),
        ("rate = 10\nclients = 2\nduration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "closed loop"),
        ("max_in_flight = 2\nduration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "open loop"),
        ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { scan = 1 }", "digits"),
        ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { tpcb = 1 }", "tellers"),
        ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10, distribution = \"gauss\" }\nmix = { read = 1 }", "uniform, zipfian, latest or hotspot"),
        ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 1000, digits = 2 }\nmix = { read = 1 }", "raise `digits`"),
        ("duration = \"1s\"\nstages = [{ duration = \"1s\", target = 2 }]\nkeys = { prefix = \"k\", count = 10 }\nmix = { read = 1 }", "remove `duration`"),
        ("duration = \"1s\"\nkeys = { prefix = \"k\", count = 10 }\nmix = { upsert = 1 }", "not a workload op"),
    ] {
        let e = workload(body).unwrap_err();
        assert!(e.message.contains(needle), "{body}: {e}");
        assert!(e.line >= 6, "located in the workload: {e}");
    }
}

const GSI_QUERY: CheckSpec = CheckSpec {
    name: "gsi_query",
    summary: "a GSI query returns the matching items",
    params: &[
        ParamSpec::count("items", 20, 2, 1_000, "items written"),
        ParamSpec::count("max_wait_ms", 10_000, 1, 3_600_000, "wait for the index"),
    ],
    cite: "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html",
};
const REGISTRY: &[FamilyChecks] = &[FamilyChecks {
    family: "dynamodb",
    checks: &[GSI_QUERY],
}];

fn native(line: &str) -> String {
    format!(
        "format = 1\nname = \"n\"\nkind = \"conformance\"\n[[steps]]\nname = \"s\"\n{line}\ndocumented = \"d\"\ncite = \"https://x\"\n"
    )
}

fn checked(src: &str) -> Result<Scenario, ScenarioError> {
    Scenario::parse_with(src, "n.toml", REGISTRY)
}

#[test]
fn native_steps_are_checked_against_the_registry_at_their_location() {
    // A misspelt check: located at the `native` value, naming the known checks.
    let src = native("native = \"dynamodb.gsi_qurey\"");
    let e = checked(&src).unwrap_err();
    assert_eq!((e.line, e.col), (6, 10), "{e}");
    assert!(e.message.contains("gsi_query"), "{e}");
    assert!(e.message.contains("step `s`"), "{e}");
    // Without the registry it parses (core knows no driver).
    assert!(Scenario::parse(&src, "n.toml").is_ok());

    let e = checked(&native("native = \"dynamo.gsi_query\"")).unwrap_err();
    assert!(e.message.contains("known families: dynamodb"), "{e}");

    // A string where a count is expected: located at the value.
    let e = checked(&native(
        "native = \"dynamodb.gsi_query\"\nparams = { items = \"twenty\" }",
    ))
    .unwrap_err();
    assert_eq!((e.line, e.col), (7, 20), "{e}");
    assert!(
        e.message.contains("a count (whole number) from 2 to 1000"),
        "{e}"
    );

    // An unknown parameter: located at its name, naming the known ones.
    let e = checked(&native(
        "native = \"dynamodb.gsi_query\"\nparams = { items = 5, itmes = 5 }",
    ))
    .unwrap_err();
    assert_eq!((e.line, e.col), (7, 23), "{e}");
    assert!(e.message.contains("items, max_wait_ms"), "{e}");

    // Out of range, in a `[steps.params]` table.
    let e = checked(&format!(
        "{}[steps.params]\nitems = 5000\n",
        native("native = \"dynamodb.gsi_query\"")
    ))
    .unwrap_err();
    assert_eq!((e.line, e.col), (10, 9), "{e}");
    assert!(e.message.contains("out of range"), "{e}");

    // Valid params (and none at all) pass; values are kept as given.
    let s = checked(&native(
        "native = \"dynamodb.gsi_query\"\nparams = { items = 5 }",
    ))
    .unwrap();
    assert_eq!(s.native[0].params["items"], 5);
    assert!(checked(&native("native = \"dynamodb.gsi_query\"")).is_ok());
}

#[test]
fn fault_schedules_parse_with_their_undo_and_bad_ones_are_located() {
    let with = |faults: &str| format!("{SMOKE}\n{faults}");
    let s = Scenario::parse(
        &with("[[faults]]\nkind = \"pause\"\nat = \"1s\"\nduration = \"200ms\"\nevery = \"1s\"\ntimes = 3\n\n[[faults]]\nkind = \"latency\"\nat = \"500ms\"\nlatency = \"40ms\"\njitter = \"5ms\"\ndirection = \"upstream\"\non = \"replica\"\n"),
        "f.toml",
    )
    .unwrap();
    assert_eq!(s.faults.len(), 2);
    let pause = &s.faults[0];
    assert_eq!(pause.kind.undo(), Some(FaultKind::Resume));
    assert_eq!(
        pause.firings(),
        vec![
            Duration::from_secs(1),
            Duration::from_secs(2),
            Duration::from_secs(3)
        ]
    );
    let latency = &s.faults[1];
    assert_eq!(
        (latency.latency, latency.on, latency.direction),
        (
            Duration::from_millis(40),
            FaultOn::Replica,
            FaultDirection::Upstream
        )
    );
    for (faults, says) in [
        (
            "[[faults]]\nkind = \"latency\"\nat = \"1s\"\n",
            "needs `latency`",
        ),
        (
            "[[faults]]\nkind = \"heal\"\nat = \"1s\"\nduration = \"1s\"\n",
            "nothing to undo",
        ),
        (
            "[[faults]]\nkind = \"pause\"\nat = \"1s\"\ntimes = 2\n",
            "`times` needs `every`",
        ),
        (
            "[[faults]]\nkind = \"pause\"\nat = \"1s\"\nduration = \"2s\"\nevery = \"1s\"\n",
            "never heals",
        ),
        (
            "[[faults]]\nkind = \"partition\"\nat = \"1s\"\ntoxicity = 2.0\n",
            "share between 0 and 1",
        ),
        (
            "[[faults]]\nkind = \"kill\"\nat = \"later\"\n",
            "not a duration",
        ),
    ] {
        let e = err(&with(faults));
        assert!(e.message.contains(says), "{faults}: {}", e.message);
        assert!(e.line > 1, "located: {e:?}");
    }
}
