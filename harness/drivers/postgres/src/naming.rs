//! Names the driver puts into SQL text: the run's schema, its tables, and LIKE patterns.
//!
//! Identifiers cannot be bound as parameters, so every name that reaches SQL text is either
//! checked here (the namespace) or quoted here (table names); values always go through binds.

use std::fmt;

/// PostgreSQL silently truncates identifiers longer than this (NAMEDATALEN - 1), which would
/// make two logical tables collide; longer names are refused instead.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// The run's namespace, checked to match `[a-z][a-z0-9_]{0,30}` and usable as a schema name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Schema(String);

impl Schema {
    pub(crate) fn parse(namespace: &str) -> Result<Schema, String> {
        let mut chars = namespace.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !first_ok || !rest_ok || namespace.len() > 31 {
            return Err(format!(
                "namespace `{namespace}` must match [a-z][a-z0-9_]{{0,30}}; pick a run id of that form"
            ));
        }
        if namespace.starts_with("pg_") {
            // PostgreSQL reserves `pg_*` schema names for the system catalogs.
            return Err(format!(
                "namespace `{namespace}` starts with `pg_`, which PostgreSQL reserves; pick another run id"
            ));
        }
        Ok(Schema(namespace.to_string()))
    }

    /// The quoted schema name, for DDL.
    pub(crate) fn quoted(&self) -> String {
        quote_identifier(&self.0)
    }

    /// The schema-qualified, quoted name of a scenario table.
    pub(crate) fn table(&self, logical: &str) -> QualifiedTable {
        QualifiedTable(format!(
            "{}.{}",
            quote_identifier(&self.0),
            quote_identifier(logical)
        ))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `"schema"."table"`, ready to splice into SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QualifiedTable(String);

impl fmt::Display for QualifiedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that a scenario's logical table name can be a PostgreSQL identifier as-is.
pub(crate) fn check_table_name(logical: &str) -> Result<(), String> {
    if logical.is_empty() {
        return Err("a table name is empty; give every [[tables]] entry a name".to_string());
    }
    if logical.contains('\0') {
        return Err(format!(
            "table name {logical:?} contains a NUL byte, which PostgreSQL identifiers cannot hold"
        ));
    }
    if logical.len() > MAX_IDENTIFIER_BYTES {
        return Err(format!(
            "table name `{logical}` is {} bytes; PostgreSQL identifiers hold at most {MAX_IDENTIFIER_BYTES}, shorten it",
            logical.len()
        ));
    }
    Ok(())
}

/// Double-quotes an identifier so any name (mixed case, keywords, punctuation) is taken
/// literally.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The LIKE pattern matching every string that starts with `prefix`, with `\` as the escape
/// character (pair it with `ESCAPE '\'`).
pub(crate) fn like_prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_must_be_a_plain_lowercase_identifier() {
        assert!(Schema::parse("run_20240101_ab").is_ok());
        assert!(Schema::parse("a").is_ok());
        for bad in ["", "1run", "Run", "run-1", "run 1", "r\"x", &"a".repeat(32)] {
            let err = Schema::parse(bad).unwrap_err();
            assert!(err.contains("[a-z][a-z0-9_]"), "{bad}: {err}");
        }
        assert!(Schema::parse("pg_run").unwrap_err().contains("reserves"));
    }

    #[test]
    fn table_names_are_quoted_so_any_name_is_literal() {
        let schema = Schema::parse("run1").unwrap();
        assert_eq!(schema.table("kv").to_string(), r#""run1"."kv""#);
        assert_eq!(
            schema.table(r#"Odd"Name"#).to_string(),
            r#""run1"."Odd""Name""#
        );
    }

    #[test]
    fn table_names_postgres_would_truncate_are_refused() {
        assert!(check_table_name(&"t".repeat(63)).is_ok());
        assert!(check_table_name(&"t".repeat(64))
            .unwrap_err()
            .contains("at most 63"));
        assert!(check_table_name("").is_err());
        assert!(check_table_name("a\0b").is_err());
    }

    #[test]
    fn like_metacharacters_in_the_prefix_match_literally() {
        assert_eq!(like_prefix_pattern("user:"), "user:%");
        assert_eq!(like_prefix_pattern("50%_off\\"), "50\\%\\_off\\\\%");
        assert_eq!(like_prefix_pattern(""), "%");
    }
}
