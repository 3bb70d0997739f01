//! From what the user named (`--table`, `--key`, `--map`) and what both backends describe
//! to the two [`SidePlan`]s: the key, the compared columns in canonical order, and for
//! each side where every column lives and how it is stored. Every error is one line
//! naming the flag or mapping field and the fix.

use assay_core::verify::mapping::{MappedColumn, Mapping};
use assay_core::verify::{Kind, PlanColumn, SidePlan, StoredAs, TableShape, VerifyError};

/// What the user asked for.
#[derive(Clone, Copy, Debug, Default)]
pub struct Request<'a> {
    /// `--table`.
    pub table: Option<&'a str>,
    /// `--key` (canonical names, key order); empty: from the mapping or detected.
    pub key: &'a [String],
    pub mapping: Option<&'a Mapping>,
}

/// Both sides' plans, and what the compare covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plans {
    pub source: SidePlan,
    pub target: SidePlan,
    /// Canonical key column names, key order.
    pub key: Vec<String>,
    /// Canonical compared column names, canonical (sorted) order.
    pub columns: Vec<String>,
    /// Things worth saying (columns left out, how the key was found).
    pub notes: Vec<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Which {
    Source,
    Target,
}

impl Which {
    fn word(self) -> &'static str {
        match self {
            Which::Source => "source",
            Which::Target => "target",
        }
    }
}

/// The table to read on each side: the mapping's `[source] table` / `[target] table`,
/// else `--table`.
pub fn table_names(req: &Request<'_>) -> Result<(String, String), VerifyError> {
    let side = |t: Option<&String>| t.cloned().or_else(|| req.table.map(str::to_string));
    let (s, t) = (
        side(req.mapping.and_then(|m| m.source_table.as_ref())),
        side(req.mapping.and_then(|m| m.target_table.as_ref())),
    );
    match (s, t) {
        (Some(s), Some(t)) => Ok((s, t)),
        _ => Err(VerifyError::input(
            "--table: no table named; pass --table NAME (schema.table on PostgreSQL), or set [source] table and [target] table in the --map file",
        )),
    }
}

fn mapped<'m>(req: &Request<'m>, name: &str) -> Option<&'m MappedColumn> {
    req.mapping.and_then(|m| m.column(name))
}

/// The path of canonical column `name` on one side.
fn side_path(req: &Request<'_>, which: Which, name: &str) -> String {
    mapped(req, name)
        .and_then(|c| match which {
            Which::Source => c.source.clone(),
            Which::Target => c.target.clone(),
        })
        .unwrap_or_else(|| name.to_string())
}

/// The canonical name of a side's column (the mapping entry pointing at it, else itself).
fn canonical_name(req: &Request<'_>, which: Which, column: &str) -> String {
    req.mapping
        .into_iter()
        .flat_map(|m| m.columns.iter())
        .find(|c| side_path(req, which, &c.name) == column)
        .map(|c| c.name.clone())
        .unwrap_or_else(|| column.to_string())
}

pub fn resolve(
    req: &Request<'_>,
    source: &TableShape,
    target: &TableShape,
) -> Result<Plans, VerifyError> {
    let mut notes = Vec::new();
    let key = key_names(req, source, target, &mut notes)?;
    let mut columns: Vec<String> = match req.mapping.filter(|m| !m.columns.is_empty()) {
        Some(m) => m
            .columns
            .iter()
            .map(|c| c.name.clone())
            .filter(|n| !key.contains(n))
            .collect(),
        None => {
            let (shape, which) = if !source.schemaless {
                (source, Which::Source)
            } else if !target.schemaless {
                (target, Which::Target)
            } else {
                return Err(VerifyError::input(
                    "--map: both sides are schemaless (DynamoDB), so there are no columns to go by; list the attributes to compare as [[columns]] in a mapping file",
                ));
            };
            shape
                .columns
                .iter()
                .map(|c| canonical_name(req, which, &c.name))
                .filter(|n| !key.contains(n))
                .collect()
        }
    };
    columns.sort();
    if req.mapping.is_none_or(|m| m.columns.is_empty()) && !source.schemaless && !target.schemaless
    {
        let only_target: Vec<String> = target
            .columns
            .iter()
            .map(|c| canonical_name(req, Which::Target, &c.name))
            .filter(|n| !key.contains(n) && !columns.contains(n))
            .collect();
        if !only_target.is_empty() {
            notes.push(format!(
                "not compared: column(s) only the target has: {}",
                only_target.join(", ")
            ));
        }
    }
    let plan = |which: Which, shape: &TableShape| -> Result<SidePlan, VerifyError> {
        let col = |name: &String| plan_column(req, which, shape, source, target, name);
        Ok(SidePlan {
            table: shape.table.clone(),
            key: key.iter().map(col).collect::<Result<_, _>>()?,
            columns: columns.iter().map(col).collect::<Result<_, _>>()?,
        })
    };
    Ok(Plans {
        source: plan(Which::Source, source)?,
        target: plan(Which::Target, target)?,
        key,
        columns,
        notes,
    })
}

