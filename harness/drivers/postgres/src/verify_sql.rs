//! The SQL that computes `assay verify`'s canonical encodings server-side: for every
//! column of a plan, an expression giving exactly what `assay_core::verify::value`
//! encodes on the client (`n…;`, `s<len>:…;`, `x…;`, `T;`/`F;`, `t<ns>;`, `N;`), so
//! `md5()` over it in PostgreSQL equals the client's MD5 and digests compare across
//! backends. The driver's tests check each expression against the client encoding on a
//! real server.

use assay_core::verify::{Kind, PlanColumn, SidePlan, StoredAs, VerifyError};

/// What the expressions depend on in the server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dialect {
    /// `server_encoding` is UTF8 (else text is converted before lengths and hashes).
    pub utf8: bool,
    /// `trim_scale()` exists (PostgreSQL 13+).
    pub trim_scale: bool,
    /// `extract()` returns an exact numeric (PostgreSQL 14+; before, a double).
    pub exact_extract: bool,
}

/// `"name"` with embedded quotes doubled.
pub(crate) fn quote_ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// `a.b` → `"a"."b"`; `b` → `"b"` (the search path finds it).
pub(crate) fn quote_table(name: &str) -> String {
    name.split('.')
        .map(quote_ident)
        .collect::<Vec<_>>()
        .join(".")
}

/// The kind a PostgreSQL type's values have by nature (base type names, `pg_type.typname`).
pub(crate) fn natural_kind(typname: &str) -> Kind {
    match typname {
        "int2" | "int4" | "int8" | "oid" | "numeric" | "float4" | "float8" => Kind::Number,
        "bool" => Kind::Bool,
        "bytea" => Kind::Bytes,
        "timestamp" | "timestamptz" => Kind::Timestamp,
        _ => Kind::Text,
    }
}

impl Dialect {
    pub(crate) fn md5(&self, text: &str) -> String {
        if self.utf8 {
            format!("md5({text})")
        } else {
            format!("md5(convert_to({text}, 'UTF8'))")
        }
    }

    fn octets(&self, text: &str) -> String {
        if self.utf8 {
            format!("octet_length({text})")
        } else {
            format!("octet_length(convert_to({text}, 'UTF8'))")
        }
    }

    /// A numeric's text without trailing fractional zeros.
    fn trimmed(&self, numeric: &str) -> String {
        if self.trim_scale {
            format!("trim_scale({numeric})::text")
        } else {
            let t = format!("({numeric})::text");
            format!("CASE WHEN strpos({t}, '.') > 0 THEN rtrim(rtrim({t}, '0'), '.') ELSE {t} END")
        }
    }

    /// The encoding of one column (never NULL: a NULL value is `N;`).
    pub(crate) fn column(&self, col: &PlanColumn) -> Result<String, VerifyError> {
        let c = quote_ident(&col.path[0]);
        let typname = col.native_type.as_deref().unwrap_or("text");
        let natural = natural_kind(typname);
        let kind = col.kind.unwrap_or(natural);
        let cannot = || {
            VerifyError::input(format!(
                "column `{}` ({typname}) cannot be read as {}{}; set its `type` (or the side's `*_format`) in the --map file to what it holds",
                col.path[0],
                kind.as_str(),
                match col.stored_as {
                    StoredAs::Native => String::new(),
                    other => format!(" stored as {other:?}").to_lowercase(),
                }
            ))
        };
        let inner = match kind {
            Kind::Number => {
                let text = match (natural, typname) {
                    (Kind::Number, "int2" | "int4" | "int8" | "oid") => format!("{c}::text"),
                    (Kind::Number, "numeric") => self.trimmed(&c),
                    // A float's text is its shortest exact form (extra_float_digits = 1).
                    (Kind::Number, _) | (Kind::Text, _) => {
                        self.trimmed(&format!("{c}::text::numeric"))
                    }
                    (Kind::Bool, _) => format!("{c}::int::text"),
                    _ => return Err(cannot()),
                };
                format!("'n' || {text} || ';'")
            }
            Kind::Text => {
                let t = format!("{c}::text");
                format!("'s' || {} || ':' || {t} || ';'", self.octets(&t))
            }
            Kind::Bytes => match natural {
                Kind::Bytes => format!("'x' || encode({c}, 'hex') || ';'"),
                Kind::Text => format!("'x' || encode(convert_to({c}::text, 'UTF8'), 'hex') || ';'"),
                _ => return Err(cannot()),
            },
            // No ELSE: a NULL must stay NULL (and become `N;`), not turn into false.
            Kind::Bool => match natural {
                Kind::Bool => format!("CASE WHEN {c} THEN 'T;' WHEN NOT {c} THEN 'F;' END"),
                Kind::Text => {
                    let b = format!("{c}::text::bool");
                    format!("CASE WHEN {b} THEN 'T;' WHEN NOT {b} THEN 'F;' END")
                }
                Kind::Number => format!("CASE WHEN {c} <> 0 THEN 'T;' WHEN {c} = 0 THEN 'F;' END"),
                _ => return Err(cannot()),
            },
            Kind::Timestamp => match (natural, col.stored_as) {
                (Kind::Number, StoredAs::Epoch(unit)) => {
                    format!("'t' || trunc({c}::numeric * {})::text || ';'", unit.nanos())
                }
                (Kind::Number, _) => {
                    format!("'t' || trunc({c}::numeric * 1000000000)::text || ';'")
                }
                (Kind::Timestamp, _) => self.nanos(&c),
                // Text (RFC 3339) and dates: read as a time in UTC (the session's zone).
                (Kind::Text, _) => self.nanos(&format!("{c}::text::timestamptz")),
                _ => return Err(cannot()),
            },
        };
        Ok(format!("COALESCE({inner}, 'N;')"))
    }

