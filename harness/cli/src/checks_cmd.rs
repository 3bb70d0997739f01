//! `assay checks`: every driver family's native checks with their parameters (type,
//! default, range) and the documentation each exercises, as an aligned listing or as
//! versioned JSON (`--json`). The registry here is the one scenario loading validates
//! `native = "family.check"` steps against; this crate is the only one that knows every
//! driver.

use crate::EXIT_PASS;
use assay_core::native::{CheckSpec, FamilyChecks, ParamDefault, ParamKind, ParamSpec};
use serde_json::{json, Value};

/// Every family's table of native checks.
pub const REGISTRY: &[FamilyChecks] = &[
    assay_driver_dynamodb::NATIVE_CHECKS,
    assay_driver_spanner::NATIVE_CHECKS,
    assay_driver_cosmos::NATIVE_CHECKS,
    assay_driver_postgres::SQL_CHECKS,
    assay_driver_postgres::NATIVE_CHECKS,
    assay_driver_mysql::NATIVE_CHECKS,
    // Every family's: drivers without `connection_security` leave such scenarios unsupported.
    assay_core::native::SECURITY_CHECKS,
];

/// Version of the `--json` listing; raised when a field changes meaning or goes away.
const CHECKS_SCHEMA_VERSION: u32 = 1;

pub fn checks_command(as_json: bool) -> u8 {
    if as_json {
        println!("{}", listing_json(REGISTRY));
    } else {
        print!("{}", listing_text(REGISTRY));
    }
    EXIT_PASS
}

fn param_json(p: &ParamSpec) -> Value {
    let default = match p.default {
        ParamDefault::Required | ParamDefault::Absent => Value::Null,
        ParamDefault::Count(n) => json!(n),
        ParamDefault::Integer(n) => json!(n),
        ParamDefault::Text(s) => json!(s),
        ParamDefault::Bool(b) => json!(b),
    };
    let mut v = json!({
        "name": p.name,
        "type": p.kind.type_name(),
        "required": p.default == ParamDefault::Required,
        "default": default,
        "doc": p.doc,
    });
    match p.kind {
        ParamKind::Count { min, max } => {
            v["min"] = json!(min);
            v["max"] = json!(max);
        }
        ParamKind::Integer { min, max } => {
            v["min"] = json!(min);
            v["max"] = json!(max);
        }
        ParamKind::Text { allowed } if !allowed.is_empty() => v["allowed"] = json!(allowed),
        _ => {}
    }
    v
}

fn check_json(family: &str, c: &CheckSpec) -> Value {
    json!({
        "name": c.name,
        "native": format!("{family}.{}", c.name),
        "summary": c.summary,
        "cite": c.cite,
        "params": c.params.iter().map(param_json).collect::<Vec<_>>(),
    })
}

pub fn listing_json(registry: &[FamilyChecks]) -> String {
    let families: Vec<Value> = registry
        .iter()
        .map(|f| {
            json!({
                "family": f.family,
                "checks": f.checks.iter().map(|c| check_json(f.family, c)).collect::<Vec<_>>(),
            })
        })
        .collect();
    let doc = json!({ "schema_version": CHECKS_SCHEMA_VERSION, "families": families });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

/// One check per block: `family.check  summary`, its citation, then one aligned row per
/// parameter (name, type, default, range, what it controls).
pub fn listing_text(registry: &[FamilyChecks]) -> String {
    let params = || {
        registry
            .iter()
            .flat_map(|f| f.checks.iter())
            .flat_map(|c| c.params.iter())
    };
    let w_name = params().map(|p| p.name.len()).max().unwrap_or(0).max(5);
    let w_type = params()
        .map(|p| p.kind.type_name().len())
        .max()
        .unwrap_or(0)
        .max(4);
    let w_default = params()
        .map(|p| p.default_text().chars().count())
        .max()
        .unwrap_or(0)
        .max(7);
    let w_range = params()
        .map(|p| p.kind.range_text().chars().count())
        .max()
        .unwrap_or(0)
        .max(5);
    let mut out = String::new();
    for f in registry {
        for c in f.checks {
            out.push_str(&format!("{}.{}  {}\n", f.family, c.name, c.summary));
            out.push_str(&format!("    cite     {}\n", c.cite));
            if c.params.is_empty() {
                out.push_str("    params   none\n");
            }
            for p in c.params {
                let row = format!(
                    "    {:<w_name$}  {:<w_type$}  {:<w_default$}  {:<w_range$}  {}",
                    p.name,
                    p.kind.type_name(),
                    p.default_text(),
                    p.kind.range_text(),
                    p.doc
                );
                out.push_str(row.trim_end());
                out.push('\n');
            }
            out.push('\n');
        }
    }
    let checks: usize = registry.iter().map(|f| f.checks.len()).sum();
    out.push_str(&format!(
        "{checks} native checks in {} families; a scenario names one as native = \"family.check\" with params = {{ ... }}\n",
        registry.len()
    ));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_appears_once_and_every_check_cites_its_documentation() {
        let mut families: Vec<&str> = REGISTRY.iter().map(|f| f.family).collect();
        families.sort_unstable();
        let before = families.len();
        families.dedup();
        assert_eq!(families.len(), before, "a family is declared twice");
        for f in REGISTRY {
            for c in f.checks {
                assert!(c.cite.starts_with("https://"), "{}.{}", f.family, c.name);
                assert!(!c.summary.is_empty(), "{}.{}", f.family, c.name);
            }
        }
    }

    #[test]
    fn the_listing_aligns_parameters_and_the_json_is_versioned() {
        let text = listing_text(REGISTRY);
        assert!(text.contains("dynamodb.gsi_query  "), "{text}");
        let rows: Vec<&str> = text
            .lines()
            .filter(|l| l.starts_with("    items ") || l.starts_with("    samples "))
            .collect();
        assert!(rows.len() >= 2, "{text}");
        let col = |l: &str| l.find("count").unwrap();
        assert!(rows.iter().all(|r| col(r) == col(rows[0])), "{rows:?}");
        let v: Value = serde_json::from_str(&listing_json(REGISTRY)).unwrap();
        assert_eq!(v["schema_version"], 1);
        let ddb = &v["families"][0];
        assert_eq!(ddb["family"], "dynamodb");
        let gsi = ddb["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == "gsi_query")
            .unwrap();
        assert_eq!(gsi["params"][0]["default"], 20);
        assert_eq!(gsi["params"][0]["min"], 2);
    }
}
