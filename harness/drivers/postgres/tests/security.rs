//! `scenarios/security/` for real: every step against the `postgres-tls` stand-in
//! (hostssl + SCRAM, a CA made at start), where each must pass; and the negative control
//! against the plain `postgres` stand-in, which lets plaintext in, where "plaintext is
//! refused" must fail — the check is shown able to fail.

use assay_core::native::security::SECURITY_CHECKS;
use assay_core::scenario::Scenario;
use assay_core::{
    Capability, Driver, DriverConfig, Endpoint, LocalBackend, NativeOutcome, NativeStep,
    NativeVerdict, Op, Outcome,
};
use assay_driver_postgres::PostgresDriver;
use assay_emulators::{Emulator, StartOptions};
use sqlx::{Connection, Row};
use std::time::Duration;

async fn start(backend: LocalBackend) -> Option<Emulator> {
    let opts = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    match Emulator::start(backend, &opts).await {
        Ok(emu) => Some(emu),
        Err(e) => panic!("{backend} is installed but did not start: {e}"),
    }
}

fn config(tag: &str) -> DriverConfig {
    DriverConfig {
        namespace: format!("sec_{}_{tag}", std::process::id()),
        op_timeout: Duration::from_secs(5),
    }
}

/// The shipped scenario, parsed as `assay validate` parses it (against the security table).
fn shipped_scenario() -> Scenario {
    let path = assay_emulators::workspace_root_of_this_checkout()
        .join("scenarios/security/connections.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    Scenario::parse_with(&text, &path.display().to_string(), &[SECURITY_CHECKS]).unwrap()
}

fn step<'a>(scenario: &'a Scenario, name_starts: &str) -> &'a NativeStep {
    scenario
        .native
        .iter()
        .find(|s| s.name.starts_with(name_starts))
        .unwrap_or_else(|| panic!("no step `{name_starts}…`"))
}

fn url(endpoint: &Endpoint) -> String {
    match endpoint {
        Endpoint::Postgres { url, .. } => url.expose().to_string(),
        other => panic!("not postgres: {}", other.display_safe()),
    }
}

async fn run(driver: &PostgresDriver, step: &NativeStep) -> NativeOutcome {
    assert!(driver.runs_native(&step.family));
    let outcome = tokio::time::timeout(step.timeout, driver.native(step))
        .await
        .expect("the step finished within its timeout");
    eprintln!("{}: {} — {}", step.name, outcome.verdict, outcome.observed);
    outcome
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_security_step_passes_on_the_tls_and_scram_stand_in() {
    let scenario = shipped_scenario();
    assert_eq!(scenario.native.len(), 5);
    assert!(scenario
        .required_capabilities()
        .contains(&Capability::ConnectionSecurity));
    let Some(emu) = start(LocalBackend::PostgresTls).await else {
        return;
    };
    let endpoint = emu.endpoint().clone();
    let url = url(&endpoint);
    assert!(
        url.contains("sslmode=verify-full&sslrootcert=/"),
        "{}",
        endpoint.display_safe()
    );
    let ca = url.split("sslrootcert=").nth(1).unwrap();
    assert!(std::fs::read_to_string(ca)
        .unwrap()
        .contains("BEGIN CERTIFICATE"));

    // The stand-in is what it claims: TLS for this session, SCRAM verifiers stored.
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    let row = sqlx::query(
        "SELECT ssl, version, (SELECT rolpassword LIKE 'SCRAM-SHA-256$%' FROM pg_authid WHERE rolname = current_user), current_setting('password_encryption') FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert!(row.get::<bool, _>(0), "the session is not on TLS");
    eprintln!("session: {}", row.get::<String, _>(1));
    assert!(row.get::<bool, _>(2), "the password is not stored as SCRAM");
    assert_eq!(row.get::<String, _>(3), "scram-sha-256");
    conn.close().await.unwrap();

    // The driver's own pools work over verified TLS (sqlx; the wire client is plaintext).
    let driver = PostgresDriver::connect(&endpoint, config("tls"))
        .await
        .unwrap();
    assert_eq!(driver.op_client(), "sqlx");
    assert!(driver
        .capabilities()
        .supports(Capability::ConnectionSecurity));
    driver
        .setup(&[assay_core::scenario::TableSpec { name: "t".into() }])
        .await
        .unwrap();
    let write = driver
        .execute(&Op::Write {
            table: "t".into(),
            key: "k".into(),
            value: "v".into(),
        })
        .await;
    assert_eq!(write.outcome, Outcome::Ok, "{write:?}");

    for step in &scenario.native {
        let outcome = run(&driver, step).await;
        assert_eq!(
            outcome.verdict,
            NativeVerdict::Pass,
            "{}: {outcome:?}",
            step.name
        );
    }
    let plaintext = run(&driver, step(&scenario, "a plaintext login")).await;
    assert!(
        plaintext.observed.contains("28000"),
        "{}",
        plaintext.observed
    );
    let wrong = run(&driver, step(&scenario, "a login with a wrong password")).await;
    assert!(wrong.observed.contains("28P01"), "{}", wrong.observed);
    let none = run(&driver, step(&scenario, "a login without a password")).await;
    assert!(none.observed.contains("28P01"), "{}", none.observed);
    let accepted = run(&driver, step(&scenario, "the right password")).await;
    assert!(
        accepted.observed.contains("accepted (TLSv1."),
        "{}",
        accepted.observed
    );
    let untrusted = run(&driver, step(&scenario, "a server certificate")).await;
    assert!(
        untrusted.observed.contains("UnknownIssuer"),
        "{}",
        untrusted.observed
    );
    // No secret in what a report would show.
    let password = url.split(':').nth(2).unwrap().split('@').next().unwrap();
    for o in [&plaintext, &wrong, &none, &accepted, &untrusted] {
        let text = serde_json::to_string(o).unwrap();
        assert!(!text.contains(password), "{text}");
    }

    driver.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_refused_fails_where_plaintext_is_let_in() {
    let scenario = shipped_scenario();
    let Some(emu) = start(LocalBackend::Postgres).await else {
        return;
    };
    let driver = PostgresDriver::connect(emu.endpoint(), config("plain"))
        .await
        .unwrap();
    let plaintext = run(&driver, step(&scenario, "a plaintext login")).await;
    assert_eq!(plaintext.verdict, NativeVerdict::Deviates, "{plaintext:?}");
    assert!(
        plaintext.observed.ends_with("accepted (no TLS)"),
        "{}",
        plaintext.observed
    );
    // Verified TLS cannot even start there: no step passes for the wrong reason.
    for name in ["a login without a password", "the right password"] {
        let o = run(&driver, step(&scenario, name)).await;
        assert_eq!(o.verdict, NativeVerdict::Deviates, "{o:?}");
        assert!(o.observed.contains("does not offer TLS"), "{}", o.observed);
    }
    driver.teardown().await.unwrap();
    emu.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_ca_file_is_an_error_not_a_verdict() {
    let Some(emu) = start(LocalBackend::PostgresTls).await else {
        return;
    };
    let driver = PostgresDriver::connect(emu.endpoint(), config("ca"))
        .await
        .unwrap();
    let mut step = step(&shipped_scenario(), "a server certificate").clone();
    step.params["ca_file"] = "no-such-ca.pem".into();
    let o = run(&driver, &step).await;
    assert_eq!(o.verdict, NativeVerdict::Error, "{o:?}");
    assert!(o.observed.contains("no-such-ca.pem"), "{}", o.observed);
    driver.teardown().await.unwrap();
    emu.stop().await;
}