    /// Every column's encoding, key first: (key expression, column expressions).
    pub(crate) fn row(&self, plan: &SidePlan) -> Result<(String, Vec<String>), VerifyError> {
        let key: Vec<String> = plan
            .key
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<_, _>>()?;
        let cols = plan
            .columns
            .iter()
            .map(|c| self.column(c))
            .collect::<Result<_, _>>()?;
        Ok((key.join(" || "), cols))
    }
}

impl Dialect {
    /// `t<ns>;` of a timestamp expression (a `timestamp` counts as UTC). Before 14,
    /// `extract` is a double: whole seconds through `date_trunc` (exact) plus the
    /// microseconds within them, at about twice the cost.
    fn nanos(&self, ts: &str) -> String {
        if self.exact_extract {
            format!("'t' || trunc(extract(epoch from {ts}) * 1000000000)::text || ';'")
        } else {
            format!(
                "'t' || trunc(extract(epoch from date_trunc('second', {ts}))::numeric * 1000000000 \
                 + mod(extract(microseconds from {ts})::numeric, 1000000) * 1000)::text || ';'"
            )
        }
    }
}

/// Columns joined for one hash input (`''` when there are none).
pub(crate) fn concat(parts: &[String]) -> String {
    if parts.is_empty() {
        "''".into()
    } else {
        parts.join(" || ")
    }
}

/// A key value as the text PostgreSQL's input function of its type reads back (for
/// looking rows up by key in the recheck).
pub(crate) fn key_literal(v: &assay_core::verify::Value) -> Option<String> {
    use assay_core::verify::Value;
    Some(match v {
        Value::Null => return None,
        Value::Number(n) => n.clone(),
        Value::Text(t) => t.clone(),
        Value::Bytes(b) => {
            let mut s = String::from("\\x");
            for byte in b {
                s.push_str(&format!("{byte:02x}"));
            }
            s
        }
        Value::Bool(b) => b.to_string(),
        Value::Timestamp(ns) => assay_core::verify::value::format_rfc3339(*ns),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, typname: &str, kind: Option<Kind>, stored_as: StoredAs) -> PlanColumn {
        PlanColumn {
            name: name.into(),
            path: vec![name.into()],
            kind,
            stored_as,
            native_type: Some(typname.into()),
        }
    }

    #[test]
    fn identifiers_are_quoted() {
        assert_eq!(quote_table("public.Items"), "\"public\".\"Items\"");
        assert_eq!(quote_ident("a\"b"), "\"a\"\"b\"");
    }

    #[test]
    fn conversions_that_cannot_work_name_the_column_and_the_fix() {
        let d = Dialect {
            utf8: true,
            trim_scale: true,
            exact_extract: true,
        };
        let e = d
            .column(&col(
                "payload",
                "bytea",
                Some(Kind::Timestamp),
                StoredAs::Native,
            ))
            .unwrap_err();
        assert!(
            e.message.contains("`payload` (bytea)") && e.message.contains("--map"),
            "{e}"
        );
        assert!(d
            .column(&col("n", "int8", Some(Kind::Text), StoredAs::Native))
            .is_ok());
    }
}
