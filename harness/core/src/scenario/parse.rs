//! The validated [`Scenario`] and how scenario text becomes one: every section checked,
//! every error located (`file:line:col`).

use super::error::{from_toml, ScenarioError};
use super::faults::{parse_fault, FaultSpec, Replication};
use super::model::{CheckKind, KeyRange, ScenarioKind, Step, TableSpec};
use super::native::{parse_native_step, RawNative};
use super::parse_workload::parse_workload;
use super::raw::RawScenario;
use super::workload::{ConsistencyWorkload, ConsistencyWorkloadKind, Workload};
use crate::capability::Capability;
use crate::isolation_level::IsolationLevel;
use crate::native::{FamilyChecks, NativeStep};
use crate::op::OpKind;
use crate::threshold::{parse_duration_ns, Threshold};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

pub const SCENARIO_FORMAT_VERSION: u32 = 1;

/// A scenario file that parsed and validated.
#[derive(Clone, Debug)]
pub struct Scenario {
    pub name: String,
    pub description: String,
    pub kind: ScenarioKind,
    pub tables: Vec<TableSpec>,
    pub steps: Vec<Step>,
    /// Backend-specific steps, each placed after `after` portable steps.
    pub native: Vec<NativeStep>,
    pub workload: Option<Workload>,
    pub checks: Vec<CheckKind>,
    pub thresholds: Vec<Threshold>,
    /// A phase producing a history for the consistency checkers.
    pub consistency: Option<ConsistencyWorkload>,
    /// The isolation level transactions should run at, where the backend lets one choose.
    pub isolation: Option<IsolationLevel>,
    /// What to break during the run, and when (`[[faults]]`).
    pub faults: Vec<FaultSpec>,
    /// How a primary + replica target replicates (`replication = "synchronous"`).
    pub replication: Option<Replication>,
    /// The backend families the scenario is written for (`families = [...]`), e.g. where
    /// the model a level is judged against is what one family documents; empty: every
    /// family. On a target of another family the scenario is unsupported.
    pub families: Vec<crate::target::Family>,
    explicit_requires: Vec<Capability>,
}

impl Scenario {
    /// Every capability the scenario needs: the declared ones plus those its ops and
    /// `security.*` steps imply.
    pub fn required_capabilities(&self) -> Vec<Capability> {
        let mut caps: Vec<Capability> = self.explicit_requires.clone();
        for step in &self.steps {
            caps.push(step.capability());
        }
        if self
            .native
            .iter()
            .any(|n| n.family == crate::native::security::SECURITY_FAMILY)
        {
            caps.push(Capability::ConnectionSecurity);
        }
        if let Some(w) = &self.workload {
            caps.extend(w.capabilities());
        }
        if let Some(c) = &self.consistency {
            caps.extend(match c.kind {
                // One micro-op per transaction runs as a bare op: no transactions needed.
                ConsistencyWorkloadKind::ListAppend if c.max_txn_ops == 1 => {
                    vec![Capability::Append, Capability::Read]
                }
                ConsistencyWorkloadKind::ListAppend => {
                    vec![Capability::Txn, Capability::Append, Capability::Read]
                }
                ConsistencyWorkloadKind::Register => {
                    vec![
                        Capability::Read,
                        Capability::Write,
                        Capability::CompareAndSet,
                    ]
                }
            });
        }
        caps.sort();
        caps.dedup();
        caps
    }
}

impl Scenario {
    /// Parses and validates scenario text; `file` only labels errors.
    /// Native steps are checked for their `family.check` form only; [`Scenario::parse_with`]
    /// also checks them against the drivers' tables.
    pub fn parse(src: &str, file: &str) -> Result<Scenario, ScenarioError> {
        Self::parse_checked(src, file, None)
    }

    /// Parses and validates scenario text, and checks every native step against
    /// `registry` (every driver family's table of checks): an unknown family or check, or
    /// an unknown, mistyped, out-of-range or missing parameter is a located error.
    pub fn parse_with(
        src: &str,
        file: &str,
        registry: &[FamilyChecks],
    ) -> Result<Scenario, ScenarioError> {
        Self::parse_checked(src, file, Some(registry))
    }

