//! Canary secrets: every credential slot a target can take holds a distinct random value —
//! the SQL passwords (`password_env`, for `url` and `replica_url`), the AWS keys and
//! session token of the credential chain, the Cosmos DB account key, the path of Google
//! credentials — on loopback stand-ins named in a targets file. Then `assay targets`, a
//! passing `assay run`, a failing one (wrong passwords; for DynamoDB and Cosmos DB, whose
//! stand-ins take any credential, an endpoint nobody listens on), `assay report` on both
//! run directories and `assay cleanup --dry-run`; no canary may appear in anything they
//! printed nor in any file under either run directory.

mod common;

use assay_core::{Endpoint, LocalBackend};
use assay_emulators::{Emulator, StartOptions};
use common::{files, output_within, root, Output};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const COMMAND_LIMIT: Duration = Duration::from_secs(300);

/// Writes to one table and reads it back: the smallest run every family can do.
const TINY: &str = r#"format = 1
name = "canary"
kind = "conformance"

[[setup.tables]]
name = "kv"

[[steps]]
name = "write"
op = "write"
keys = { prefix = "k", count = 10 }
value = "v{i}"
expect = { outcome = "ok" }

[[steps]]
name = "read"
op = "read"
keys = { prefix = "k", count = 10 }
expect = { outcome = "ok" }
"#;

