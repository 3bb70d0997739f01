//! For integration tests: whether a stand-in can run here. A missing stand-in fails the
//! test — every backend the tests need is on the image or installed by this crate — unless
//! `ASSAY_ALLOW_MISSING_BACKENDS=1` says to leave such tests out, and then the test prints
//! `NOT RUN` instead of pretending it passed.

pub mod leftovers;

use crate::availability;
use assay_core::LocalBackend;
use std::path::Path;

/// The variable that lets tests leave out a stand-in that cannot run here.
pub const ALLOW_MISSING: &str = "ASSAY_ALLOW_MISSING_BACKENDS";

/// `true` when the test should go on; `false` (with a `NOT RUN` line) when the stand-in
/// is missing and missing ones are allowed. Panics when it is missing and they are not.
pub fn backend_available(backend: LocalBackend, workspace_root: &Path) -> bool {
    match availability(backend, workspace_root) {
        Ok(()) => true,
        Err(why) if std::env::var(ALLOW_MISSING).is_ok_and(|v| v == "1") => {
            eprintln!("NOT RUN: {backend} cannot run here ({why}); {ALLOW_MISSING}=1 leaves it out");
            false
        }
        Err(why) => panic!(
            "{backend} cannot run here: {why}. Install it (see README), or set {ALLOW_MISSING}=1 to leave such tests out"
        ),
    }
}
