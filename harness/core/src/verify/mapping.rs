//! The mapping file of `assay verify --map FILE` (format 1, docs/verify.md): which
//! column(s) are the key, which columns are compared, where each lives on either side
//! (a column, or a DynamoDB attribute path) and how each side stores it.
//!
//! ```toml
//! format = 1
//! key = ["id"]
//!
//! [source]
//! table = "public.orders"
//! [target]
//! table = "orders"
//!
//! [[columns]]
//! name = "id"
//! type = "int"
//! target = "pk"
//!
//! [[columns]]
//! name = "created_at"
//! type = "timestamp"
//! target = "meta.created"
//! target_format = "epoch_ms"
//! ```

use super::plan::StoredAs;
use super::value::Kind;
use crate::scenario::{from_toml, ScenarioError};
use serde::Deserialize;
use std::ops::Range;
use toml::Spanned;

/// The only format there is.
pub const MAPPING_FORMAT: i64 = 1;

/// A parsed, checked mapping file.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Mapping {
    /// Canonical key column names in key order; `None`: from `--key` or detected.
    pub key: Option<Vec<String>>,
    pub source_table: Option<String>,
    pub target_table: Option<String>,
    /// Empty: compare the columns found by name (docs/verify.md).
    pub columns: Vec<MappedColumn>,
}

/// One `[[columns]]` entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MappedColumn {
    pub name: String,
    pub kind: Option<Kind>,
    /// Column or attribute path on the source; `None`: `name`.
    pub source: Option<String>,
    pub target: Option<String>,
    pub source_format: StoredAs,
    pub target_format: StoredAs,
    /// `file:line:col` of the entry, for errors found later (a column the table lacks).
    pub defined_at: String,
}

