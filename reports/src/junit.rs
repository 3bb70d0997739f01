//! JUnit XML: one testsuite per target, one testcase per scenario step and threshold, so
//! CI systems show exactly which step failed and why.

use crate::model::{RunReport, ScenarioReport, Verdict};
use std::fmt::Write;

pub(crate) fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c if (c as u32) < 0x20 && c != '\n' && c != '\t' => {}
            c => out.push(c),
        }
    }
    out
}

struct Case {
    class: String,
    name: String,
    seconds: f64,
    failure: Option<String>,
    error: Option<String>,
    skipped: Option<String>,
}

fn scenario_cases(target: &str, s: &ScenarioReport) -> Vec<Case> {
    let class = format!("{target}.{}", s.name);
    let mut cases = Vec::new();
    match s.verdict {
        Verdict::Unsupported if s.native_steps.is_empty() => {
            cases.push(Case {
                class,
                name: s.name.clone(),
                seconds: 0.0,
                failure: None,
                error: None,
                skipped: Some(s.reason.clone().unwrap_or_else(|| "unsupported".into())),
            });
            return cases;
        }
        Verdict::Error if s.steps.is_empty() && s.native_steps.is_empty() => {
            cases.push(Case {
                class,
                name: s.name.clone(),
                seconds: s.elapsed_s,
                failure: None,
                error: Some(s.reason.clone().unwrap_or_else(|| "could not run".into())),
                skipped: None,
            });
            return cases;
        }
        _ => {}
    }
    for step in &s.steps {
        let failure = (!step.passed).then(|| {
            let mut msg = format!(
                "{} of {} ops completed, {} did not match the expectation",
                step.completed, step.planned, step.mismatches
            );
            for m in &step.examples {
                let _ = write!(
                    msg,
                    "\nop {} key {}: expected {}, observed {}",
                    m.op_id, m.key, m.expected, m.observed
                );
            }
            msg
        });
        cases.push(Case {
            class: class.clone(),
            name: format!("step: {}", step.step),
            seconds: 0.0,
            failure,
            error: None,
            skipped: None,
        });
    }
    for n in &s.native_steps {
        let detail = std::iter::once(n.observed.clone())
            .chain(n.evidence.iter().cloned())
            .collect::<Vec<_>>()
            .join("\n");
        let (failure, error, skipped) = match n.verdict {
            Verdict::Pass => (None, None, None),
            Verdict::Deviates | Verdict::Fail => (
                Some(format!("documented: {}\nobserved: {detail}", n.documented)),
                None,
                None,
            ),
            Verdict::Error => (None, Some(detail), None),
            Verdict::Unsupported | Verdict::Unverified => {
                (None, None, Some(format!("{}: {detail}", n.verdict)))
            }
        };
        cases.push(Case {
            class: class.clone(),
            name: format!("step: {}", n.step),
            seconds: n.elapsed_s,
            failure,
            error,
            skipped,
        });
    }
    for t in &s.thresholds {
        cases.push(Case {
            class: class.clone(),
            name: format!("threshold: {}", t.threshold),
            seconds: 0.0,
            failure: (!t.passed).then(|| {
                format!(
                    "threshold {} failed: observed {}",
                    t.threshold, t.observed_display
                )
            }),
            error: None,
            skipped: None,
        });
    }
    if let Some(reason) = &s.reason {
        if s.verdict == Verdict::Error {
            cases.push(Case {
                class,
                name: "run".into(),
                seconds: s.elapsed_s,
                failure: None,
                error: Some(reason.clone()),
                skipped: None,
            });
        }
    }
    cases
}

pub fn render(report: &RunReport) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(
        out,
        "<testsuites name=\"assay {}\">",
        escape(&report.run_id)
    );
    for t in &report.targets {
        let mut cases: Vec<Case> = Vec::new();
        if let Some(err) = &t.error {
            cases.push(Case {
                class: t.name.clone(),
                name: "target".into(),
                seconds: 0.0,
                failure: None,
                error: Some(err.clone()),
                skipped: None,
            });
        }
        for s in &t.scenarios {
            cases.extend(scenario_cases(&t.name, s));
        }
        let failures = cases.iter().filter(|c| c.failure.is_some()).count();
        let errors = cases.iter().filter(|c| c.error.is_some()).count();
        let skipped = cases.iter().filter(|c| c.skipped.is_some()).count();
        let _ = writeln!(
            out,
            "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\">",
            escape(&t.name),
            cases.len()
        );
        for c in &cases {
            let _ = write!(
                out,
                "    <testcase classname=\"{}\" name=\"{}\" time=\"{:.3}\"",
                escape(&c.class),
                escape(&c.name),
                c.seconds
            );
            if let Some(f) = &c.failure {
                let first = f.lines().next().unwrap_or("");
                let _ = writeln!(
                    out,
                    ">\n      <failure message=\"{}\">{}</failure>\n    </testcase>",
                    escape(first),
                    escape(f)
                );
            } else if let Some(e) = &c.error {
                let _ = writeln!(
                    out,
                    ">\n      <error message=\"{}\">{}</error>\n    </testcase>",
                    escape(e),
                    escape(e)
                );
            } else if let Some(s) = &c.skipped {
                let _ = writeln!(
                    out,
                    ">\n      <skipped message=\"{}\"/>\n    </testcase>",
                    escape(s)
                );
            } else {
                out.push_str("/>\n");
            }
        }
        out.push_str("  </testsuite>\n");
    }
    out.push_str("</testsuites>\n");
    out
}
