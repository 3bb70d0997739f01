//! The seam between the engine's fault schedule and whatever can break a target: the
//! engine decides *when* (`Scenario::faults`), an injector does *what* (the CLI's knows
//! the stand-ins' processes and the proxies in front of them; a real target's would run
//! a cloud CLI).

use crate::scenario::{FaultKind, FaultSpec};

#[async_trait::async_trait]
pub trait FaultInjector: Send + Sync {
    /// Carries out `action` (the fault's own kind, or its undo) for `fault`. Returns what
    /// was done, in one line, or why it could not be.
    async fn apply(&self, action: FaultKind, fault: &FaultSpec) -> Result<String, String>;
}
