//! The matrix a suite produces: isolation level × anomaly → prevented / occurs beside the
//! documented verdict, per profile; its rendering (an aligned table, then the evidence of
//! every cell that differs); and several targets' matrices side by side ([`side_by_side`]).

use super::{AnomalyVerdict, ConditionEvidence, IsolationLevel, ObservedResult};
use serde::{Deserialize, Serialize};
use std::fmt;

/// What one test × level run found.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CellResult {
    Verdict {
        verdict: AnomalyVerdict,
    },
    /// The run could not give a trustworthy verdict (setup failed, a connection broke, a
    /// statement failed with an error that is not a conflict).
    Error {
        message: String,
    },
}

/// One statement as run, for the evidence.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct StepEvidence {
    /// 1-based position in the test's order; after-reads continue the numbering.
    pub index: usize,
    /// Session number; 0 for after-reads.
    pub session: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub sql: String,
    /// Waited on another session's lock.
    pub blocked: bool,
    /// Sent late because the session was still blocked on an earlier statement.
    pub queued: bool,
    /// The step during (or after) which it finished, when not its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_during_step: Option<usize>,
    pub result: ObservedResult,
}

impl fmt::Display for StepEvidence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let who = if self.session == 0 {
            "after".to_string()
        } else {
            format!("T{}", self.session)
        };
        write!(f, "{:>2}. {who}: {}", self.index, self.sql)?;
        if self.queued {
            f.write_str(" [queued behind a blocked statement]")?;
        }
        if self.blocked {
            f.write_str(" [blocked")?;
            if let Some(step) = self.finished_during_step {
                write!(f, ", released at step {step}")?;
            }
            f.write_str("]")?;
        }
        write!(f, " → {}", self.result)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationEvidence {
    pub steps: Vec<StepEvidence>,
    pub conditions: Vec<ConditionEvidence>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationCell {
    pub level: IsolationLevel,
    /// The profile whose documented verdict `expected` is, when not the matrix's own (a
    /// column of [`IsolationMatrix::more`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    pub result: CellResult,
    /// The documented verdict for the cell's profile; `None` when the file has none.
    pub expected: Option<AnomalyVerdict>,
    /// The file's note on this cell (e.g. where the database's documentation and Hermitage
    /// part ways).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
    /// Hermitage's published verdict, when the file says it differs from `expected`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hermitage: Option<AnomalyVerdict>,
    pub evidence: IsolationEvidence,
}

impl IsolationCell {
    /// Observed and documented verdicts agree. An error or a missing expectation never
    /// matches: nothing unverified passes.
    pub fn matches(&self) -> bool {
        match (&self.result, self.expected) {
            (CellResult::Verdict { verdict }, Some(expected)) => *verdict == expected,
            _ => false,
        }
    }

    fn short(&self) -> String {
        let observed = match &self.result {
            CellResult::Verdict { verdict } => verdict.as_str(),
            CellResult::Error { .. } => "error",
        };
        match (self.matches(), self.expected) {
            (true, _) => observed.to_string(),
            (false, Some(expected)) => format!("{observed} ≠ {expected}"),
            (false, None) => format!("{observed} (no expectation)"),
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationRow {
    pub anomaly: String,
    pub title: String,
    pub file: String,
    pub cells: Vec<IsolationCell>,
}

/// More columns of one matrix: the suite run again on the same target under another
/// profile, i.e. with a server setting that changes what the levels do (MariaDB's
/// `innodb_snapshot_isolation = ON`). Its columns are headed `<level>+<label>`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProfileColumns {
    /// Whose documented verdicts these cells are compared with (`expected.<profile>`).
    pub profile: String,
    /// Column suffix, e.g. `si`.
    pub label: String,
    /// What differs from the matrix's own profile, for people: `innodb_snapshot_isolation = ON`.
    pub setting: String,
    pub levels: Vec<IsolationLevel>,
}

/// Isolation level × anomaly → prevented / occurs, compared with the documented matrix of
/// `profile` (and of each profile in `more`). `Display` renders it as an aligned table
/// followed by the evidence of every cell that differs.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IsolationMatrix {
    /// Whose documented verdicts the cells are compared with (`postgres`, `mariadb`, …).
    pub profile: String,
    pub levels: Vec<IsolationLevel>,
    /// Further columns under other profiles of the same target, after `levels`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub more: Vec<ProfileColumns>,
    pub rows: Vec<IsolationRow>,
}

/// One column of a matrix: its profile (`None`: the matrix's own) and level.
struct Column<'a> {
    profile: Option<&'a str>,
    label: Option<&'a str>,
    level: IsolationLevel,
}

impl Column<'_> {
    fn header(&self) -> String {
        match self.label {
            Some(label) => format!("{}+{label}", self.level.as_str()),
            None => self.level.as_str().to_string(),
        }
    }

    /// `RC`, `RR+si`: for the side-by-side table, where width is short.
    fn short_header(&self) -> String {
        let level = match self.level {
            IsolationLevel::ReadUncommitted => "RU",
            IsolationLevel::ReadCommitted => "RC",
            IsolationLevel::RepeatableRead => "RR",
            IsolationLevel::Serializable => "SER",
        };
        match self.label {
            Some(label) => format!("{level}+{label}"),
            None => level.to_string(),
        }
    }
}