impl Mapping {
    pub fn column(&self, name: &str) -> Option<&MappedColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    format: Option<Spanned<i64>>,
    key: Option<Spanned<Vec<Spanned<String>>>>,
    source: Option<RawSide>,
    target: Option<RawSide>,
    #[serde(default)]
    columns: Vec<Spanned<RawColumn>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSide {
    table: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawColumn {
    name: Spanned<String>,
    #[serde(rename = "type")]
    kind: Option<Spanned<String>>,
    source: Option<Spanned<String>>,
    target: Option<Spanned<String>>,
    source_format: Option<Spanned<String>>,
    target_format: Option<Spanned<String>>,
}

/// The `type` spellings: every numeric type compares by value, so they are one kind.
fn parse_kind(s: &str) -> Option<Kind> {
    Some(match s {
        "int" | "integer" | "decimal" | "numeric" | "number" | "float" => Kind::Number,
        "text" | "string" => Kind::Text,
        "bytes" | "binary" => Kind::Bytes,
        "bool" | "boolean" => Kind::Bool,
        "timestamp" => Kind::Timestamp,
        _ => return None,
    })
}

const KIND_SPELLINGS: &str = "int, decimal, float, text, bytes, bool, timestamp";

/// Parses a mapping file; every error is `file:line:col: message` with the fix.
pub fn parse(src: &str, file: &str) -> Result<Mapping, ScenarioError> {
    let raw: RawMapping = from_toml(src, file)?;
    let at = |span: Range<usize>, message: String| ScenarioError::at(src, file, span, message);
    if let Some(f) = &raw.format {
        if *f.get_ref() != MAPPING_FORMAT {
            return Err(at(
                f.span(),
                format!(
                    "format = {} is not known; this Assay reads format = {MAPPING_FORMAT}",
                    f.get_ref()
                ),
            ));
        }
    }
    let key = match raw.key {
        None => None,
        Some(k) => {
            if k.get_ref().is_empty() {
                return Err(at(
                    k.span(),
                    "`key` is empty; name the key column(s), e.g. key = [\"id\"], or leave it out to detect the key".into(),
                ));
            }
            let mut names: Vec<String> = Vec::new();
            for n in k.get_ref() {
                let name = n.get_ref().trim().to_string();
                if name.is_empty() || names.contains(&name) {
                    return Err(at(
                        n.span(),
                        format!("key column `{name}` is empty or named twice; list each key column once"),
                    ));
                }
                names.push(name);
            }
            Some(names)
        }
    };
    let table = |side: &Option<RawSide>| -> Result<Option<String>, ScenarioError> {
        match side.as_ref().and_then(|s| s.table.as_ref()) {
            Some(t) if t.get_ref().trim().is_empty() => Err(at(
                t.span(),
                "`table` is empty; name the table, or leave it out to use --table".into(),
            )),
            Some(t) => Ok(Some(t.get_ref().trim().to_string())),
            None => Ok(None),
        }
    };
    let (source_table, target_table) = (table(&raw.source)?, table(&raw.target)?);
    let mut columns: Vec<MappedColumn> = Vec::new();
    for entry in &raw.columns {
        let c = entry.get_ref();
        let name = c.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(at(
                c.name.span(),
                "`name` is empty; give the column a name".into(),
            ));
        }
        if columns.iter().any(|m| m.name == name) {
            return Err(at(
                c.name.span(),
                format!("column `{name}` is mapped twice; keep one [[columns]] entry per name"),
            ));
        }
        let kind = match &c.kind {
            None => None,
            Some(k) => Some(parse_kind(k.get_ref()).ok_or_else(|| {
                at(
                    k.span(),
                    format!(
                        "type `{}` is not known; use one of {KIND_SPELLINGS}",
                        k.get_ref()
                    ),
                )
            })?),
        };
        let path = |p: &Option<Spanned<String>>| -> Result<Option<String>, ScenarioError> {
            match p {
                Some(p)
                    if p.get_ref().trim().is_empty()
                        || p.get_ref().split('.').any(str::is_empty) =>
                {
                    Err(at(
                        p.span(),
                        format!(
                            "`{}` is not a column or attribute path; write `col` or `attr.nested`",
                            p.get_ref()
                        ),
                    ))
                }
                Some(p) => Ok(Some(p.get_ref().trim().to_string())),
                None => Ok(None),
            }
        };
        let format = |f: &Option<Spanned<String>>| -> Result<StoredAs, ScenarioError> {
            let Some(f) = f else {
                return Ok(StoredAs::Native);
            };
            let stored = StoredAs::parse(f.get_ref()).ok_or_else(|| {
                at(
                    f.span(),
                    format!(
                        "format `{}` is not known; use one of {}",
                        f.get_ref(),
                        StoredAs::SPELLINGS
                    ),
                )
            })?;
            let fits = match stored {
                StoredAs::Native => true,
                StoredAs::Text => !matches!(kind, Some(Kind::Bytes)),
                StoredAs::Epoch(_) => kind == Some(Kind::Timestamp),
            };
            if !fits {
                return Err(at(
                    f.span(),
                    format!(
                        "format `{}` does not fit type {}; epoch_* and rfc3339 need type = \"timestamp\", text needs a number, bool or timestamp type",
                        f.get_ref(),
                        kind.map_or("(none)", Kind::as_str)
                    ),
                ));
            }
            Ok(stored)
        };
        columns.push(MappedColumn {
            kind,
            source: path(&c.source)?,
            target: path(&c.target)?,
            source_format: format(&c.source_format)?,
            target_format: format(&c.target_format)?,
            defined_at: {
                let e = at(entry.span(), String::new());
                format!("{}:{}:{}", e.file, e.line, e.col)
            },
            name,
        });
    }
    Ok(Mapping {
        key,
        source_table,
        target_table,
        columns,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::value::EpochUnit;

    #[test]
    fn a_full_mapping_parses() {
        let m = parse(
            r#"format = 1
key = ["id"]
[source]
table = "public.orders"
[target]
table = "orders"
[[columns]]
name = "id"
type = "int"
target = "pk"
[[columns]]
name = "created"
type = "timestamp"
target = "meta.created"
target_format = "epoch_ms"
"#,
            "map.toml",
        )
        .unwrap();
        assert_eq!(m.key, Some(vec!["id".to_string()]));
        assert_eq!(m.source_table.as_deref(), Some("public.orders"));
        assert_eq!(m.columns.len(), 2);
        let created = m.column("created").unwrap();
        assert_eq!(created.target.as_deref(), Some("meta.created"));
        assert_eq!(created.target_format, StoredAs::Epoch(EpochUnit::Millis));
        assert_eq!(created.source_format, StoredAs::Native);
        assert_eq!(created.defined_at, "map.toml:11:1");
    }

    #[test]
    fn bad_entries_say_where_and_how_to_fix() {
        for (src, needle, line) in [
            ("format = 2\n", "format = 1", 1),
            ("key = []\n", "name the key", 1),
            (
                "[[columns]]\nname = \"a\"\ntype = \"float64\"\n",
                "int, decimal",
                3,
            ),
            (
                "[[columns]]\nname = \"a\"\n[[columns]]\nname = \"a\"\n",
                "mapped twice",
                4,
            ),
            (
                "[[columns]]\nname = \"a\"\ntype = \"int\"\ntarget_format = \"epoch_ms\"\n",
                "timestamp",
                4,
            ),
            (
                "[[columns]]\nname = \"a\"\ntarget = \"a..b\"\n",
                "attribute path",
                3,
            ),
            ("[[columns]]\nname = \"a\"\ncolour = 1\n", "colour", 3),
        ] {
            let e = parse(src, "m.toml").unwrap_err();
            assert!(e.message.contains(needle), "{src}: {e}");
            assert_eq!(e.line, line, "{src}: {e}");
        }
    }
}