fn key_names(
    req: &Request<'_>,
    source: &TableShape,
    target: &TableShape,
    notes: &mut Vec<String>,
) -> Result<Vec<String>, VerifyError> {
    if !req.key.is_empty() {
        return Ok(req.key.to_vec());
    }
    if let Some(k) = req.mapping.and_then(|m| m.key.clone()) {
        return Ok(k);
    }
    let detected = |shape: &TableShape, which: Which| -> Vec<String> {
        shape
            .key
            .iter()
            .map(|c| canonical_name(req, which, c))
            .collect()
    };
    let (s, t) = (
        detected(source, Which::Source),
        detected(target, Which::Target),
    );
    match (s.is_empty(), t.is_empty()) {
        (true, true) => Err(VerifyError::input(format!(
            "--key: neither {} nor {} has a primary key; name the key column(s) with --key COL[,COL]",
            source.table, target.table
        ))),
        (false, false) if s != t => Err(VerifyError::input(format!(
            "--key: the source's key is ({}) and the target's is ({}); name the key with --key COL, or map the columns onto each other with --map",
            s.join(", "),
            t.join(", ")
        ))),
        (false, _) => {
            notes.push(format!("key ({}) from the source's primary key", s.join(", ")));
            Ok(s)
        }
        (true, false) => {
            notes.push(format!("key ({}) from the target's key", t.join(", ")));
            Ok(t)
        }
    }
}

