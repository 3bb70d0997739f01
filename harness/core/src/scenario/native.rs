//! Native steps (`native = "family.check"`): the name split, the documented behaviour and
//! citation every such step carries, its timeout, and, when parsing is handed the registry
//! of every driver family's checks, the check and each parameter validated against the
//! family's table while the spans are at hand: a bad name is located at the `native` value,
//! a bad parameter at its name or value.

use super::error::{At, ScenarioError};
use super::raw::RawParams;
use crate::native::registry::find_check;
use crate::native::{FamilyChecks, NativeStep};
use crate::threshold::parse_duration_ns;
use std::time::Duration;
use toml::Spanned;

/// Default bound on one native step.
const NATIVE_STEP_TIMEOUT: Duration = Duration::from_secs(120);

/// What a `native = "family.check"` step says, as written.
pub(super) struct RawNative {
    pub native: Spanned<String>,
    pub name: String,
    pub params: Option<RawParams>,
    pub documented: Option<String>,
    pub cite: Option<String>,
    pub timeout: Option<Spanned<String>>,
}

/// A native step: its name split, params as JSON, the documented behaviour and citation
/// it must carry, and (with a registry) its check and params validated.
pub(super) fn parse_native_step(
    raw: RawNative,
    after: usize,
    registry: Option<&[FamilyChecks]>,
    at: At<'_>,
) -> Result<NativeStep, ScenarioError> {
    let RawNative {
        native,
        name,
        params,
        documented,
        cite,
        timeout,
    } = raw;
    let (family, check) = match native.get_ref().split_once('.') {
        Some((f, c)) if !f.is_empty() && !c.is_empty() => (f.to_string(), c.to_string()),
        _ => {
            return Err(at(
                native.span(),
                format!(
                    "native = \"{}\" is not `family.check`; write e.g. \"dynamodb.gsi_query\"",
                    native.get_ref()
                ),
            ))
        }
    };
    let documented = documented.filter(|d| !d.trim().is_empty()).ok_or_else(|| {
        at(
            native.span(),
            format!("step `{name}`: add `documented = \"...\"`, the behaviour the backend's documentation promises"),
        )
    })?;
    let cite = cite
        .filter(|c| c.starts_with("https://") || c.starts_with("http://"))
        .ok_or_else(|| {
            at(
                native.span(),
                format!("step `{name}`: add `cite = \"https://...\"`, where that behaviour is documented"),
            )
        })?;
    let timeout = match timeout {
        None => NATIVE_STEP_TIMEOUT,
        Some(t) => parse_duration_ns(t.get_ref())
            .filter(|ns| *ns > 0.0)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| {
                at(
                    t.span(),
                    format!("`{}` is not a duration; write e.g. \"60s\"", t.get_ref()),
                )
            })?,
    };
    let params = params.unwrap_or_default();
    let mut json = serde_json::Map::new();
    for (key, value) in &params {
        let v = serde_json::to_value(value.get_ref()).map_err(|e| {
            at(
                value.span(),
                format!("step `{name}`: params.{}: {e}", key.get_ref()),
            )
        })?;
        json.insert(key.get_ref().clone(), v);
    }
    if let Some(registry) = registry {
        let spec = find_check(registry, &family, &check)
            .map_err(|e| at(native.span(), format!("step `{name}`: {e}")))?;
        for (key, value) in &params {
            let given = &json[key.get_ref().as_str()];
            match spec.param(key.get_ref()) {
                None => {
                    let e = spec
                        .check_param(&family, key.get_ref(), given)
                        .err()
                        .map(|e| e.to_string())
                        .unwrap_or_default();
                    return Err(at(key.span(), format!("step `{name}`: {e}")));
                }
                Some(p) => p
                    .check(given)
                    .map_err(|e| at(value.span(), format!("step `{name}`: {e}")))?,
            }
        }
        if let Some(e) = spec.missing(&family, |n| json.contains_key(n)) {
            return Err(at(native.span(), format!("step `{name}`: {e}")));
        }
    }
    Ok(NativeStep {
        name,
        family,
        check,
        params: serde_json::Value::Object(json),
        documented,
        cite,
        timeout,
        after,
        scenario_file: String::new(),
    })
}
