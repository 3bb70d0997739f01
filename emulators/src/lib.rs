//! Starts, readies and stops Assay's local stand-ins: native processes on free loopback
//! ports, each in its own temp dir and process group, logs kept in the run dir; or
//! containers (testcontainers) when a Docker daemon answers.
//!
//! Everything started here is killed when its `Emulator` is dropped, on error, and by
//! `kill_all_started()` (the CLI's Ctrl-C handler).
//!
//! PUBLIC API CONTRACT (used by the CLI, xtask and driver integration tests):
//!
//! ```ignore
//! pub enum Mode { Auto, Native, Containers }
//! pub struct StartOptions { pub run_dir: PathBuf, pub mode: Mode, pub workspace_root: PathBuf }
//! impl StartOptions { pub fn for_tests() -> StartOptions }   // run_dir under target/assay/test-emulators
//! pub struct Emulator;
//! impl Emulator {
//!     pub async fn start(backend: LocalBackend, opts: &StartOptions) -> Result<Emulator, EmulatorError>;
//!     pub fn backend(&self) -> LocalBackend;
//!     pub fn endpoint(&self) -> &assay_core::Endpoint;
//!     pub fn version(&self) -> Option<String>;
//!     pub fn exit_reason(&mut self) -> Option<String>; // Some("moto_server exited (signal 9)") once a process died
//!     pub fn pids(&self) -> Vec<u32>;
//!     pub fn log_paths(&self) -> Vec<PathBuf>;
//!     pub async fn stop(self);
//! }
//! pub fn availability(backend: LocalBackend, workspace_root: &Path) -> Result<(), String>; // Err: why + the fix
//! pub fn kill_all_started();
//! ```