/// 16 random bytes as hex, after `label` so a failure says which slot leaked.
fn canary(label: &str) -> String {
    let mut bytes = [0u8; 16];
    let mut f = std::fs::File::open("/dev/urandom").unwrap();
    std::io::Read::read_exact(&mut f, &mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!("{label}{hex}")
}

/// `scheme://user:password@rest` → (`scheme://user@rest`, password).
fn split_password(url: &str) -> (String, String) {
    let (scheme, rest) = url.split_once("://").unwrap();
    let (userinfo, host) = rest.split_once('@').unwrap();
    let (user, password) = userinfo.split_once(':').unwrap();
    (format!("{scheme}://{user}@{host}"), password.to_string())
}

/// A loopback port nobody listens on (bound, then released).
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

struct Slot {
    /// What the canary stands in for, for the failure message.
    what: &'static str,
    /// The environment variable that carries it.
    var: String,
    value: String,
}

fn assay(args: &[&str], slots: &[Slot]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_assay"));
    cmd.current_dir(root())
        .env("NO_COLOR", "1")
        .envs(slots.iter().map(|s| (&s.var, &s.value)))
        .args(args);
    output_within(cmd, COMMAND_LIMIT)
}

impl Slot {
    /// What would show the secret: the value, the value percent-encoded as it sits in a
    /// URL, and each run of 24+ random hex digits in it (a part of it is a leak too).
    fn needles(&self) -> Vec<String> {
        let mut needles = vec![self.value.clone(), percent_encoded(&self.value)];
        let mut run = String::new();
        for c in self.value.chars().chain(['!']) {
            if c.is_ascii_digit() || ('a'..='f').contains(&c) {
                run.push(c);
            } else {
                if run.len() >= 24 {
                    needles.push(run.clone());
                }
                run.clear();
            }
        }
        needles
    }
}

/// Every byte but RFC 3986's unreserved ones as %XX, as a password goes into a URL.
fn percent_encoded(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The first slot whose secret `text` shows, and how.
fn leak<'a>(slots: &'a [Slot], text: &str) -> Option<(&'a Slot, String)> {
    slots
        .iter()
        .flat_map(|s| s.needles().into_iter().map(move |n| (s, n)))
        .find(|(_, needle)| text.contains(needle.as_str()))
}

fn assert_no_canary(slots: &[Slot], where_: &str, text: &str) {
    if let Some((s, needle)) = leak(slots, text) {
        panic!(
            "the {} (${}) leaked into {where_} as `{needle}`:\n{text}",
            s.what, s.var
        );
    }
}

fn assert_no_canary_in_files(slots: &[Slot], dir: &Path) -> usize {
    let written = files(dir);
    for p in &written {
        let text = String::from_utf8_lossy(&std::fs::read(p).unwrap()).into_owned();
        assert_no_canary(slots, &p.display().to_string(), &text);
    }
    written.len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_credential_reaches_output_or_run_files() {
    let opts = StartOptions::for_tests();
    let wanted = [
        LocalBackend::Postgres,
        LocalBackend::Mysql,
        LocalBackend::DynamodbMoto,
        LocalBackend::SpannerEmulator,
        LocalBackend::CosmosLocal,
    ];
    let here: Vec<LocalBackend> = wanted
        .into_iter()
        .filter(|b| assay_emulators::testing::backend_available(*b, &opts.workspace_root))
        .collect();
    let started = futures::future::join_all(here.iter().map(|b| Emulator::start(*b, &opts))).await;
    let mut emulators = Vec::new();
    for (b, e) in here.iter().zip(started) {
        emulators.push(e.unwrap_or_else(|e| panic!("{b} starts: {e}")));
    }

    // Every slot, and the targets file naming each stand-in through them.
    let mut slots = vec![
        Slot {
            what: "AWS access key id",
            var: "AWS_ACCESS_KEY_ID".into(),
            value: canary("AKIACANARY"),
        },
        Slot {
            what: "AWS secret access key",
            var: "AWS_SECRET_ACCESS_KEY".into(),
            value: canary("awssecretcanary"),
        },
        Slot {
            what: "AWS session token",
            var: "AWS_SESSION_TOKEN".into(),
            value: canary("awstokencanary"),
        },
        Slot {
            what: "Google credentials path",
            var: "GOOGLE_APPLICATION_CREDENTIALS".into(),
            value: format!("/nonexistent/{}.json", canary("gcpcanary")),
        },
        Slot {
            what: "wrong PostgreSQL password",
            var: "ASSAY_CANARY_PG_WRONG".into(),
            // URL metacharacters: a password that is not cut or left raw anywhere.
            value: format!("{}@:/ %?#{}", canary("pgwrong"), canary("")),
        },
        Slot {
            what: "wrong MySQL password",
            var: "ASSAY_CANARY_MYSQL_WRONG".into(),
            value: format!("{}@:/ %?#{}", canary("mywrong"), canary("")),
        },
    ];
    let mut file = String::new();
    let mut good = Vec::new();
    // Targets whose run must fail, with the error it must give: a wrong password, or
    // (for the families whose stand-ins take any credential) nobody listening.
    let mut wrong = Vec::new();
    let closed = closed_port();
    for emu in &emulators {
        match emu.endpoint() {
            Endpoint::Postgres { url, .. } => {
                // The stand-in's own random password is the canary: the run must log in.
                let (bare, password) = split_password(url.expose());
                slots.push(Slot {
                    what: "PostgreSQL password",
                    var: "ASSAY_CANARY_PG_PASSWORD".into(),
                    value: password,
                });
                // The replica slot takes the same password; the primary stands in for it.
                file += &format!(
                    "[targets.pg-canary]\nfamily = \"postgres\"\nurl = \"{bare}\"\nreplica_url = \"{bare}\"\npassword_env = \"ASSAY_CANARY_PG_PASSWORD\"\n\n\
                     [targets.pg-wrong]\nfamily = \"postgres\"\nurl = \"{bare}\"\npassword_env = \"ASSAY_CANARY_PG_WRONG\"\n\n"
                );
                good.push("pg-canary");
                wrong.push(("pg-wrong", "password authentication failed"));
            }
            Endpoint::Mysql { url } => {
                let (bare, password) = split_password(url.expose());
                slots.push(Slot {
                    what: "MySQL password",
                    var: "ASSAY_CANARY_MYSQL_PASSWORD".into(),
                    value: password,
                });
                file += &format!(
                    "[targets.mysql-canary]\nfamily = \"mysql\"\nurl = \"{bare}\"\npassword_env = \"ASSAY_CANARY_MYSQL_PASSWORD\"\n\n\
                     [targets.mysql-wrong]\nfamily = \"mysql\"\nurl = \"{bare}\"\npassword_env = \"ASSAY_CANARY_MYSQL_WRONG\"\n\n"
                );
                good.push("mysql-canary");
                wrong.push(("mysql-wrong", "Access denied"));
            }
            Endpoint::Dynamodb { url, region, .. } => {
                // The AWS chain's environment variables carry the canaries; moto takes any.
                file += &format!(
                    "[targets.ddb-canary]\nfamily = \"dynamodb\"\nregion = \"{region}\"\nendpoint = \"{}\"\n\n",
                    url.as_deref().unwrap()
                );
                good.push("ddb-canary");
                file += &format!(
                    "[targets.ddb-down]\nfamily = \"dynamodb\"\nregion = \"{region}\"\nendpoint = \"http://127.0.0.1:{closed}\"\n\n"
                );
                wrong.push(("ddb-down", "unreachable"));
            }
            Endpoint::Spanner {
                emulator_host,
                project,
                instance,
                database,
            } => {
                file += &format!(
                    "[targets.spanner-canary]\nfamily = \"spanner\"\nproject = \"{project}\"\ninstance = \"{instance}\"\ndatabase = \"{database}\"\nemulator_host = \"{}\"\n\n",
                    emulator_host.as_deref().unwrap()
                );
                good.push("spanner-canary");
            }
            Endpoint::Cosmos { url, .. } => {
                // Letters and hex are base64 too (76 characters: whole groups of four), as
                // the SDK needs to sign with it; the stand-in does not check signatures.
                slots.push(Slot {
                    what: "Cosmos DB account key",
                    var: "ASSAY_CANARY_COSMOS_KEY".into(),
                    value: format!("{}{}", canary("cosmosCanary"), canary("")),
                });
                file += &format!(
                    "[targets.cosmos-canary]\nfamily = \"cosmos\"\nurl = \"{url}\"\nkey_env = \"ASSAY_CANARY_COSMOS_KEY\"\n\n"
                );
                good.push("cosmos-canary");
                file += &format!(
                    "[targets.cosmos-down]\nfamily = \"cosmos\"\nurl = \"http://127.0.0.1:{closed}/\"\nkey_env = \"ASSAY_CANARY_COSMOS_KEY\"\n\n"
                );
                wrong.push(("cosmos-down", "unreachable"));
            }
        }
    }
    for s in &slots {
        assert!(s.value.len() >= 16, "the {} is worth looking for", s.what);
        // The detector sees every form it looks for, e.g. half a password.
        for needle in s.needles() {
            assert!(leak(&slots, &format!("…{needle}…")).is_some(), "{needle}");
        }
    }

    let dir = tempfile::tempdir().unwrap();
    let targets = dir.path().join("targets.toml");
    std::fs::write(&targets, &file).unwrap();
    let scenario = dir.path().join("canary.toml");
    std::fs::write(&scenario, TINY).unwrap();
    let (passing, failing) = (dir.path().join("run"), dir.path().join("run-wrong"));

    let checked = tokio::task::spawn_blocking(move || {
        let t = targets.to_str().unwrap();
        let s = scenario.to_str().unwrap();
        let good = good.join(",");
        let mut printed: Vec<(String, Output)> = Vec::new();

        let listing = assay(&["targets", "--targets", t], &slots);
        assert_eq!(listing.code, 0, "{}{}", listing.stdout, listing.stderr);
        assert!(listing.stdout.contains("(set)"), "{}", listing.stdout);
        printed.push(("assay targets".into(), listing));

        let run = assay(
            &[
                "run",
                "--targets",
                t,
                s,
                "--target",
                &good,
                "--out",
                passing.to_str().unwrap(),
            ],
            &slots,
        );
        assert_eq!(run.code, 0, "{}{}", run.stdout, run.stderr);
        for target in good.split(',') {
            assert!(
                run.stdout
                    .lines()
                    .any(|l| l.starts_with(target) && l.ends_with("pass")),
                "{target}: {}",
                run.stdout
            );
        }
        printed.push(("the passing run".into(), run));

        if !wrong.is_empty() {
            let names: Vec<&str> = wrong.iter().map(|(n, _)| *n).collect();
            let run = assay(
                &[
                    "run",
                    "--targets",
                    t,
                    s,
                    "--target",
                    &names.join(","),
                    "--out",
                    failing.to_str().unwrap(),
                ],
                &slots,
            );
            assert_eq!(run.code, 2, "{}{}", run.stdout, run.stderr);
            let all = format!("{}{}", run.stdout, run.stderr);
            for (name, error) in &wrong {
                assert!(all.contains(name) && all.contains(error), "{name}: {all}");
            }
            printed.push(("the wrong-password run".into(), run));
        }

        for (what, dir) in [("passing", &passing), ("wrong-password", &failing)] {
            if !dir.exists() {
                continue;
            }
            let report = assay(&["report", dir.to_str().unwrap()], &slots);
            assert!(report.code <= 2, "{}{}", report.stdout, report.stderr);
            printed.push((format!("assay report of the {what} run"), report));
        }

        let cleanup = assay(
            &["cleanup", "--targets", t, "--target", &good, "--dry-run"],
            &slots,
        );
        assert_eq!(cleanup.code, 0, "{}{}", cleanup.stdout, cleanup.stderr);
        printed.push(("assay cleanup --dry-run".into(), cleanup));

        for (what, out) in &printed {
            assert_no_canary(&slots, &format!("the stdout of {what}"), &out.stdout);
            assert_no_canary(&slots, &format!("the stderr of {what}"), &out.stderr);
        }
        let mut written = assert_no_canary_in_files(&slots, &passing);
        assert!(passing.join("record.json").is_file());
        if failing.exists() {
            written += assert_no_canary_in_files(&slots, &failing);
        }
        eprintln!(
            "{} canaries, {} outputs and {written} run files checked",
            slots.len(),
            printed.len() * 2
        );
    })
    .await;
    for emu in emulators {
        emu.stop().await;
    }
    if let Err(e) = checked {
        std::panic::resume_unwind(e.into_panic());
    }
}
