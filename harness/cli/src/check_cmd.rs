//! `assay check HISTORY --model M`: consistency verdicts over a recorded history, from
//! `assay run` (JSONL) or from Jepsen (EDN). Each target × scenario section is checked on
//! its own. Exit 0 valid, 1 an anomaly the model forbids (or an inconclusive check:
//! nothing unverified passes), 2 the history could not be read.

use crate::{error_line, EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_PASS};
use assay_check::{check_history, edn, parse_history_text, Model};
use std::path::PathBuf;

/// Version of `assay check --json` output.
const CHECK_JSON_VERSION: u32 = 1;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A history file: `history.jsonl` from `assay run`, or a Jepsen EDN history.
    history: PathBuf,
    /// linearizable, strict-serializable, serializable, snapshot-isolation,
    /// read-committed or session.
    #[arg(long)]
    model: String,
    /// Print the verdicts as versioned JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the history as Jepsen EDN to this file (to compare with Jepsen's checkers).
    #[arg(long, value_name = "FILE")]
    write_edn: Option<PathBuf>,
}

pub fn check_command(args: CheckArgs) -> u8 {
    let model: Model = match args.model.parse() {
        Ok(m) => m,
        Err(e) => {
            error_line(format!("--model: {e}"));
            return EXIT_CANNOT_RUN;
        }
    };
    let path = args.history.display().to_string();
    let text = match std::fs::read_to_string(&args.history) {
        Ok(t) => t,
        Err(e) => {
            error_line(format!("{path}: cannot read: {e}; give a history.jsonl from `assay run` or a Jepsen EDN file"));
            return EXIT_CANNOT_RUN;
        }
    };
    let sections = match parse_history_text(&text) {
        Ok(s) if !s.is_empty() => s,
        Ok(_) => {
            error_line(format!("{path}: the history is empty"));
            return EXIT_CANNOT_RUN;
        }
        Err(e) => {
            error_line(format!("{path}: {e}"));
            return EXIT_CANNOT_RUN;
        }
    };
    if let Some(out) = &args.write_edn {
        let edn_text: String = sections
            .iter()
            .map(|s| edn::write_history(&s.events))
            .collect();
        if let Err(e) = std::fs::write(out, edn_text) {
            error_line(format!("{}: cannot write: {e}", out.display()));
            return EXIT_CANNOT_RUN;
        }
    }
    let verdicts: Vec<_> = sections
        .iter()
        .map(|s| (s, check_history(&s.events, model)))
        .collect();
    if args.json {
        let json = serde_json::json!({
            "schema_version": CHECK_JSON_VERSION,
            "history": path,
            "model": model.as_str(),
            "sections": verdicts.iter().map(|(s, v)| serde_json::json!({
                "target": s.target,
                "scenario": s.scenario,
                "verdict": v,
            })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        for (s, v) in &verdicts {
            if !s.target.is_empty() || !s.scenario.is_empty() {
                println!("== {} / {}", s.target, s.scenario);
            }
            print!("{v}");
        }
    }
    if verdicts.iter().all(|(_, v)| v.valid) {
        EXIT_PASS
    } else {
        EXIT_FAIL
    }
}
