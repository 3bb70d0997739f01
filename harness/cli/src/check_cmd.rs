//! `assay check HISTORY --model M`: consistency verdicts over a recorded history, from
//! `assay run` (JSONL) or from Jepsen (EDN). Each target × scenario section is checked on
//! its own. Exit 0 valid, 1 an anomaly the model forbids (or an inconclusive check:
//! nothing unverified passes), 2 the history could not be read.

use crate::{error_line, EXIT_CANNOT_RUN, EXIT_FAIL, EXIT_PASS};
use assay_check::edn::DataModel;
use assay_check::input::read_history;
use assay_check::{check_history_with, edn, CheckOptions, FinalReads, Model};
use std::path::PathBuf;

/// Version of `assay check --json` output.
const CHECK_JSON_VERSION: u32 = 1;

#[derive(clap::Args)]
pub struct CheckArgs {
    /// A history file: `history.jsonl` from `assay run`, or a Jepsen EDN history.
    /// Not needed with `--model list`.
    history: Option<PathBuf>,
    /// A consistency model by its Elle name or Adya alias (read-uncommitted,
    /// read-committed, cursor-stability, monotonic-atomic-view, repeatable-read,
    /// update-atomic, consistent-view, snapshot-isolation, serializable,
    /// strong-session-snapshot-isolation, strong-snapshot-isolation,
    /// strong-session-serializable, strict-serializable, linearizable, session);
    /// `kv` (Porcupine's key-value model: get / put / append) or `cas-register`
    /// (Knossos' / etcd's: read / write / cas) check linearizability per key with EDN
    /// ops read under that data model (otherwise it is detected from the ops);
    /// `list` prints every model with the anomalies it forbids.
    #[arg(long)]
    model: String,
    /// Judge lost writes against the last read of each key that began after every
    /// acknowledged write (for imported histories that end with such reads); by default
    /// only reads marked final (Assay's final-read phase, EDN `:final? true`) count.
    #[arg(long)]
    last_read_is_final: bool,
    /// Print the verdicts as versioned JSON instead of text.
    #[arg(long)]
    json: bool,
    /// Also write the history as Jepsen EDN to this file (to compare with Jepsen's checkers).
    #[arg(long, value_name = "FILE")]
    write_edn: Option<PathBuf>,
}

pub fn check_command(args: CheckArgs) -> u8 {
    if args.model.trim() == "list" {
        print!("{}", assay_check::model_table());
        println!("kv (key-value)");
        println!("  Porcupine's key-value model: :get / :put / :append (string concatenation) on :key, read from EDN as such");
        println!("  checks: linearizability per key (forbids nonlinearizable)");
        println!("cas-register");
        println!("  Knossos' / etcd's cas-register: :read / :write / :cas [old new], read from EDN as such");
        println!("  checks: linearizability per key (forbids nonlinearizable)");
        return EXIT_PASS;
    }
    let (model, data) = match args.model.trim() {
        "kv" | "key-value" => (Ok(Model::Linearizable), DataModel::KeyValue),
        "cas-register" => (Ok(Model::Linearizable), DataModel::CasRegister),
        m => (m.parse::<Model>(), DataModel::Detect),
    };
    let model: Model = match model {
        Ok(m) => m,
        Err(e) => {
            error_line(format!("--model: {e}"));
            return EXIT_CANNOT_RUN;
        }
    };
    let Some(history) = &args.history else {
        error_line("give a history file: `assay check FILE --model M` (or `--model list`)");
        return EXIT_CANNOT_RUN;
    };
    let path = history.display().to_string();
    let file = match std::fs::File::open(history) {
        Ok(f) => std::io::BufReader::with_capacity(1 << 20, f),
        Err(e) => {
            error_line(format!("{path}: cannot read: {e}; give a history.jsonl from `assay run` or a Jepsen EDN file"));
            return EXIT_CANNOT_RUN;
        }
    };
    let sections = match read_history(file, data) {
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
    let mut opts = CheckOptions::new(model);
    if args.last_read_is_final {
        opts.final_reads = FinalReads::LastRead;
    }
    let verdicts: Vec<_> = sections
        .iter()
        .map(|s| (s, check_history_with(&s.events, &opts)))
        .collect();
    if args.json {
        let json = serde_json::json!({
            "schema_version": CHECK_JSON_VERSION,
            "history": path,
            "model": model.as_str(),
            "sections": verdicts.iter().map(|(s, v)| serde_json::json!({
                "target": s.target,
                "scenario": s.scenario,
                "nemesis_ops": s.nemesis.len(),
                "verdict": v,
            })).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&json).unwrap_or_default()
        );
    } else {
        match data {
            DataModel::KeyValue => {
                println!("data model: key-value (Porcupine: get / put / append), checked per key")
            }
            DataModel::CasRegister => println!(
                "data model: cas-register (Knossos / etcd: read / write / cas), checked per key"
            ),
            DataModel::Detect => {}
        }
        for (s, v) in &verdicts {
            if !s.target.is_empty() || !s.scenario.is_empty() {
                println!("== {} / {}", s.target, s.scenario);
            }
            if let Some(first) = s.nemesis.first() {
                println!(
                    "nemesis: {} op(s) skipped for checking, kept for the timeline (first: {} {} {})",
                    s.nemesis.len(),
                    first.kind,
                    first.f,
                    first.value
                );
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
