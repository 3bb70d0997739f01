//! Starts each native backend through the public API, checks its endpoint answers at the
//! protocol level, stops it and checks no process is left; plus death detection, drop,
//! detach and mode errors.

mod common;

use assay_core::{Endpoint, LocalBackend};
use assay_emulators::{
    containers, process_is_alive, state, Emulator, EmulatorError, Mode, StartOptions,
};
use common::*;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn postgres_accepts_password_logins_to_the_assay_database() {
    let Some(emu) = start_or_skip(LocalBackend::Postgres).await else {
        return;
    };
    let Endpoint::Postgres { url, replica_url } = emu.endpoint().clone() else {
        panic!("wrong endpoint {:?}", emu.endpoint());
    };
    assert!(replica_url.is_none());
    let url = url.expose().to_string();
    assert!(
        url.starts_with("postgres://assay:"),
        "{}",
        emu.endpoint().display_safe()
    );
    assert!(url.contains("@127.0.0.1:") && url.ends_with("/assay"));
    let port = url.rsplit(':').next().unwrap().trim_end_matches("/assay");
    let version = emu.version().expect("postgres --version");
    assert!(version.contains("PostgreSQL"), "{version}");

    // Running as root, the server must run as an unprivileged user.
    let server = emu.pids()[0];
    let status = std::fs::read_to_string(format!("/proc/{server}/status")).unwrap();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    let uid: u32 = uid_line.split_whitespace().nth(1).unwrap().parse().unwrap();
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        assert_ne!(uid, 0, "postgres runs as root: {uid_line}");
    }

    let pg_bin = pg_bin_dir();
    let ready = std::process::Command::new(pg_bin.join("pg_isready"))
        .args(["-h", "127.0.0.1", "-p", port, "-U", "assay", "-d", "assay"])
        .output()
        .expect("pg_isready runs");
    assert!(
        ready.status.success(),
        "pg_isready: {}",
        String::from_utf8_lossy(&ready.stdout)
    );
    // A real login with the password proves role, password and database.
    let psql = std::process::Command::new(pg_bin.join("psql"))
        .args([
            url.as_str(),
            "-XAtc",
            "select current_user || '/' || current_database()",
        ])
        .output()
        .expect("psql runs");
    assert_eq!(
        String::from_utf8_lossy(&psql.stdout).trim(),
        "assay/assay",
        "psql stderr: {}",
        String::from_utf8_lossy(&psql.stderr)
    );
    let wrong = url.replacen("postgres://assay:", "postgres://assay:wrong", 1);
    let denied = std::process::Command::new(pg_bin.join("psql"))
        .args([wrong.as_str(), "-XAtc", "select 1"])
        .output()
        .expect("psql runs");
    assert!(!denied.status.success(), "a wrong password must be refused");

    stop_and_assert_gone(emu).await;
}

