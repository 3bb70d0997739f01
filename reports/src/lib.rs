//! Renders a finished run as pure functions of its record (`assay_core::record`) and the
//! judge's verdicts (`assay_check::judge`): `report.json` (versioned schema),
//! `summary.md`, `junit.xml`, `fidelity.md`, `index.html` (one self-contained page,
//! inline SVG: `html/`), one `.hlog` per target × scenario, and the compact table printed
//! on the terminal. Also writes and reads `history.jsonl`. This
//! crate decides nothing and never talks to a backend.

mod build;
mod compare;
mod fidelity;
mod html;
mod junit;
mod load;
mod model;
mod table;
mod write;

pub use compare::{render_comparison_markdown, render_comparison_table};
pub use fidelity::render_terminal as render_fidelity;
pub use html::{render as render_html, INDEX_FILE};
pub use load::load_line;
pub use model::*;
pub use table::render_table;
pub use write::{
    read_history, render_run, render_run_with, write_history, RunArtifacts, HISTORY_FILE,
};
