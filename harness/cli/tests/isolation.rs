//! `assay run` of the Hermitage-style isolation suite on both SQL families: one matrix with
//! every test × each backend's levels (MariaDB's twice where it has
//! `innodb_snapshot_isolation`), exit 0 when every cell matches its documented verdict; and
//! exit 1 with the evidence when one expectation is wrong.

mod common;

use assay_core::LocalBackend;
use common::{assay, root};

fn backends_here() -> bool {
    [LocalBackend::Postgres, LocalBackend::Mysql]
        .into_iter()
        .all(|b| assay_emulators::testing::backend_available(b, &root()))
}

#[test]
fn the_suite_on_postgres_and_mariadb_is_one_matrix_side_by_side() {
    if !backends_here() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = assay(&[
        "run",
        "scenarios/conformance/isolation",
        "--target",
        "postgres,mysql",
        "--out",
        dir.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(
        stdout.contains("isolation matrix, side by side:\n"),
        "{stdout}"
    );
    let header = stdout
        .lines()
        .find(|l| l.starts_with("anomaly "))
        .unwrap_or_else(|| panic!("a header line: {stdout}"));
    let columns: Vec<&str> = header
        .split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        &columns[..8],
        [
            "anomaly",
            "postgres RC",
            "postgres RR",
            "postgres SER",
            "mysql RU",
            "mysql RC",
            "mysql RR",
            "mysql SER"
        ],
        "{header}"
    );
    let rows: Vec<&str> = stdout
        .lines()
        .skip_while(|l| !l.starts_with("anomaly "))
        .skip(1)
        .take_while(|l| !l.starts_with("postgres: "))
        .collect();
    assert_eq!(rows.len(), 14, "{stdout}");
    let p4: Vec<&str> = rows
        .iter()
        .find(|r| r.starts_with("P4 "))
        .unwrap()
        .split_whitespace()
        .collect();
    // PostgreSQL's repeatable read prevents lost updates, MariaDB's does not.
    assert_eq!(
        &p4[..8],
        [
            "P4",
            "occurs",
            "prevented",
            "prevented",
            "occurs",
            "occurs",
            "occurs",
            "prevented"
        ],
        "{stdout}"
    );
    assert!(
        stdout.contains("postgres: isolation matrix matches the documented postgres behaviour"),
        "{stdout}"
    );
    assert!(
        stdout.contains("mysql: isolation matrix matches the documented mariadb"),
        "{stdout}"
    );
    let report: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("report.json")).unwrap()).unwrap();
    let targets = report["targets"].as_array().unwrap();
    assert_eq!(targets.len(), 2);
    for t in targets {
        let m = &t["scenarios"][0]["isolation_matrix"];
        assert_eq!(m["rows"].as_array().unwrap().len(), 14, "{t}");
        assert_eq!(t["scenarios"][0]["verdict"], "pass", "{t}");
    }
    let mariadb = &targets[1]["scenarios"][0]["isolation_matrix"];
    assert_eq!(mariadb["profile"], "mariadb");
    if columns.len() > 8 {
        assert_eq!(&columns[8..], ["mysql RR+si", "mysql SER+si"], "{header}");
        assert_eq!(mariadb["more"][0]["profile"], "mariadb_snapshot_isolation");
    }
}

#[test]
fn a_wrong_mariadb_expectation_fails_the_run_with_the_evidence() {
    if !assay_emulators::testing::backend_available(LocalBackend::Mysql, &root()) {
        return;
    }
    let suite = tempfile::tempdir().unwrap();
    let g1a = std::fs::read_to_string(root().join("scenarios/conformance/isolation/02-g1a.toml"))
        .unwrap();
    let at = g1a.find("[expected.mariadb]").unwrap();
    let (head, tail) = g1a.split_at(at);
    // MariaDB's READ UNCOMMITTED reads the uncommitted 101 (mysql.md); claim it does not.
    let wrong = format!(
        "{head}{}",
        tail.replacen(
            "read_uncommitted = \"occurs\"",
            "read_uncommitted = \"prevented\"",
            1
        )
    );
    assert_ne!(wrong, g1a);
    std::fs::write(suite.path().join("02-g1a.toml"), wrong).unwrap();
    let out = tempfile::tempdir().unwrap();
    let (code, stdout, stderr) = assay(&[
        "run",
        suite.path().to_str().unwrap(),
        "--target",
        "mysql",
        "--out",
        out.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "stdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("occurs ≠ prevented"), "{stdout}");
    assert!(
        stdout.contains("at read_uncommitted: occurs, documented prevented"),
        "{stdout}"
    );
    assert!(
        stdout.contains("T2: select value from test where id = 1 → ok, [[101]]"),
        "the observed steps as evidence: {stdout}"
    );
    assert!(
        stdout.contains("condition t2_during returns [[101]]: holds"),
        "{stdout}"
    );
}