#[tokio::test]
async fn postgres_replica_streams_the_primarys_writes_and_refuses_its_own() {
    let Some(emu) = start_or_skip(LocalBackend::PostgresReplica).await else {
        return;
    };
    let Endpoint::Postgres { url, replica_url } = emu.endpoint().clone() else {
        panic!("wrong endpoint {:?}", emu.endpoint());
    };
    let primary = url.expose().to_string();
    let replica = replica_url.expect("a replica url").expose().to_string();
    assert_ne!(primary, replica);
    assert!(replica.starts_with("postgres://assay:") && replica.contains("@127.0.0.1:"));
    // Two servers, each in its own process group.
    assert_eq!(emu.process_groups().len(), 2, "{emu:?}");

    let psql = |url: &str, sql: &str| {
        let out = std::process::Command::new(pg_bin_dir().join("psql"))
            .args([url, "-XAtc", sql])
            .output()
            .expect("psql runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    };
    assert_eq!(psql(&primary, "select pg_is_in_recovery()").1, "f");
    assert_eq!(psql(&replica, "select pg_is_in_recovery()").1, "t");
    let (ok, _, err) = psql(
        &primary,
        "create table marker (id int primary key); insert into marker values (42)",
    );
    assert!(ok, "{err}");
    let started = std::time::Instant::now();
    let mut seen = String::new();
    while started.elapsed() < Duration::from_secs(10) {
        seen = psql(&replica, "select id from marker").1;
        if seen == "42" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        seen, "42",
        "the replica did not show the primary's write within 10 s"
    );
    let (ok, _, err) = psql(&replica, "insert into marker values (43)");
    assert!(
        !ok && err.contains("read-only"),
        "a standby must refuse writes: {err}"
    );

    stop_and_assert_gone(emu).await;
}

/// Checked with libpq (psql), a TLS stack other than the driver's: the URL's own
/// verify-full settings log in over TLS; plaintext and a wrong password are refused.
#[tokio::test]
async fn postgres_tls_admits_only_verified_tls_with_the_password() {
    let Some(emu) = start_or_skip(LocalBackend::PostgresTls).await else {
        return;
    };
    let Endpoint::Postgres { url, replica_url } = emu.endpoint().clone() else {
        panic!("wrong endpoint {:?}", emu.endpoint());
    };
    assert!(replica_url.is_none());
    let url = url.expose().to_string();
    let (base, query) = url.split_once('?').expect("TLS settings in the query");
    assert!(
        query.starts_with("sslmode=verify-full&sslrootcert=/"),
        "{query}"
    );
    let ca = query.split("sslrootcert=").nth(1).unwrap();
    let tls_dir = std::path::Path::new(ca).parent().unwrap();
    assert!(!tls_dir.join("ca.key").exists(), "the CA's key is deleted");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", emu.pids()[0])).unwrap();
        let uid = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
        assert_ne!(uid.split_whitespace().nth(1), Some("0"), "{uid}");
    }
    let psql = |url: &str| {
        let out = std::process::Command::new(pg_bin_dir().join("psql"))
            .args([
                url,
                "-XAtc",
                "select ssl::text from pg_stat_ssl where pid = pg_backend_pid()",
            ])
            .env_remove("PGPASSWORD")
            .output()
            .expect("psql runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).trim().to_string(),
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        )
    };
    let (ok, ssl, err) = psql(&url);
    assert!(ok && ssl == "true", "{ssl} {err}");
    let (ok, _, err) = psql(&format!("{base}?sslmode=disable"));
    assert!(!ok && err.contains("no encryption"), "plaintext: {err}");
    let wrong = url.replacen("postgres://assay:", "postgres://assay:wrong", 1);
    let (ok, _, err) = psql(&wrong);
    assert!(
        !ok && err.contains("password authentication failed"),
        "{err}"
    );

    let temp = tls_dir.parent().unwrap().to_path_buf();
    stop_and_assert_gone(emu).await;
    assert!(!temp.exists(), "{} removed", temp.display());
}

/// The client binaries sit next to the server binaries on Debian.
fn pg_bin_dir() -> std::path::PathBuf {
    let initdb = std::env::var_os("PATH")
        .and_then(|p| {
            std::env::split_paths(&p)
                .map(|d| d.join("initdb"))
                .find(|p| p.exists())
        })
        .and_then(|p| std::fs::canonicalize(p).ok());
    match initdb.and_then(|p| p.parent().map(|d| d.to_path_buf())) {
        Some(dir) => dir,
        None => std::fs::read_dir("/usr/lib/postgresql")
            .expect("postgres is installed (availability passed)")
            .flatten()
            .map(|e| e.path().join("bin"))
            .max()
            .expect("a /usr/lib/postgresql/<v>/bin"),
    }
}

#[tokio::test]
async fn moto_answers_list_tables() {
    let Some(emu) = start_or_skip(LocalBackend::DynamodbMoto).await else {
        return;
    };
    assert_dynamodb_endpoint_answers(&emu).await;
    assert_eq!(emu.version().as_deref(), Some("moto 5.2.1"));
    stop_and_assert_gone(emu).await;
}

/// When the machine's moto differs from the pin, the project's venv is used. The venv here
/// is a stand-in interpreter that reports the pinned version and runs the machine's moto,
/// so the test needs no network (a real first use would `pip install` into it).
#[tokio::test]
async fn moto_runs_from_the_project_venv_when_the_machine_has_another_version() {
    use std::os::unix::fs::PermissionsExt;
    let real = StartOptions::for_tests();
    if !assay_emulators::testing::backend_available(
        LocalBackend::DynamodbMoto,
        &real.workspace_root,
    ) {
        return;
    }
    let python3 = std::env::split_paths(&std::env::var_os("PATH").unwrap())
        .map(|d| d.join("python3"))
        .find(|p| p.exists())
        .expect("python3 on PATH (availability passed)");
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("emulators/python")).unwrap();
    std::fs::write(
        root.path().join("emulators/python/requirements.txt"),
        "moto[server]==9.9.9\n",
    )
    .unwrap();
    let bin = root.path().join("target/assay/venv/bin");
    std::fs::create_dir_all(&bin).unwrap();
    let fake = bin.join("python");
    std::fs::write(
        &fake,
        format!(
            "#!/bin/sh\nif [ \"$1\" = -c ] && [ \"$2\" = 'import moto; print(moto.__version__)' ]; then echo 9.9.9; exit 0; fi\nexec {} \"$@\"\n",
            python3.display()
        ),
    )
    .unwrap();
    std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();

    let opts = StartOptions {
        workspace_root: root.path().to_path_buf(),
        run_dir: root.path().join("run"),
        mode: Mode::Native,
    };
    let emu = Emulator::start(LocalBackend::DynamodbMoto, &opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(emu.version().as_deref(), Some("moto 9.9.9"));
    assert_dynamodb_endpoint_answers(&emu).await;
    let log = std::fs::read_to_string(&emu.log_paths()[0]).unwrap();
    assert!(
        log.contains(&format!("spawn {} -m moto.server", fake.display())),
        "{log}"
    );
    stop_and_assert_gone(emu).await;
}

#[tokio::test]
async fn dynalite_answers_list_tables() {
    let Some(emu) = start_or_skip(LocalBackend::DynamodbDynalite).await else {
        return;
    };
    assert_dynamodb_endpoint_answers(&emu).await;
    assert_eq!(emu.version().as_deref(), Some("dynalite 4.0.0"));
    stop_and_assert_gone(emu).await;
}

async fn assert_dynamodb_endpoint_answers(emu: &Emulator) {
    let Endpoint::Dynamodb {
        url,
        region,
        access_key_id,
        secret_access_key,
    } = emu.endpoint()
    else {
        panic!("wrong endpoint {:?}", emu.endpoint());
    };
    assert_eq!(region, "us-east-1");
    assert_eq!(access_key_id.as_ref().map(|s| s.expose()), Some("assay"));
    assert_eq!(
        secret_access_key.as_ref().map(|s| s.expose()),
        Some("assay")
    );
    let addr = addr_of_url(url.as_deref().expect("a local url"));
    assert!(addr.ip().is_loopback());
    let (status, body) = list_tables(addr).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"TableNames\""), "{body}");
}