impl IsolationMatrix {
    /// Every cell matches its documented verdict (and there is at least one cell).
    pub fn passed(&self) -> bool {
        let mut cells = self.rows.iter().flat_map(|r| r.cells.iter()).peekable();
        cells.peek().is_some() && cells.all(IsolationCell::matches)
    }

    /// The cells that differ from the documented verdict, with their row.
    pub fn mismatches(&self) -> Vec<(&IsolationRow, &IsolationCell)> {
        self.rows
            .iter()
            .flat_map(|r| r.cells.iter().map(move |c| (r, c)))
            .filter(|(_, c)| !c.matches())
            .collect()
    }

    /// The cell of `anomaly` at `level` under the matrix's own profile.
    pub fn cell(&self, anomaly: &str, level: IsolationLevel) -> Option<&IsolationCell> {
        self.cell_in(anomaly, None, level)
    }

    /// The cell of `anomaly` at `level` under `profile` (`None`: the matrix's own).
    pub fn cell_in(
        &self,
        anomaly: &str,
        profile: Option<&str>,
        level: IsolationLevel,
    ) -> Option<&IsolationCell> {
        let profile = profile.filter(|p| *p != self.profile);
        self.rows
            .iter()
            .find(|r| r.anomaly == anomaly)?
            .cells
            .iter()
            .find(|c| c.level == level && c.profile.as_deref() == profile)
    }

