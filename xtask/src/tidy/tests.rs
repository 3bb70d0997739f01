//! Tidy on small workspaces written to a temporary directory.

use super::scan::parse;
use super::*;

/// A workspace from (path, contents) pairs; a clean two-crate one by default.
fn workspace(files: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut all: Vec<(String, String)> =
        vec![
        (
            "Cargo.toml".into(),
            "[workspace]\nmembers = [\"core\", \"engine\", \"reports\", \"pg\"]\n".into(),
        ),
        (
            "core/Cargo.toml".into(),
            "[package]\nname = \"assay-core\"\n".into(),
        ),
        ("core/src/lib.rs".into(), "pub mod op;\n".into()),
        ("core/src/op.rs".into(), "pub struct Op;\n".into()),
        (
            "engine/Cargo.toml".into(),
            "[package]\nname = \"assay-engine\"\n\n[dependencies]\nassay-core.workspace = true\n\
             serde = \"1\"\n\n[dev-dependencies]\nassay-emulators = { path = \"../emulators\" }\n"
                .into(),
        ),
        ("engine/src/lib.rs".into(), "mod run;\n".into()),
        ("engine/src/run.rs".into(), "use assay_core::op::Op;\n".into()),
        (
            "reports/Cargo.toml".into(),
            "[package]\nname = \"assay-reports\"\n\n[dependencies]\nassay-core.workspace = true\n"
                .into(),
        ),
        ("reports/src/lib.rs".into(), "".into()),
        (
            "pg/Cargo.toml".into(),
            "[package]\nname = \"assay-driver-postgres\"\n\n[dependencies]\n\
             assay-core = { path = \"../core\" }\n"
                .into(),
        ),
        ("pg/src/lib.rs".into(), "".into()),
    ];
    for (p, t) in files {
        match all.iter_mut().find(|(q, _)| q == p) {
            Some(slot) => slot.1 = t.to_string(),
            None => all.push((p.to_string(), t.to_string())),
        }
    }
    for (p, t) in &all {
        let path = dir.path().join(p);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, t).unwrap();
    }
    dir
}

fn violations(files: &[(&str, &str)]) -> Vec<String> {
    let dir = workspace(files);
    check(dir.path())
        .expect("readable workspace")
        .violations
        .iter()
        .map(|v| v.to_string())
        .collect()
}

#[test]
fn a_clean_workspace_passes() {
    assert_eq!(violations(&[]), Vec::<String>::new());
}

#[test]
fn a_forbidden_crate_dependency_fails() {
    let v = violations(&[(
        "reports/Cargo.toml",
        "[package]\nname = \"assay-reports\"\n\n[dependencies]\nassay-core.workspace = true\n\
         assay-engine.workspace = true\n",
    )]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].starts_with("reports/Cargo.toml: `assay-reports` depends on `assay-engine`"));
    assert!(v[0].contains("fix: "));
}

#[test]
fn a_renamed_or_target_specific_dependency_still_counts() {
    let v = violations(&[(
        "core/Cargo.toml",
        "[package]\nname = \"assay-core\"\n\n[target.'cfg(unix)'.dependencies]\n\
         eng = { package = \"assay-engine\", path = \"../engine\" }\n",
    )]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("`assay-core` depends on `assay-engine`"));
}

#[test]
fn dev_dependencies_may_use_only_their_extra_arrows() {
    // The engine's dev-dependency on the emulators (fixture default) is allowed;
    // a driver's tests using the engine are not.
    let v = violations(&[(
        "pg/Cargo.toml",
        "[package]\nname = \"assay-driver-postgres\"\n\n[dependencies]\nassay-core.workspace = true\n\
         \n[dev-dependencies]\nassay-emulators.workspace = true\nassay-engine.workspace = true\n",
    )]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("dev-dependency on `assay-engine`"));
}

#[test]
fn a_crate_missing_from_the_table_fails() {
    let v = violations(&[
        (
            "Cargo.toml",
            "[workspace]\nmembers = [\"core\", \"extra\"]\n",
        ),
        ("extra/Cargo.toml", "[package]\nname = \"assay-extra\"\n"),
    ]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("`assay-extra` is not in the crate graph"));
}

#[test]
fn a_direct_import_cycle_fails() {
    let v = violations(&[
        ("engine/src/lib.rs", "mod run;\nmod workload;\n"),
        (
            "engine/src/run.rs",
            "use crate::workload::Stats;\npub(crate) struct Shared;\n",
        ),
        (
            "engine/src/workload.rs",
            "pub struct Stats;\nfn f(_: &crate::run::Shared) {}\n",
        ),
    ]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].starts_with("engine/src/run.rs: import cycle run ⇄ workload"),
        "{}",
        v[0]
    );
    assert!(v[0].contains("engine/src/run.rs:1 `crate::workload::Stats`"));
    assert!(v[0].contains("engine/src/workload.rs:2 `crate::run::Shared`"));
}