#[tokio::test]
async fn spanner_emulator_serves_grpc_and_reports_a_dead_emulator_main() {
    let Some(mut emu) = start_or_skip(LocalBackend::SpannerEmulator).await else {
        return;
    };
    let Endpoint::Spanner {
        emulator_host,
        project,
        instance,
        database,
    } = emu.endpoint().clone()
    else {
        panic!("wrong endpoint {:?}", emu.endpoint());
    };
    assert_eq!(
        (project.as_str(), instance.as_str(), database.as_str()),
        ("assay", "assay", "assay")
    );
    let grpc: std::net::SocketAddr = emulator_host.expect("emulator host").parse().unwrap();
    assert!(grpc.ip().is_loopback());
    assert_speaks_http2(grpc).await;
    assert!(emu
        .version()
        .unwrap_or_default()
        .starts_with("cloud-spanner-emulator "));

    // gateway_main + the emulator_main it spawned are both watched.
    let pids = emu.pids();
    assert_eq!(pids.len(), 2, "gateway and emulator: {pids:?}");
    assert!(emu.exit_reason().is_none());
    kill(pids[1], libc::SIGKILL);
    let reason = eventually(|| emu.exit_reason())
        .await
        .expect("the death of emulator_main is noticed");
    assert!(reason.contains("emulator_main"), "{reason}");
    assert!(reason.contains("log: "), "{reason}");

    let groups = emu.process_groups();
    emu.stop().await;
    assert_gone(&pids, &groups);
}

