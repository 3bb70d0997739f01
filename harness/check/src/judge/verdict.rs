//! The one verdict type: of a run, a target, a scenario, a step, a fidelity cell.

use serde::Serialize;
use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Every check and threshold held; the documented behaviour was observed.
    Pass,
    /// A check or threshold failed (exit code 1).
    Fail,
    /// A backend-specific step observed something other than the documented behaviour
    /// (fails a run like `Fail`).
    Deviates,
    /// The run could not be done: backend down, bad setup, a step that could not be
    /// carried out (exit code 2).
    Error,
    /// The target cannot express what the scenario needs; nothing was verified.
    Unsupported,
    /// The target accepted every step but cannot show whether the documented behaviour
    /// holds (e.g. consistency levels on a single-replica stand-in); not a pass.
    Unverified,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Fail => "fail",
            Verdict::Deviates => "deviates",
            Verdict::Error => "error",
            Verdict::Unsupported => "unsupported",
            Verdict::Unverified => "unverified",
        }
    }

    /// The process exit code this verdict asks for (unsupported and unverified do not
    /// fail a run).
    pub fn exit_code(self) -> i32 {
        match self {
            Verdict::Pass | Verdict::Unsupported | Verdict::Unverified => 0,
            Verdict::Fail | Verdict::Deviates => 1,
            Verdict::Error => 2,
        }
    }

    /// Whether this verdict fails a run.
    pub fn fails(self) -> bool {
        self.exit_code() != 0
    }

    /// The worse of two verdicts (error > fail, deviates > pass > unverified >
    /// unsupported).
    pub fn worst(self, other: Verdict) -> Verdict {
        let rank = |v: Verdict| match v {
            Verdict::Unsupported => 0,
            Verdict::Unverified => 1,
            Verdict::Pass => 2,
            Verdict::Deviates => 3,
            Verdict::Fail => 4,
            Verdict::Error => 5,
        };
        if rank(other) > rank(self) {
            other
        } else {
            self
        }
    }

    /// The verdict on what a driver observed running a native step.
    pub(crate) fn of_native(finding: assay_core::NativeVerdict) -> Verdict {
        use assay_core::NativeVerdict as N;
        match finding {
            N::Pass => Verdict::Pass,
            N::Unverified => Verdict::Unverified,
            N::Unsupported => Verdict::Unsupported,
            N::Deviates => Verdict::Deviates,
            N::Error => Verdict::Error,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_worst_verdict_decides_and_only_failures_fail() {
        use Verdict::*;
        assert_eq!(Unsupported.worst(Pass), Pass);
        assert_eq!(Pass.worst(Unverified), Pass);
        assert_eq!(Pass.worst(Deviates), Deviates);
        assert_eq!(Deviates.worst(Fail), Fail);
        assert_eq!(Fail.worst(Error), Error);
        assert_eq!(Error.worst(Unsupported), Error);
        let exits: Vec<i32> = [Pass, Fail, Deviates, Error, Unsupported, Unverified]
            .map(Verdict::exit_code)
            .to_vec();
        assert_eq!(exits, vec![0, 1, 1, 2, 0, 0]);
    }
}