#[test]
fn a_cycle_through_three_modules_fails() {
    let v = violations(&[
        ("engine/src/lib.rs", "mod a;\nmod b;\nmod c;\n"),
        ("engine/src/a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "engine/src/b.rs",
            "use super::c::{self, C};\npub struct B;\n",
        ),
        (
            "engine/src/c.rs",
            "pub struct C;\npub fn f() -> crate::A { todo!() }\n",
        ),
        // `crate::A` is a re-export: the arrow goes to the module defining it.
        (
            "engine/src/lib.rs",
            "mod a;\nmod b;\nmod c;\npub use a::A;\n",
        ),
    ]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("import cycle among a, b, c"), "{}", v[0]);
}

#[test]
fn a_cycle_between_subtrees_counts_at_their_common_parent() {
    let v = violations(&[
        ("engine/src/lib.rs", "mod workload;\nmod run;\n"),
        ("engine/src/workload.rs", "mod worker;\n"),
        ("engine/src/workload/worker.rs", "use crate::run::Shared;\n"),
        (
            "engine/src/run.rs",
            "pub struct Shared;\nfn f() { crate::workload::worker::go(); }\n",
        ),
    ]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(v[0].contains("import cycle run ⇄ workload"), "{}", v[0]);
}

#[test]
fn a_parent_and_its_children_are_not_a_cycle() {
    // The parent declares and re-exports its children; the children use the parent's
    // items and each other one way; comments, strings and test code are not imports.
    let v = violations(&[
        (
            "engine/src/lib.rs",
            "mod workload;\npub use workload::Stats;\n",
        ),
        (
            "engine/src/workload.rs",
            "mod recording;\nmod worker;\npub use recording::Stats;\nuse worker::go;\n\
             struct Ctx;\nconst LATE: u64 = 1;\n",
        ),
        (
            "engine/src/workload/recording.rs",
            "use super::{Ctx, LATE};\npub struct Stats;\n\
             // see crate::workload::worker::go\n\
             const S: &str = \"crate::workload::worker\";\n",
        ),
        (
            "engine/src/workload/worker.rs",
            "use super::recording::Stats;\npub(super) fn go(_: &super::Ctx) {}\n\
             #[cfg(test)]\nmod tests {\n    use crate::workload::recording::Stats;\n}\n",
        ),
    ]);
    assert_eq!(v, Vec::<String>::new());
}

#[test]
fn test_modules_are_left_out_of_the_graph() {
    let v = violations(&[
        (
            "engine/src/lib.rs",
            "mod a;\nmod b;\n#[cfg(test)]\nmod tests;\n",
        ),
        ("engine/src/a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "engine/src/b.rs",
            "pub struct B;\n#[cfg(test)]\nmod tests {\n    use crate::a::A;\n}\n",
        ),
        (
            "engine/src/tests.rs",
            "use crate::a::A;\nuse crate::b::B;\n",
        ),
    ]);
    assert_eq!(v, Vec::<String>::new());
}

fn lines(n: usize) -> String {
    (0..n)
        .map(|i| format!("const C{i}: u32 = {i};\n"))
        .collect()
}

#[test]
fn a_file_over_800_lines_outside_tests_fails() {
    let long = lines(801);
    let v = violations(&[
        ("engine/src/lib.rs", "mod run;\n"),
        ("engine/src/run.rs", &long),
    ]);
    assert_eq!(v.len(), 1, "{v:#?}");
    assert!(
        v[0].starts_with("engine/src/run.rs: 801 lines outside #[cfg(test)] (limit 800)"),
        "{}",
        v[0]
    );
}

#[test]
fn test_code_does_not_count_toward_the_limit() {
    let code = lines(790);
    let tests = format!("#[cfg(test)]\nmod tests {{\n{}}}\n", lines(400));
    let with_tests = format!("{code}{tests}");
    let big_test_file = lines(2000);
    let v = violations(&[
        ("engine/src/lib.rs", "mod run;\n#[cfg(test)]\nmod tests;\n"),
        ("engine/src/run.rs", &with_tests),
        ("engine/src/tests.rs", &big_test_file),
    ]);
    assert_eq!(v, Vec::<String>::new());
}

#[test]
fn the_scanner_skips_strings_chars_lifetimes_and_raw_strings() {
    let p = parse(
        "fn f<'a>(x: &'a str) -> char { let _ = r#\"crate::a::B \"#; let _ = '\"'; \
         let _ = \"super::x\"; crate::real::Thing; 'x' }\n",
    );
    let paths: Vec<String> = p.refs.iter().map(|r| r.path.join("::")).collect();
    assert_eq!(paths, vec!["crate::real::Thing"]);
}

#[test]
fn use_groups_and_visibility_are_read_whole() {
    let p = parse(
        "use crate::layout::{self, COLUMNS};\n/// doc\n\
         pub(crate) use crate::options::{backoff, nested::{a as b, *}};\n",
    );
    let imports: Vec<(String, String)> = p
        .imports
        .iter()
        .map(|i| (i.name.clone(), i.path.join("::")))
        .collect();
    assert_eq!(
        imports,
        vec![
            ("layout".into(), "crate::layout".into()),
            ("COLUMNS".into(), "crate::layout::COLUMNS".into()),
            ("backoff".into(), "crate::options::backoff".into()),
            ("b".into(), "crate::options::nested::a".into()),
            ("*".into(), "crate::options::nested".into()),
        ]
    );
}
