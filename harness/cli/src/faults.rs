//! `--fault` options of `assay run`: faults a local stand-in is started with. Only what a
//! stand-in can do by itself lives here; a fault schedule during the run belongs to the
//! engine.

use assay_core::LocalBackend;
use assay_emulators::SpannerFaults;

/// Every fault the run was asked for, by the stand-in it applies to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Faults {
    pub spanner: SpannerFaults,
}

const KNOWN: &str = "spanner-abort=<0..1> (the Spanner emulator aborts a running read-write transaction with this probability when another begins)";

impl Faults {
    /// Parses `--fault` values such as `spanner-abort=0.3`.
    pub fn parse(values: &[String]) -> Result<Faults, String> {
        let mut faults = Faults::default();
        for v in values {
            let (name, value) = v.split_once('=').unwrap_or((v.as_str(), ""));
            match name.trim() {
                "spanner-abort" => {
                    let p: f64 = value.trim().parse().map_err(|_| {
                        format!("--fault {v}: `{value}` is not a probability; write e.g. spanner-abort=0.3")
                    })?;
                    if !(0.0..=1.0).contains(&p) {
                        return Err(format!(
                            "--fault {v}: the probability must be between 0 and 1"
                        ));
                    }
                    faults.spanner.abort_probability = Some(p);
                }
                other => {
                    return Err(format!("--fault: unknown fault `{other}`; known: {KNOWN}"));
                }
            }
        }
        Ok(faults)
    }

    /// Whether `backend` must be started with faults (and so not reused from
    /// `assay emulators up`, which started it without).
    pub fn applies_to(&self, backend: LocalBackend) -> bool {
        backend == LocalBackend::SpannerEmulator && self.spanner != SpannerFaults::default()
    }

    /// Fails when a fault names a stand-in none of the targets uses.
    pub fn check_targets(&self, backends: &[LocalBackend]) -> Result<(), String> {
        if self.spanner != SpannerFaults::default()
            && !backends.contains(&LocalBackend::SpannerEmulator)
        {
            return Err("--fault spanner-abort applies to the spanner-emulator target; add --target spanner-emulator".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spanner_abort_parses_and_bad_values_say_the_fix() {
        let f = Faults::parse(&["spanner-abort=0.3".into()]).unwrap();
        assert_eq!(f.spanner.abort_probability, Some(0.3));
        assert!(f.applies_to(LocalBackend::SpannerEmulator));
        assert!(!f.applies_to(LocalBackend::Postgres));
        assert!(Faults::parse(&["spanner-abort=x".into()])
            .unwrap_err()
            .contains("not a probability"));
        assert!(Faults::parse(&["spanner-abort=2".into()])
            .unwrap_err()
            .contains("between 0 and 1"));
        assert!(Faults::parse(&["disk-full".into()])
            .unwrap_err()
            .contains("unknown fault `disk-full`"));
        assert!(f.check_targets(&[LocalBackend::Postgres]).is_err());
        assert!(f.check_targets(&[LocalBackend::SpannerEmulator]).is_ok());
        assert!(Faults::default().check_targets(&[]).is_ok());
    }
}