    fn columns(&self) -> Vec<Column<'_>> {
        let mut columns: Vec<Column<'_>> = self
            .levels
            .iter()
            .map(|&level| Column {
                profile: None,
                label: None,
                level,
            })
            .collect();
        for more in &self.more {
            columns.extend(more.levels.iter().map(|&level| Column {
                profile: Some(more.profile.as_str()),
                label: Some(more.label.as_str()),
                level,
            }));
        }
        columns
    }

    fn short_of(&self, row: &IsolationRow, column: &Column<'_>) -> String {
        let profile = column.profile.filter(|p| *p != self.profile);
        row.cells
            .iter()
            .find(|c| c.level == column.level && c.profile.as_deref() == profile)
            .map(IsolationCell::short)
            .unwrap_or_else(|| "-".into())
    }

    /// The profiles whose documented behaviour the cells are compared with, e.g.
    /// `mariadb, mariadb_snapshot_isolation (innodb_snapshot_isolation = ON)`.
    fn profiles_text(&self) -> String {
        let mut text = self.profile.clone();
        for more in &self.more {
            text.push_str(&format!(
                ", {} ({}: {})",
                more.profile, more.label, more.setting
            ));
        }
        text
    }

    /// The cell's column header, for the evidence.
    fn where_of(&self, cell: &IsolationCell) -> String {
        match &cell.profile {
            Some(p) => format!("{} under {p}", cell.level),
            None => cell.level.to_string(),
        }
    }

    /// The lines after the table: the verdict on the whole, each difference with its
    /// evidence, each cell's note.
    fn write_summary(&self, f: &mut dyn fmt::Write, prefix: &str) -> fmt::Result {
        let mismatches = self.mismatches();
        if mismatches.is_empty() {
            write!(
                f,
                "{prefix}isolation matrix matches the documented {} behaviour",
                self.profiles_text()
            )?;
        } else {
            write!(
                f,
                "{prefix}{} cell(s) differ from the documented {} behaviour:",
                mismatches.len(),
                self.profiles_text()
            )?;
        }
        for (row, cell) in mismatches {
            write!(
                f,
                "\n{} ({}) at {}: ",
                row.anomaly,
                row.file,
                self.where_of(cell)
            )?;
            let profile = cell.profile.as_deref().unwrap_or(&self.profile);
            match (&cell.result, cell.expected) {
                (CellResult::Error { message }, _) => write!(f, "error: {message}")?,
                (CellResult::Verdict { verdict }, Some(e)) => {
                    write!(f, "{verdict}, documented {e}")?
                }
                (CellResult::Verdict { verdict }, None) => write!(
                    f,
                    "{verdict}, and the file has no expected.{profile}.{} to compare with",
                    cell.level
                )?,
            }
            for step in &cell.evidence.steps {
                write!(f, "\n    {step}")?;
            }
            for c in &cell.evidence.conditions {
                let held = if c.held { "holds" } else { "does not hold" };
                write!(f, "\n    condition {}: {held}", c.condition)?;
            }
        }
        for row in &self.rows {
            for cell in row
                .cells
                .iter()
                .filter(|c| c.note.is_some() || c.hermitage.is_some())
            {
                write!(
                    f,
                    "\n{prefix}note: {} at {}",
                    row.anomaly,
                    self.where_of(cell)
                )?;
                if let (Some(h), Some(e)) = (cell.hermitage, cell.expected) {
                    write!(f, " (documented {e}; Hermitage published {h})")?;
                }
                if let Some(note) = &cell.note {
                    write!(f, ": {note}")?;
                }
            }
        }
        Ok(())
    }
}

/// Rows of text cells, each column as wide as its widest cell, two spaces apart.
fn write_table(f: &mut dyn fmt::Write, table: &[Vec<String>]) -> fmt::Result {
    let columns = table.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|i| {
            table
                .iter()
                .map(|r| r.get(i).map_or(0, |s| s.chars().count()))
                .max()
                .unwrap_or(0)
        })
        .collect();
    for line in table {
        let cells: Vec<String> = line
            .iter()
            .zip(&widths)
            .map(|(s, w)| format!("{s:<w$}"))
            .collect();
        writeln!(f, "{}", cells.join("  ").trim_end())?;
    }
    Ok(())
}

impl fmt::Display for IsolationMatrix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let columns = self.columns();
        let mut header = vec!["anomaly".to_string()];
        header.extend(columns.iter().map(Column::header));
        let mut table = vec![header];
        for row in &self.rows {
            let mut line = vec![row.anomaly.clone()];
            line.extend(columns.iter().map(|c| self.short_of(row, c)));
            table.push(line);
        }
        write_table(f, &table)?;
        self.write_summary(f, "")
    }
}