/// gRPC is HTTP/2: after the client preface and an empty SETTINGS frame, a server sends
/// its own SETTINGS frame (type 0x4).
async fn assert_speaks_http2(addr: std::net::SocketAddr) {
    let mut s = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connect grpc");
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    s.write_all(&hello).await.unwrap();
    let mut frame = [0u8; 9];
    tokio::time::timeout(Duration::from_secs(5), s.read_exact(&mut frame))
        .await
        .expect("answer within 5 s")
        .expect("a frame header");
    assert_eq!(frame[3], 4, "first frame is SETTINGS: {frame:?}");
}

#[tokio::test]
async fn cosmos_local_answers_account_reads_through_the_adapter() {
    let Some(emu) = start_or_skip(LocalBackend::CosmosLocal).await else {
        return;
    };
    let Endpoint::Cosmos { url, key, emulator } = emu.endpoint().clone() else {
        panic!("wrong endpoint {:?}", emu.endpoint());
    };
    assert!(emulator);
    assert!(key.expose().starts_with("C2y6yDjf5/R+ob0N8A7Cgv30VRDJ"));
    let addr = addr_of_url(&url);
    let (status, body) = http(addr, "GET", "/", &[], "").await;
    assert_eq!(status, 200, "{body}");
    // The adapter advertises itself, not the server's https://localhost address.
    assert!(body.contains(&format!("http://{addr}/")), "{body}");
    assert!(emu
        .version()
        .unwrap_or_default()
        .contains("@vercel/cosmosdb-server 1.0.1"));
    stop_and_assert_gone(emu).await;
    // With the server and adapter gone, nothing listens at the endpoint.
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn kill_9_of_the_backend_is_reported_by_exit_reason() {
    let Some(mut emu) = start_or_skip(LocalBackend::DynamodbMoto).await else {
        return;
    };
    assert!(emu.exit_reason().is_none(), "healthy at first");
    let pid = emu.pids()[0];
    kill(pid, libc::SIGKILL);
    let reason = eventually(|| emu.exit_reason()).await.expect("noticed");
    assert!(
        reason.starts_with("moto_server exited (killed by signal 9); log: "),
        "{reason}"
    );
    assert!(reason.ends_with(".log"), "{reason}");
    let groups = emu.process_groups();
    emu.stop().await;
    assert_gone(&[pid], &groups);
}

#[tokio::test]
async fn dropping_an_emulator_kills_its_process_group() {
    let Some(emu) = start_or_skip(LocalBackend::DynamodbMoto).await else {
        return;
    };
    let pids = emu.pids();
    let groups = emu.process_groups();
    drop(emu);
    assert_gone(&pids, &groups);
}

#[tokio::test]
async fn a_detached_backend_survives_and_is_stopped_from_the_state_file() {
    let Some(emu) = start_or_skip(LocalBackend::Postgres).await else {
        return;
    };
    let endpoint = emu.endpoint().clone();
    assert!(emu.can_detach().is_ok());
    let detached = emu.try_detach().expect("native postgres detaches");
    assert!(detached.note().is_none());
    assert!(detached.is_alive());
    assert_eq!(detached.endpoint(), endpoint);

    let root = tempfile::tempdir().unwrap();
    state::save(root.path(), std::slice::from_ref(&detached)).unwrap();
    let loaded = state::load(root.path()).unwrap();
    assert_eq!(loaded.len(), 1);
    assert!(loaded[0].is_alive());
    // The secret survives the round trip even though `Secret` serialises as "***".
    assert_eq!(loaded[0].endpoint(), endpoint);
    let text = std::fs::read_to_string(state::state_path(root.path())).unwrap();
    assert!(!text.contains("***"));

    let pids = loaded[0].pids();
    let temp = loaded[0]
        .temp_dir()
        .expect("postgres has a temp dir")
        .to_path_buf();
    assert!(temp.is_dir());
    state::stop_detached(&loaded[0]);
    assert!(!loaded[0].is_alive());
    for pid in pids {
        assert!(!process_is_alive(pid), "{pid} survived stop_detached");
    }
    assert!(!temp.exists(), "temp dir {} removed", temp.display());
}

#[tokio::test]
async fn cosmos_local_refuses_to_detach_with_a_reason() {
    let Some(emu) = start_or_skip(LocalBackend::CosmosLocal).await else {
        return;
    };
    let why = emu.can_detach().unwrap_err();
    assert!(why.contains("adapter"), "{why}");
    let pids = emu.pids();
    let err = emu.try_detach().unwrap_err();
    assert!(matches!(err, EmulatorError::CannotDetach { .. }), "{err}");
    // The refused emulator was stopped, not leaked.
    assert_gone(&pids, &[]);

    // The infallible form records the refusal in a record that is never alive.
    let Some(emu) = start_or_skip(LocalBackend::CosmosLocal).await else {
        return;
    };
    let pids = emu.pids();
    let record = emu.detach();
    assert!(!record.is_alive());
    assert!(record.note().unwrap_or_default().contains("adapter"));
    assert_eq!(record.backend(), LocalBackend::CosmosLocal);
    assert_gone(&pids, &[]);
}

#[tokio::test]
async fn containers_mode_errors_clearly() {
    let opts = StartOptions {
        mode: Mode::Containers,
        ..StartOptions::for_tests()
    };
    let err = Emulator::start(LocalBackend::DynamodbMoto, &opts)
        .await
        .unwrap_err();
    assert!(matches!(err, EmulatorError::NoContainer { .. }), "{err}");
    assert!(err.to_string().contains("--emulators native"), "{err}");

    match containers::docker_daemon_answers().await {
        Err((at, _)) => {
            let err = Emulator::start(LocalBackend::Postgres, &opts)
                .await
                .unwrap_err()
                .to_string();
            assert!(
                err.starts_with(&format!("no Docker daemon answers at {at}")),
                "{err}"
            );
            assert!(err.ends_with("use --emulators native"), "{err}");
            // Auto falls back to native without a daemon.
            let auto = StartOptions {
                mode: Mode::Auto,
                ..StartOptions::for_tests()
            };
            if let Some(emu) = start_or_skip_with(LocalBackend::DynamodbMoto, &auto).await {
                assert!(!emu.is_container());
                emu.stop().await;
            }
        }
        Ok(()) => eprintln!("a Docker daemon answers: the no-daemon error cannot be shown here"),
    }
}

async fn start_or_skip_with(backend: LocalBackend, opts: &StartOptions) -> Option<Emulator> {
    if !assay_emulators::testing::backend_available(backend, &opts.workspace_root) {
        return None;
    }
    Some(
        Emulator::start(backend, opts)
            .await
            .unwrap_or_else(|e| panic!("{e}")),
    )
}