fn plan_column(
    req: &Request<'_>,
    which: Which,
    shape: &TableShape,
    source: &TableShape,
    target: &TableShape,
    name: &String,
) -> Result<PlanColumn, VerifyError> {
    let m = mapped(req, name);
    let path = side_path(req, which, name);
    let here = shape.column(&path);
    if here.is_none() && !shape.schemaless {
        let hint = match m {
            Some(c) => format!("fix `{}` in the [[columns]] entry at {}", which.word(), c.defined_at),
            None => format!(
                "map it in a --map file ([[columns]] name = \"{name}\", {} = \"…\"), or leave it out with [[columns]] listing the others",
                which.word()
            ),
        };
        return Err(VerifyError::input(format!(
            "column `{path}` is not in the {} table {}; {hint}",
            which.word(),
            shape.table
        )));
    }
    // The kind: the mapping's, else what a side with a schema says (the source first).
    let natural = |s: &TableShape, w: Which| s.column(&side_path(req, w, name)).map(|c| c.kind);
    let kind: Option<Kind> = m.and_then(|c| c.kind).or_else(|| {
        let (a, b) = (
            natural(source, Which::Source),
            natural(target, Which::Target),
        );
        let schema_kind = |s: &TableShape, k: Option<Kind>| k.filter(|_| !s.schemaless);
        schema_kind(source, a)
            .or(schema_kind(target, b))
            .or(a)
            .or(b)
    });
    let stored_as = m.map_or(StoredAs::Native, |c| match which {
        Which::Source => c.source_format,
        Which::Target => c.target_format,
    });
    let path: Vec<String> = if shape.schemaless {
        path.split('.').map(str::to_string).collect()
    } else {
        vec![path]
    };
    Ok(PlanColumn {
        name: name.clone(),
        path,
        kind,
        stored_as,
        native_type: here.map(|c| c.native_type.clone()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use assay_core::verify::mapping::parse;
    use assay_core::verify::ShapeColumn;

    fn sql(table: &str, cols: &[(&str, &str, Kind)], key: &[&str]) -> TableShape {
        TableShape {
            table: table.into(),
            columns: cols
                .iter()
                .map(|(n, t, k)| ShapeColumn {
                    name: n.to_string(),
                    native_type: t.to_string(),
                    kind: *k,
                })
                .collect(),
            key: key.iter().map(|k| k.to_string()).collect(),
            schemaless: false,
        }
    }

    fn dynamo(table: &str, key: &[(&str, Kind)]) -> TableShape {
        TableShape {
            table: table.into(),
            columns: key
                .iter()
                .map(|(n, k)| ShapeColumn {
                    name: n.to_string(),
                    native_type: "S".into(),
                    kind: *k,
                })
                .collect(),
            key: key.iter().map(|(n, _)| n.to_string()).collect(),
            schemaless: true,
        }
    }

    #[test]
    fn same_names_and_a_detected_key_without_a_mapping() {
        let pg = sql(
            "public.t",
            &[
                ("id", "int8", Kind::Number),
                ("b", "text", Kind::Text),
                ("a", "timestamptz", Kind::Timestamp),
            ],
            &["id"],
        );
        let ddb = dynamo("t", &[("id", Kind::Number)]);
        let plans = resolve(&Request::default(), &pg, &ddb).unwrap();
        assert_eq!(plans.key, ["id"]);
        assert_eq!(plans.columns, ["a", "b"]);
        // The DynamoDB side reads `a` as a timestamp because PostgreSQL says it is one.
        assert_eq!(plans.target.columns[0].kind, Some(Kind::Timestamp));
        assert_eq!(plans.target.columns[0].native_type, None);
        assert_eq!(plans.source.key[0].native_type.as_deref(), Some("int8"));
    }

    #[test]
    fn a_mapping_renames_converts_and_picks_columns() {
        let m = parse(
            r#"key = ["id"]
[[columns]]
name = "id"
target = "pk"
[[columns]]
name = "created"
target = "meta.created"
target_format = "epoch_ms"
type = "timestamp"
"#,
            "m.toml",
        )
        .unwrap();
        let pg = sql(
            "t",
            &[
                ("id", "int4", Kind::Number),
                ("created", "timestamptz", Kind::Timestamp),
                ("x", "text", Kind::Text),
            ],
            &["id"],
        );
        let ddb = dynamo("t", &[("pk", Kind::Number)]);
        let req = Request {
            mapping: Some(&m),
            ..Request::default()
        };
        let plans = resolve(&req, &pg, &ddb).unwrap();
        assert_eq!(plans.columns, ["created"]);
        assert_eq!(plans.target.key[0].path, ["pk"]);
        assert_eq!(plans.target.columns[0].path, ["meta", "created"]);
        assert_eq!(
            plans.target.columns[0].stored_as,
            StoredAs::Epoch(assay_core::verify::EpochUnit::Millis)
        );
    }

    #[test]
    fn mismatches_are_one_line_with_the_fix() {
        let a = sql(
            "a",
            &[("id", "int8", Kind::Number), ("v", "text", Kind::Text)],
            &["id"],
        );
        let b = sql("b", &[("id", "int8", Kind::Number)], &["id"]);
        let e = resolve(&Request::default(), &a, &b).unwrap_err();
        assert!(
            e.message
                .contains("column `v` is not in the target table b")
                && e.message.contains("--map"),
            "{e}"
        );

        let c = sql(
            "c",
            &[("k", "int8", Kind::Number), ("v", "text", Kind::Text)],
            &["k"],
        );
        let e = resolve(&Request::default(), &a, &c).unwrap_err();
        assert!(e.message.starts_with("--key:"), "{e}");

        let none = sql("n", &[("v", "text", Kind::Text)], &[]);
        let e = resolve(&Request::default(), &none, &none).unwrap_err();
        assert!(e.message.contains("--key COL"), "{e}");

        let d = dynamo("d", &[("id", Kind::Text)]);
        let e = resolve(&Request::default(), &d, &d).unwrap_err();
        assert!(e.message.starts_with("--map:"), "{e}");

        let e = table_names(&Request::default()).unwrap_err();
        assert!(e.message.starts_with("--table:"), "{e}");
    }

    #[test]
    fn target_only_columns_are_noted_and_the_flag_key_wins() {
        let a = sql(
            "a",
            &[("id", "int8", Kind::Number), ("k2", "text", Kind::Text)],
            &["id"],
        );
        let b = sql(
            "b",
            &[
                ("id", "int8", Kind::Number),
                ("k2", "text", Kind::Text),
                ("extra", "text", Kind::Text),
            ],
            &["id"],
        );
        let key = vec!["k2".to_string()];
        let req = Request {
            key: &key,
            ..Request::default()
        };
        let plans = resolve(&req, &a, &b).unwrap();
        assert_eq!(plans.key, ["k2"]);
        assert_eq!(plans.columns, ["id"]);
        assert!(
            plans.notes.iter().any(|n| n.contains("extra")),
            "{:?}",
            plans.notes
        );
    }
}