/// Several targets' matrices as one table: a row per anomaly (in the order the matrices
/// list them), a column per target × profile × level (`postgres RC`, `mysql RR+si`), then
/// each target's verdict, differences with their evidence, and notes.
pub fn side_by_side(matrices: &[(&str, &IsolationMatrix)]) -> String {
    let mut anomalies: Vec<&str> = Vec::new();
    for (_, m) in matrices {
        for row in &m.rows {
            if !anomalies.contains(&row.anomaly.as_str()) {
                anomalies.push(&row.anomaly);
            }
        }
    }
    let columns: Vec<(&str, &IsolationMatrix, Column<'_>)> = matrices
        .iter()
        .flat_map(|(target, m)| m.columns().into_iter().map(move |c| (*target, *m, c)))
        .collect();
    let mut header = vec!["anomaly".to_string()];
    header.extend(
        columns
            .iter()
            .map(|(target, _, c)| format!("{target} {}", c.short_header())),
    );
    let mut table = vec![header];
    for anomaly in anomalies {
        let mut line = vec![anomaly.to_string()];
        for (_, m, c) in &columns {
            line.push(
                m.cell_in(anomaly, c.profile, c.level)
                    .map(IsolationCell::short)
                    .unwrap_or_else(|| "-".into()),
            );
        }
        table.push(line);
    }
    let mut out = String::new();
    let _ = write_table(&mut out, &table);
    for (i, (target, m)) in matrices.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        let _ = m.write_summary(&mut out, &format!("{target}: "));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(r: &[&[&str]]) -> ObservedResult {
        ObservedResult::Rows {
            rows: r
                .iter()
                .map(|row| row.iter().map(|s| s.to_string()).collect())
                .collect(),
        }
    }

    fn cell(
        level: IsolationLevel,
        verdict: AnomalyVerdict,
        expected: Option<AnomalyVerdict>,
    ) -> IsolationCell {
        IsolationCell {
            level,
            profile: None,
            result: CellResult::Verdict { verdict },
            expected,
            note: None,
            hermitage: None,
            evidence: IsolationEvidence {
                steps: vec![StepEvidence {
                    index: 1,
                    session: 2,
                    id: None,
                    sql: "update test set value = 12 where id = 1".into(),
                    blocked: true,
                    queued: false,
                    finished_during_step: Some(5),
                    result: rows(&[]),
                }],
                conditions: vec![ConditionEvidence {
                    condition: "final returns [[12]]".into(),
                    held: verdict == AnomalyVerdict::Occurs,
                }],
            },
        }
    }

    #[test]
    fn the_matrix_is_an_aligned_table_and_any_difference_fails() {
        use AnomalyVerdict::*;
        use IsolationLevel::*;
        let mut m = IsolationMatrix {
            profile: "postgres".into(),
            levels: vec![ReadCommitted, Serializable],
            more: Vec::new(),
            rows: vec![
                IsolationRow {
                    anomaly: "G0".into(),
                    title: "write cycles".into(),
                    file: "g0.toml".into(),
                    cells: vec![
                        cell(ReadCommitted, Prevented, Some(Prevented)),
                        cell(Serializable, Prevented, Some(Prevented)),
                    ],
                },
                IsolationRow {
                    anomaly: "G-single".into(),
                    title: "read skew".into(),
                    file: "g-single.toml".into(),
                    cells: vec![
                        cell(ReadCommitted, Occurs, Some(Occurs)),
                        cell(Serializable, Prevented, Some(Prevented)),
                    ],
                },
            ],
        };
        assert!(m.passed());
        let text = m.to_string();
        assert_eq!(
            text,
            "anomaly   read_committed  serializable\n\
             G0        prevented       prevented\n\
             G-single  occurs          prevented\n\
             isolation matrix matches the documented postgres behaviour"
        );
        m.rows[1].cells[1] = cell(Serializable, Occurs, Some(Prevented));
        m.rows[0].cells[0].expected = None;
        assert!(!m.passed());
        assert_eq!(m.mismatches().len(), 2);
        let text = m.to_string();
        assert!(
            text.starts_with(
                "anomaly   read_committed              serializable\n\
             G0        prevented (no expectation)  prevented\n\
             G-single  occurs                      occurs ≠ prevented\n\
             2 cell(s) differ from the documented postgres behaviour:\n"
            ),
            "{text}"
        );
        assert!(
            text.contains("G-single (g-single.toml) at serializable: occurs, documented prevented"),
            "{text}"
        );
        assert!(text.contains(" 1. T2: update test set value = 12 where id = 1 [blocked, released at step 5] → ok"), "{text}");
        assert!(
            text.contains("condition final returns [[12]]: holds"),
            "{text}"
        );
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["rows"][1]["cells"][1]["result"]["verdict"], "occurs");
        assert_eq!(json["rows"][1]["cells"][1]["expected"], "prevented");
        assert!(!IsolationMatrix {
            profile: "p".into(),
            levels: vec![],
            more: Vec::new(),
            rows: vec![]
        }
        .passed());
    }

    #[test]
    fn more_profiles_are_suffixed_columns_and_side_by_side_is_one_table() {
        use AnomalyVerdict::*;
        use IsolationLevel::*;
        let si = |level, verdict, expected| IsolationCell {
            profile: Some("mariadb_snapshot_isolation".into()),
            ..cell(level, verdict, expected)
        };
        let mut noted = cell(RepeatableRead, Occurs, Some(Occurs));
        noted.note = Some("locking reads see the latest version".into());
        let mariadb = IsolationMatrix {
            profile: "mariadb".into(),
            levels: vec![ReadUncommitted, RepeatableRead],
            more: vec![ProfileColumns {
                profile: "mariadb_snapshot_isolation".into(),
                label: "si".into(),
                setting: "innodb_snapshot_isolation = ON".into(),
                levels: vec![RepeatableRead],
            }],
            rows: vec![IsolationRow {
                anomaly: "P4".into(),
                title: "lost update".into(),
                file: "p4.toml".into(),
                cells: vec![
                    cell(ReadUncommitted, Occurs, Some(Occurs)),
                    noted,
                    si(RepeatableRead, Prevented, Some(Prevented)),
                ],
            }],
        };
        assert!(mariadb.passed());
        assert_eq!(
            mariadb
                .cell_in("P4", Some("mariadb_snapshot_isolation"), RepeatableRead)
                .unwrap()
                .result,
            CellResult::Verdict { verdict: Prevented }
        );
        assert_eq!(
            mariadb.cell("P4", RepeatableRead).unwrap().result,
            CellResult::Verdict { verdict: Occurs }
        );
        let text = mariadb.to_string();
        assert!(
            text.starts_with(
                "anomaly  read_uncommitted  repeatable_read  repeatable_read+si\n\
                 P4       occurs            occurs           prevented\n\
                 isolation matrix matches the documented mariadb, mariadb_snapshot_isolation (si: innodb_snapshot_isolation = ON) behaviour\n\
                 note: P4 at repeatable_read: locking reads see the latest version"
            ),
            "{text}"
        );
        let postgres = IsolationMatrix {
            profile: "postgres".into(),
            levels: vec![ReadCommitted],
            more: Vec::new(),
            rows: vec![
                IsolationRow {
                    anomaly: "G0".into(),
                    title: "write cycles".into(),
                    file: "g0.toml".into(),
                    cells: vec![cell(ReadCommitted, Prevented, Some(Prevented))],
                },
                IsolationRow {
                    anomaly: "P4".into(),
                    title: "lost update".into(),
                    file: "p4.toml".into(),
                    cells: vec![cell(ReadCommitted, Occurs, Some(Prevented))],
                },
            ],
        };
        let both = side_by_side(&[("postgres", &postgres), ("mysql", &mariadb)]);
        assert!(
            both.starts_with(
                "anomaly  postgres RC         mysql RU  mysql RR  mysql RR+si\n\
                 G0       prevented           -         -         -\n\
                 P4       occurs ≠ prevented  occurs    occurs    prevented\n\
                 postgres: 1 cell(s) differ from the documented postgres behaviour:\n\
                 P4 (p4.toml) at read_committed: occurs, documented prevented\n"
            ),
            "{both}"
        );
        assert!(
            both.contains("\nmysql: isolation matrix matches the documented mariadb"),
            "{both}"
        );
        assert!(
            both.contains("\nmysql: note: P4 at repeatable_read: locking"),
            "{both}"
        );
        let json = serde_json::to_value(&mariadb).unwrap();
        assert_eq!(json["more"][0]["label"], "si");
        assert_eq!(
            json["rows"][0]["cells"][2]["profile"],
            "mariadb_snapshot_isolation"
        );
        assert!(json["rows"][0]["cells"][0].get("profile").is_none());
        // A stored matrix from before `more`, `profile`, `note` and `hermitage` still loads.
        let old = serde_json::json!({"profile": "postgres", "levels": ["read_committed"], "rows": [{
            "anomaly": "G0", "title": "", "file": "g0.toml", "cells": [{"level": "read_committed",
            "result": {"kind": "verdict", "verdict": "prevented"}, "expected": "prevented",
            "evidence": {"steps": [], "conditions": []}}]}]});
        let old: IsolationMatrix = serde_json::from_value(old).unwrap();
        assert!(old.passed() && old.more.is_empty());
    }
}
