//! Names the driver puts into SQL text: the run's database, its tables, and LIKE patterns.
//!
//! Identifiers cannot be bound as parameters, so every name that reaches SQL text is either
//! checked here (the namespace) or quoted here (table names); values always go through binds.

use std::fmt;

/// MySQL and MariaDB identifiers hold at most 64 characters; longer names are an error there,
/// refused here first with the fix.
const MAX_IDENTIFIER_CHARS: usize = 64;

/// Database names the server itself owns; a run must never create or drop them.
const SYSTEM_DATABASES: [&str; 4] = ["mysql", "sys", "information_schema", "performance_schema"];

/// The run's namespace, checked to match `[a-z][a-z0-9_]{0,30}` and usable as a database
/// name (one database per run, dropped by teardown).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Database(String);

impl Database {
    pub(crate) fn parse(namespace: &str) -> Result<Database, String> {
        let mut chars = namespace.chars();
        let first_ok = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !first_ok || !rest_ok || namespace.len() > 31 {
            return Err(format!(
                "namespace `{namespace}` must match [a-z][a-z0-9_]{{0,30}}; pick a run id of that form"
            ));
        }
        if SYSTEM_DATABASES.contains(&namespace) {
            return Err(format!(
                "namespace `{namespace}` is a MySQL system database; pick another run id"
            ));
        }
        Ok(Database(namespace.to_string()))
    }

    /// The quoted database name, for DDL.
    pub(crate) fn quoted(&self) -> String {
        quote_identifier(&self.0)
    }

    /// The database-qualified, quoted name of a scenario table.
    pub(crate) fn table(&self, logical: &str) -> QualifiedTable {
        QualifiedTable(format!(
            "{}.{}",
            quote_identifier(&self.0),
            quote_identifier(logical)
        ))
    }

    /// A sibling database for something a native check creates (`<ns>_<suffix>`), so
    /// teardown can find it by the same namespace.
    pub(crate) fn sibling(&self, suffix: &str) -> Result<Database, String> {
        let name = format!("{}_{suffix}", self.0);
        if name.len() > MAX_IDENTIFIER_CHARS
            || !suffix
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        {
            return Err(format!(
                "database name `{name}` is not a plain identifier of at most {MAX_IDENTIFIER_CHARS} characters"
            ));
        }
        Ok(Database(name))
    }

    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

/// `` `db`.`table` ``, ready to splice into SQL text.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct QualifiedTable(String);

impl fmt::Display for QualifiedTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Checks that a scenario's logical table name can be a MySQL identifier as-is.
pub(crate) fn check_table_name(logical: &str) -> Result<(), String> {
    if logical.is_empty() {
        return Err("a table name is empty; give every [[tables]] entry a name".to_string());
    }
    if logical.contains('\0') {
        return Err(format!(
            "table name {logical:?} contains a NUL byte, which MySQL identifiers cannot hold"
        ));
    }
    if logical.ends_with(' ') {
        // MySQL rejects identifiers ending in a space (error 1103).
        return Err(format!(
            "table name {logical:?} ends with a space, which MySQL does not allow; trim it"
        ));
    }
    let chars = logical.chars().count();
    if chars > MAX_IDENTIFIER_CHARS {
        return Err(format!(
            "table name `{logical}` is {chars} characters; MySQL identifiers hold at most {MAX_IDENTIFIER_CHARS}, shorten it"
        ));
    }
    Ok(())
}

/// Backquotes an identifier so any name (mixed case, keywords, punctuation) is literal.
pub(crate) fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// The escape character of [`like_prefix_pattern`]. Not the backslash: whether `'\\'` in SQL
/// text is one or two characters depends on the server's NO_BACKSLASH_ESCAPES mode.
pub(crate) const LIKE_ESCAPE: char = '!';

/// The LIKE pattern matching every string that starts with `prefix` (pair it with
/// `ESCAPE '!'`).
pub(crate) fn like_prefix_pattern(prefix: &str) -> String {
    let mut pattern = String::with_capacity(prefix.len() + 1);
    for c in prefix.chars() {
        if matches!(c, '%' | '_' | LIKE_ESCAPE) {
            pattern.push(LIKE_ESCAPE);
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
        assert!(Database::parse("run_20240101_ab").is_ok());
        assert!(Database::parse("a").is_ok());
        for bad in ["", "1run", "Run", "run-1", "run 1", "r`x", &"a".repeat(32)] {
            let err = Database::parse(bad).unwrap_err();
            assert!(err.contains("[a-z][a-z0-9_]"), "{bad}: {err}");
        }
        for system in ["mysql", "sys", "information_schema", "performance_schema"] {
            assert!(Database::parse(system)
                .unwrap_err()
                .contains("system database"));
        }
    }

    #[test]
    fn table_names_are_quoted_so_any_name_is_literal() {
        let db = Database::parse("run1").unwrap();
        assert_eq!(db.table("kv").to_string(), "`run1`.`kv`");
        assert_eq!(db.table("Odd`Name").to_string(), "`run1`.`Odd``Name`");
        assert_eq!(db.quoted(), "`run1`");
        assert_eq!(db.sibling("slt").unwrap().as_str(), "run1_slt");
        assert!(db.sibling("a-b").is_err());
    }

    #[test]
    fn table_names_mysql_would_refuse_are_refused_first() {
        assert!(check_table_name(&"t".repeat(64)).is_ok());
        assert!(check_table_name(&"t".repeat(65))
            .unwrap_err()
            .contains("at most 64"));
        assert!(check_table_name("").is_err());
        assert!(check_table_name("a\0b").is_err());
        assert!(check_table_name("kv ").is_err());
    }

    #[test]
    fn like_metacharacters_in_the_prefix_match_literally() {
        assert_eq!(like_prefix_pattern("user:"), "user:%");
        assert_eq!(like_prefix_pattern("50%_off!"), "50!%!_off!!%");
        assert_eq!(like_prefix_pattern("a\\b"), "a\\b%");
        assert_eq!(like_prefix_pattern(""), "%");
    }
}
