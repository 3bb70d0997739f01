//! Native checks as a typed registry, as a user meets it: `assay validate` refuses a
//! misspelt check or a mistyped / out-of-range parameter with `file:line:col` and the
//! known names (exit 2), every shipped scenario still validates, and `assay checks` lists
//! every family's checks.

use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

struct Output {
    code: i32,
    stdout: String,
    stderr: String,
}

fn assay(args: &[&str]) -> Output {
    let out = Command::new(env!("CARGO_BIN_EXE_assay"))
        .current_dir(root())
        .env("NO_COLOR", "1")
        .args(args)
        .output()
        .expect("assay runs");
    Output {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A one-step DynamoDB conformance scenario: `native` and `params` on lines 7 and 8.
fn scenario(native: &str, params: &str) -> String {
    format!(
        "format = 1\nname = \"typo\"\nkind = \"conformance\"\n\n[[steps]]\nname = \"gsi\"\nnative = \"{native}\"\nparams = {params}\ndocumented = \"a GSI query returns the matching items\"\ncite = \"https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html\"\n"
    )
}

fn validate(text: &str) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("typo.toml");
    std::fs::write(&path, text).unwrap();
    (assay(&["validate", path.to_str().unwrap()]), path, dir)
}

#[test]
fn a_misspelt_check_is_located_and_names_the_known_checks() {
    let (out, path, _dir) = validate(&scenario("dynamodb.gsi_qurey", "{ items = 20 }"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let want = format!("{}:7:10:", path.display());
    assert!(out.stderr.contains(&want), "want {want} in {}", out.stderr);
    assert!(out.stderr.contains("gsi_query"), "{}", out.stderr);
    assert!(out.stderr.contains("gsi_propagation_lag"), "{}", out.stderr);
    assert_eq!(out.stderr.lines().count(), 1, "one line: {}", out.stderr);
    // `run` refuses it before starting anything.
    let out = assay(&["run", path.to_str().unwrap(), "--target", "dynamodb-moto"]);
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(&want), "{}", out.stderr);
}

#[test]
fn an_unknown_family_names_the_known_families() {
    let (out, path, _dir) = validate(&scenario("dynamo.gsi_query", "{}"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains(&format!("{}:7:10:", path.display())));
    for family in [
        "cosmos", "dynamodb", "mysql", "postgres", "security", "spanner", "sql",
    ] {
        assert!(out.stderr.contains(family), "{family}: {}", out.stderr);
    }
}

#[test]
fn a_string_where_a_count_is_expected_names_the_type_and_range() {
    let (out, path, _dir) = validate(&scenario("dynamodb.gsi_query", "{ items = \"twenty\" }"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    let want = format!("{}:8:20:", path.display());
    assert!(out.stderr.contains(&want), "want {want} in {}", out.stderr);
    assert!(out.stderr.contains("params.items"), "{}", out.stderr);
    assert!(
        out.stderr.contains("count (whole number) from 2 to 1000"),
        "{}",
        out.stderr
    );
}

#[test]
fn unknown_and_out_of_range_params_are_located() {
    let (out, path, _dir) = validate(&scenario("dynamodb.gsi_query", "{ itmes = 20 }"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:8:12:", path.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("items, max_wait_ms"), "{}", out.stderr);

    let (out, path, _dir) = validate(&scenario("dynamodb.gsi_query", "{ items = 1000000 }"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains(&format!("{}:8:20:", path.display())),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("out of range"), "{}", out.stderr);

    let (out, _path, _dir) = validate(&scenario("sql.slt", "{}"));
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(out.stderr.contains("needs params.file"), "{}", out.stderr);
}

#[test]
fn valid_params_and_every_shipped_scenario_validate() {
    let (out, _path, _dir) = validate(&scenario("dynamodb.gsi_query", "{ items = 20 }"));
    assert_eq!(out.code, 0, "{}", out.stderr);
    let out = assay(&["validate", "scenarios"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("scenario file(s) valid"),
        "{}",
        out.stdout
    );
}

#[test]
fn checks_lists_every_family_with_params_and_as_json() {
    let out = assay(&["checks"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    for needle in [
        "dynamodb.gsi_query",
        "spanner.rmw_counter",
        "cosmos.change_feed",
        "sql.slt",
        "sql.replica_lag",
        "mysql.slt",
        "2..=1000",
        "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html",
    ] {
        assert!(out.stdout.contains(needle), "{needle}: {}", out.stdout);
    }
    assert_eq!(assay(&["targets", "--checks"]).stdout, out.stdout);

    let out = assay(&["checks", "--json"]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["schema_version"], 1);
    let families: Vec<&str> = v["families"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["family"].as_str().unwrap())
        .collect();
    assert_eq!(
        families,
        ["dynamodb", "spanner", "cosmos", "sql", "postgres", "mysql", "security"]
    );
}
