//! The template readers and the command extraction on small inputs.

use super::commands::{flag_in_help, xtask_commands};
use super::shell::{invocations, simple_commands, Invocation};
use super::template::{github, gitlab, When};
use std::collections::BTreeMap;
use yaml_rust2::YamlLoader;

fn doc(text: &str) -> yaml_rust2::Yaml {
    YamlLoader::load_from_str(text).expect("yaml").remove(0)
}

fn words(script: &str) -> Vec<Vec<String>> {
    simple_commands(script)
        .into_iter()
        .map(|c| c.into_iter().map(|w| w.text).collect())
        .collect()
}

#[test]
fn scripts_split_into_simple_commands_without_syntax() {
    let script =
        "set -e # a comment\nif [ -f a ]; then assay compare a \\\n  b --markdown 'c d'; fi\n\
                  echo \"x\" >&2 && sudo=; cat f >> \"$OUT\"\n";
    assert_eq!(
        words(script),
        vec![
            vec!["set", "-e"],
            vec!["[", "-f", "a", "]"],
            vec!["assay", "compare", "a", "b", "--markdown", "c d"],
            vec!["echo", "x"],
            vec!["sudo="],
            vec!["cat", "f"],
        ]
    );
}

#[test]
fn invocations_resolve_variables_and_see_through_wrappers() {
    let env: BTreeMap<String, String> = [
        ("SUITE".to_string(), "a.toml b.toml".to_string()),
        ("T".to_string(), "postgres,mysql".to_string()),
    ]
    .into();
    let found = invocations(
        "$sudo target/debug/assay run $SUITE --target \"$T\" || exit 1\n\
         cargo xtask emulators install mysql\ncargo build --locked -p assay-cli\n\
         exec assay merge \"$@\" --out x",
        &env,
    );
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    assert_eq!(
        found,
        vec![
            Invocation::Assay(s(&[
                "run",
                "a.toml",
                "b.toml",
                "--target",
                "postgres,mysql"
            ])),
            Invocation::Xtask(s(&["emulators", "install", "mysql"])),
            Invocation::Cargo(s(&["build", "--locked", "-p", "assay-cli"])),
            Invocation::Assay(s(&["merge", "$@", "--out", "x"])),
        ]
    );
}

#[test]
fn flags_are_found_as_whole_words_with_their_values() {
    let clap = "Options:\n  -t, --target <TARGETS>\n          Target names\n      --allow-real\n          \
                Allow targets; with --yes it does not ask\n      --targets <FILE>  The file\n";
    assert_eq!(flag_in_help(clap, "--target"), Some(true));
    assert_eq!(flag_in_help(clap, "-t"), Some(true));
    assert_eq!(flag_in_help(clap, "--allow-real"), Some(false));
    assert_eq!(
        flag_in_help(clap, "--yes"),
        Some(false),
        "a mention in prose still exists"
    );
    assert_eq!(flag_in_help(clap, "--tar"), None);
    assert_eq!(flag_in_help(clap, "--baseline"), None);
    let usage = "usage: cargo xtask <command>\n\ncommands:\n  run [--suite default|x] [--release] [--target LIST]\n        \
                 build Assay\n  tidy [ROOT]\n        check\n";
    assert_eq!(flag_in_help(usage, "--suite"), Some(true));
    assert_eq!(flag_in_help(usage, "--release"), Some(false));
    assert_eq!(flag_in_help(usage, "--target"), Some(true));
    assert_eq!(xtask_commands(usage), vec!["run", "tidy"]);
}

#[test]
fn a_workflow_without_what_github_needs_is_refused_with_each_problem() {
    let problems = github(
        &doc("name: x\njobs:\n  a:\n    steps:\n      - run: echo ${{ github.sha }}\n      \
              - uses: actions/checkout\n      - name: both\n        run: x\n        uses: y@v1\n      \
              - run: x\n        if: github.ref == 'refs/heads/main'\n"),
        "w.yml",
    )
    .expect_err("broken");
    let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let has = |needle: &str| text.iter().any(|t| t.contains(needle));
    assert!(has("on: missing"), "{text:#?}");
    assert!(has("jobs.a.runs-on: missing"), "{text:#?}");
    assert!(has("jobs.a.steps[0].run: uses `${{ }}`"), "{text:#?}");
    assert!(
        has("jobs.a.steps[1].uses: `actions/checkout` names no version"),
        "{text:#?}"
    );
    assert!(
        has("jobs.a.steps[2]: needs exactly one of uses: and run:"),
        "{text:#?}"
    );
    assert!(has("jobs.a.steps[3].if"), "{text:#?}");
    assert_eq!(text.len(), 6, "{text:#?}");
}

#[test]
fn on_stays_a_key_and_a_good_workflow_reads_in_order() {
    let w = github(
        &doc("on: [push]\nenv:\n  A: '1'\njobs:\n  j:\n    runs-on: ubuntu-latest\n    steps:\n      \
              - uses: actions/checkout@v4\n      - name: go\n        run: echo $A\n        if: always()\n        \
              env:\n          P: ${{ secrets.P }}\n"),
        "w.yml",
    )
    .expect("valid");
    assert_eq!(w.env, vec![("A".to_string(), "1".to_string())]);
    assert_eq!(w.jobs[0].steps.len(), 2);
    assert_eq!(w.jobs[0].steps[1].name, "go");
    assert_eq!(
        When::parse(w.jobs[0].steps[1].condition.as_deref()),
        Ok(When::Always)
    );
    assert!(When::Always.runs(true) && !When::Success.runs(true) && When::Failure.runs(true));
}

#[test]
fn gitlab_jobs_need_a_script_and_hidden_or_global_keys_are_not_jobs() {
    let jobs = gitlab(
        &doc(
            "variables:\n  A: x\nstages: [test]\n.hidden:\n  script: [x]\nj:\n  variables:\n    \
              B: { value: y }\n  before_script: [a]\n  script:\n    - b\n    - [c, d]\n",
        ),
        "g.yml",
    )
    .expect("valid");
    assert_eq!(jobs.len(), 1);
    assert_eq!(jobs[0].script, vec!["b", "c", "d"]);
    assert_eq!(
        jobs[0].variables,
        vec![("A".into(), "x".into()), ("B".into(), "y".into())]
    );
    let problems = gitlab(&doc("j:\n  image: rust:1\n"), "g.yml").expect_err("no script");
    assert!(
        problems[0].to_string().contains("j.script: missing"),
        "{problems:?}"
    );
}
