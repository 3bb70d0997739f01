//! The fidelity matrix of conformance scenarios, as `fidelity.md` and as the per-step
//! table printed on the terminal: step × target → pass / deviates / unsupported /
//! unverified / error, with what each target did.

use crate::model::{FidelityCell, FidelityMatrix, Verdict};
use assay_check::thresholds::format_ns;
use assay_core::Measurement;
use std::fmt::Write as _;

/// `name: N samples, p50 …, p99 …, max …`, one measured distribution in a line.
pub(crate) fn measurement_line(m: &Measurement) -> String {
    format!(
        "{}: {} samples, p50 {}, p99 {}, max {}",
        m.name,
        m.count,
        format_ns(m.p50_us as f64 * 1e3),
        format_ns(m.p99_us as f64 * 1e3),
        format_ns(m.max_us as f64 * 1e3)
    )
}

/// A cell's evidence lines and measured distributions, each prefixed with `indent`.
fn details(c: &FidelityCell, indent: &str) -> String {
    let mut out = String::new();
    for e in &c.evidence {
        let _ = writeln!(out, "{indent}{e}");
    }
    for m in &c.measurements {
        let _ = writeln!(out, "{indent}{}", measurement_line(m));
    }
    out
}

fn paint(text: &str, verdict: Verdict, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let code = match verdict {
        Verdict::Pass => "32",
        Verdict::Deviates | Verdict::Fail | Verdict::Error => "31",
        Verdict::Unsupported | Verdict::Unverified => "33",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// `fidelity.md`: one table per conformance scenario, then every cell's evidence.
pub fn render_markdown(matrices: &[FidelityMatrix]) -> String {
    let mut md = String::from("# Fidelity\n\nEach step's expected result is the documented behaviour it cites. `pass`: observed as documented; `deviates`: something else was observed; `unsupported`: the backend refused or lacks the API; `unverified`: accepted, but this backend cannot show whether the behaviour holds; `error`: the step could not be carried out.\n");
    for m in matrices {
        let _ = writeln!(md, "\n## {}\n", m.scenario);
        let _ = writeln!(md, "| step | {} | documented |", m.targets.join(" | "));
        let _ = writeln!(md, "|---|{}---|", "---|".repeat(m.targets.len()));
        for r in &m.rows {
            let cells: Vec<&str> = r.cells.iter().map(|c| c.verdict.as_str()).collect();
            let documented = match (&r.documented, &r.cite) {
                (Some(d), Some(c)) => format!("{d} ([source]({c}))"),
                (Some(d), None) => d.clone(),
                _ => "-".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} |",
                r.step,
                cells.join(" | "),
                documented.replace('|', "\\|")
            );
        }
        let notes: Vec<String> = m
            .rows
            .iter()
            .flat_map(|r| {
                r.cells.iter().zip(&m.targets).map(move |(c, t)| {
                    format!(
                        "- **{}** on `{t}` — {}: {}\n{}",
                        r.step,
                        c.verdict,
                        c.observed,
                        details(c, "  - ")
                    )
                })
            })
            .collect();
        if !notes.is_empty() {
            let _ = writeln!(md, "\nWhat each target did:\n\n{}", notes.concat());
        }
    }
    md
}

/// The terminal table: STEP then one column per target; below it, what was observed: for
/// native steps every cell (the evidence behind each verdict, pass included), for portable
/// steps the cells that did not pass.
pub fn render_terminal(matrices: &[FidelityMatrix], color: bool) -> String {
    let mut out = String::new();
    for m in matrices {
        let mut header = vec![m.scenario.to_uppercase()];
        header.extend(m.targets.iter().map(|t| t.to_uppercase()));
        let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
        for r in &m.rows {
            widths[0] = widths[0].max(r.step.chars().count());
            for (i, c) in r.cells.iter().enumerate() {
                widths[i + 1] = widths[i + 1].max(c.verdict.as_str().len());
            }
        }
        let pad = |s: &str, w: usize| format!("{s}{}", " ".repeat(w - s.chars().count()));
        let head: Vec<String> = header
            .iter()
            .zip(&widths)
            .map(|(h, w)| pad(h, *w))
            .collect();
        let _ = writeln!(out, "\n{}", head.join("  ").trim_end());
        for r in &m.rows {
            let mut line = pad(&r.step, widths[0]);
            for (i, c) in r.cells.iter().enumerate() {
                line.push_str("  ");
                let text = pad(c.verdict.as_str(), widths[i + 1]);
                line.push_str(&paint(&text, c.verdict, color));
            }
            let _ = writeln!(out, "{}", line.trim_end());
        }
        for r in &m.rows {
            for (c, t) in r.cells.iter().zip(&m.targets) {
                if r.native.is_none() && c.verdict == Verdict::Pass {
                    continue;
                }
                let _ = writeln!(out, "  {} on {t}: {}: {}", r.step, c.verdict, c.observed);
                out.push_str(&details(c, "      "));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{FidelityCell, FidelityRow};

    fn matrix() -> FidelityMatrix {
        let cell = |verdict, observed: &str| FidelityCell {
            verdict,
            observed: observed.into(),
            evidence: vec![],
            measurements: vec![],
        };
        FidelityMatrix {
            scenario: "transactions".into(),
            targets: vec!["dynamodb-moto".into(), "dynamodb-dynalite".into()],
            rows: vec![FidelityRow {
                step: "all or nothing".into(),
                native: Some("dynamodb.txn_all_or_nothing".into()),
                documented: Some("a failed condition cancels every item".into()),
                cite: Some("https://docs.aws.amazon.com/x".into()),
                cells: vec![
                    FidelityCell {
                        evidence: vec!["item 1: ConditionalCheckFailed".into()],
                        ..cell(Verdict::Pass, "cancelled, nothing applied")
                    },
                    cell(Verdict::Unsupported, "UnknownOperationException"),
                ],
            }],
        }
    }

    #[test]
    fn markdown_has_a_column_per_target_and_the_evidence_of_every_cell() {
        let md = render_markdown(&[matrix()]);
        assert!(md.contains("| step | dynamodb-moto | dynamodb-dynalite | documented |"));
        assert!(md.contains("| all or nothing | pass | unsupported | a failed condition cancels every item ([source](https://docs.aws.amazon.com/x)) |"), "{md}");
        assert!(md.contains(
            "- **all or nothing** on `dynamodb-dynalite` — unsupported: UnknownOperationException"
        ));
        assert!(md.contains(
            "- **all or nothing** on `dynamodb-moto` — pass: cancelled, nothing applied\n  - item 1: ConditionalCheckFailed"
        ));
    }

    #[test]
    fn terminal_table_aligns_and_lists_what_each_target_did() {
        let t = render_terminal(&[matrix()], false);
        let lines: Vec<&str> = t.lines().filter(|l| !l.is_empty()).collect();
        assert_eq!(lines[0], "TRANSACTIONS    DYNAMODB-MOTO  DYNAMODB-DYNALITE");
        assert_eq!(lines[1], "all or nothing  pass           unsupported");
        assert_eq!(
            lines[2],
            "  all or nothing on dynamodb-moto: pass: cancelled, nothing applied"
        );
        assert_eq!(lines[3], "      item 1: ConditionalCheckFailed");
        assert_eq!(
            lines[4],
            "  all or nothing on dynamodb-dynalite: unsupported: UnknownOperationException"
        );
    }
}
