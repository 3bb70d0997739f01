//! Renders a finished run: `report.json` (versioned schema), `summary.md`, `junit.xml`,
//! `history.jsonl`, one `.hlog` per target × scenario, and the compact table printed on
//! the terminal. The report model is defined here; the CLI fills it in. This crate
//! never talks to a backend.

mod fidelity;
mod junit;
mod model;
mod table;
mod write;

pub use fidelity::render_terminal as render_fidelity;
pub use model::*;
pub use table::render_table;
pub use write::{write_run, RunArtifacts, ScenarioArtifacts};