    fn parse_checked(
        src: &str,
        file: &str,
        registry: Option<&[FamilyChecks]>,
    ) -> Result<Scenario, ScenarioError> {
        let at = |span: Range<usize>, message: String| ScenarioError::at(src, file, span, message);
        let raw: RawScenario = from_toml(src, file)?;

        if *raw.format.get_ref() != SCENARIO_FORMAT_VERSION {
            return Err(at(
                raw.format.span(),
                format!(
                    "format = {} is not supported; this Assay reads format = {SCENARIO_FORMAT_VERSION}",
                    raw.format.get_ref()
                ),
            ));
        }
        if raw.setup.tables.is_empty()
            && (raw.steps.iter().any(|s| s.get_ref().native.is_none())
                || raw.workload.is_some()
                || raw.consistency.is_some())
        {
            return Err(at(
                0..0,
                "no tables: add `[[setup.tables]]` with `name = \"kv\"` before steps or a workload"
                    .into(),
            ));
        }
        let table_names: Vec<&str> = raw.setup.tables.iter().map(|t| t.name.as_str()).collect();
        let resolve_table = |t: &Option<Spanned<String>>| -> Result<String, ScenarioError> {
            match t {
                None => Ok(table_names[0].to_string()),
                Some(t) if table_names.contains(&t.get_ref().as_str()) => Ok(t.get_ref().clone()),
                Some(t) => Err(at(
                    t.span(),
                    format!(
                        "table `{}` is not in [[setup.tables]]; declare it there or use one of: {}",
                        t.get_ref(),
                        table_names.join(", ")
                    ),
                )),
            }
        };

        let mut steps = Vec::with_capacity(raw.steps.len());
        let mut native = Vec::new();
        for spanned in raw.steps {
            let span = spanned.span();
            let s = spanned.into_inner();
            let taken = |name: &str, steps: &[Step], native: &[NativeStep]| {
                name == "workload"
                    || steps.iter().any(|p| p.name == name)
                    || native.iter().any(|p| p.name == name)
            };
            if taken(&s.name, &steps, &native) {
                return Err(at(span, format!("step name `{}` is used twice (or is the reserved name `workload`); give every step its own name", s.name)));
            }
            let (op_name, expect) = match (s.op, s.native, s.expect) {
                (None, Some(n), None) => {
                    let raw = RawNative {
                        native: n,
                        name: s.name,
                        params: s.params,
                        documented: s.documented,
                        cite: s.cite,
                        timeout: s.timeout,
                    };
                    let mut step = parse_native_step(raw, steps.len(), registry, &at)?;
                    step.scenario_file = file.to_string();
                    native.push(step);
                    continue;
                }
                (Some(_), Some(n), _) => {
                    return Err(at(n.span(), format!("step `{}`: give either `op` (a portable step) or `native` (a backend-specific one), not both", s.name)))
                }
                (None, Some(_), Some(_)) => {
                    return Err(at(span, format!("step `{}`: a native step says what it checks in `documented`; remove `expect`", s.name)))
                }
                (Some(op), None, Some(expect)) => (op, expect),
                (Some(_), None, None) => {
                    return Err(at(span, format!("step `{}`: add `expect = {{ outcome = \"ok\" }}` (what every op must return)", s.name)))
                }
                (None, None, _) => {
                    return Err(at(span, format!("step `{}`: add `op = \"read\"` (a portable op) or `native = \"family.check\"`", s.name)))
                }
            };
            if s.params.is_some() || s.timeout.is_some() {
                return Err(at(
                    span,
                    format!(
                        "step `{}`: `params` and `timeout` belong to native steps; remove them",
                        s.name
                    ),
                ));
            }
            let op = OpKind::parse(op_name.get_ref()).ok_or_else(|| {
                let known: Vec<_> = OpKind::ALL.iter().map(|k| k.as_str()).collect();
                at(
                    op_name.span(),
                    format!(
                        "unknown op `{}`; use one of {}",
                        op_name.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
            if matches!(op, OpKind::Batch | OpKind::Txn) {
                return Err(at(
                    op_name.span(),
                    format!("op `{op}` needs several ops per request, which steps in format 1 cannot express; use single-key ops"),
                ));
            }
            let keys = match (s.key, s.keys) {
                (Some(k), None) => KeyRange {
                    prefix: k,
                    start: 0,
                    count: 1,
                    literal: true,
                },
                (None, Some(r)) if r.count > 0 => r,
                (None, Some(_)) => {
                    return Err(at(span, format!("step `{}`: keys.count must be at least 1", s.name)))
                }
                _ => {
                    return Err(at(
                        span,
                        format!("step `{}`: give exactly one of `key = \"k1\"` or `keys = {{ prefix = \"k\", count = 10 }}`", s.name),
                    ))
                }
            };
            let needs_value = matches!(
                op,
                OpKind::Write | OpKind::InsertIfAbsent | OpKind::CompareAndSet
            );
            if needs_value && s.value.is_none() {
                return Err(at(span, format!("step `{}`: op `{op}` needs `value = \"...\"` (use {{i}} for the key index)", s.name)));
            }
            if op != OpKind::Read && (expect.value.is_some() || expect.found.is_some()) {
                return Err(at(
                    span,
                    format!(
                        "step `{}`: expect.value and expect.found apply to reads only",
                        s.name
                    ),
                ));
            }
            if s.clients == 0 {
                return Err(at(
                    span,
                    format!("step `{}`: clients must be at least 1", s.name),
                ));
            }
            steps.push(Step {
                name: s.name,
                op,
                table: resolve_table(&s.table)?,
                keys,
                value: s.value,
                by: s.by,
                element: s.element,
                consistency: s.consistency,
                clients: s.clients,
                expect,
                documented: s.documented,
                cite: s.cite,
            });
        }

        let workload = match raw.workload {
            None => None,
            Some(spanned) => {
                let table = resolve_table(&spanned.get_ref().table)?;
                Some(parse_workload(spanned, table, &table_names, &at)?)
            }
        };

        let mut thresholds = Vec::with_capacity(raw.thresholds.len());
        for t in &raw.thresholds {
            thresholds.push(Threshold::parse(t.get_ref()).map_err(|m| at(t.span(), m))?);
        }

        let consistency = match raw.consistency {
            None => None,
            Some(spanned) => {
                let span = spanned.span();
                let c = spanned.into_inner();
                let duration = parse_duration_ns(c.duration.get_ref())
                    .map(|ns| Duration::from_nanos(ns as u64))
                    .ok_or_else(|| {
                        at(
                            c.duration.span(),
                            format!(
                                "`{}` is not a duration; write e.g. \"20s\"",
                                c.duration.get_ref()
                            ),
                        )
                    })?;
                if c.clients == 0 || c.keys == 0 || c.ops == 0 || c.max_txn_ops == 0 {
                    return Err(at(
                        span,
                        "consistency: clients, keys, ops and max_txn_ops must be at least 1".into(),
                    ));
                }
                if !(0.0..=1.0).contains(&c.read_ratio) {
                    return Err(at(
                        span,
                        "consistency: read_ratio is a share between 0 and 1, e.g. 0.5".into(),
                    ));
                }
                Some(ConsistencyWorkload {
                    kind: c.workload,
                    table: resolve_table(&c.table)?,
                    clients: c.clients,
                    keys: c.keys,
                    ops: c.ops,
                    duration,
                    max_txn_ops: c.max_txn_ops,
                    read_ratio: c.read_ratio,
                })
            }
        };
        let faults = raw
            .faults
            .into_iter()
            .map(|f| parse_fault(f, &at))
            .collect::<Result<Vec<_>, _>>()?;
        let checks = raw.checks.unwrap_or_else(|| vec![CheckKind::Expectations]);
        if consistency.is_none() && steps.is_empty() && native.is_empty() && workload.is_none() {
            return Err(at(
                0..0,
                "nothing to run: add [[steps]], a [workload] or a [consistency] section".into(),
            ));
        }
        if consistency.is_some() && !checks.iter().any(|c| c.model_name().is_some()) {
            return Err(at(0..0, "a [consistency] workload needs a model to check it against: add e.g. checks = [\"serializable\"]".into()));
        }

        Ok(Scenario {
            consistency,
            isolation: raw.isolation,
            faults,
            replication: raw.replication,
            families: raw.families,
            name: raw.name,
            description: raw.description,
            kind: raw.kind,
            tables: raw.setup.tables,
            steps,
            native,
            workload,
            checks,
            thresholds,
            explicit_requires: raw.requires,
        })
    }
}
