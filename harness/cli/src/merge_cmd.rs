//! `assay merge DIR... --out DIR`: shard runs (`--shard i/N`, or runs of the same
//! scenarios from several machines) merged into one run directory — record, history,
//! then judged and rendered like any other run.

use crate::{error_line, EXIT_CANNOT_RUN};
use assay_core::record::RunRecord;
use assay_core::HistoryEvent;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct MergeArgs {
    /// Run directories written by `assay run` (each holding record.json).
    #[arg(required = true, num_args = 2..)]
    runs: Vec<PathBuf>,
    /// Where the merged run is written.
    #[arg(long, required = true)]
    out: PathBuf,
}

/// Op ids and client numbers of shard `i` are moved into a range of their own, so the
/// merged history keeps every op distinct.
fn renumber(events: &mut [HistoryEvent], shard: usize) {
    let op_base = (shard as u64) << 40;
    let client_base = (shard as u32) << 20;
    for e in events {
        match e {
            HistoryEvent::Invoke { op_id, client, .. }
            | HistoryEvent::Complete { op_id, client, .. } => {
                *op_id += op_base;
                *client += client_base;
            }
        }
    }
}

pub fn merge_command(args: MergeArgs) -> u8 {
    let mut records = Vec::new();
    let mut histories: Vec<(String, String, Vec<HistoryEvent>)> = Vec::new();
    for (i, dir) in args.runs.iter().enumerate() {
        match RunRecord::load(dir) {
            Ok(r) => records.push(r),
            Err(e) => {
                error_line(e);
                return EXIT_CANNOT_RUN;
            }
        }
        match assay_reports::read_history(dir) {
            Ok(h) => {
                for ((target, scenario), mut events) in h {
                    renumber(&mut events, i);
                    match histories
                        .iter_mut()
                        .find(|(t, s, _)| *t == target && *s == scenario)
                    {
                        Some((_, _, all)) => all.extend(events),
                        None => histories.push((target, scenario, events)),
                    }
                }
            }
            Err(e) => {
                error_line(e);
                return EXIT_CANNOT_RUN;
            }
        }
    }
    let merged = match RunRecord::merge(records) {
        Ok(m) => m,
        Err(e) => {
            error_line(e);
            return EXIT_CANNOT_RUN;
        }
    };
    histories.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
    let written = std::fs::create_dir_all(&args.out)
        .and_then(|()| {
            assay_reports::write_history(
                &args.out,
                histories
                    .iter()
                    .map(|(t, s, h)| (t.as_str(), s.as_str(), h.as_slice())),
            )
        })
        .and_then(|_| merged.save(&args.out));
    if let Err(e) = written {
        error_line(format!(
            "cannot write the merged run to {}: {e}",
            args.out.display()
        ));
        return EXIT_CANNOT_RUN;
    }
    crate::report_cmd::finish(&args.out, None)
}
