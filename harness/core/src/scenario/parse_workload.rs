//! Validating a `[workload]` section into a [`Workload`]: mode, stages, bounds, keyspace,
//! mix and value sizes, each error located in the file.

use super::error::{At, ScenarioError};
use super::model::KeyRange;
use super::raw::{RawValueSize, RawWorkload};
use super::workload::{
    KeyDistribution, LoadMode, MixOp, Stage, ValueSize, Workload, DEFAULT_MAX_IN_FLIGHT,
    DEFAULT_SCAN_LENGTH, DEFAULT_ZIPFIAN_THETA, TPCB_TABLES,
};
use crate::threshold::parse_duration_ns;
use std::time::Duration;
use toml::Spanned;

fn parse_span_duration(
    d: &Spanned<String>,
    field: &str,
    at: At<'_>,
) -> Result<Duration, ScenarioError> {
    parse_duration_ns(d.get_ref())
        .map(|ns| Duration::from_nanos(ns as u64))
        .ok_or_else(|| {
            at(
                d.span(),
                format!(
                    "workload.{field}: `{}` is not a duration; write e.g. \"10s\" or \"500ms\"",
                    d.get_ref()
                ),
            )
        })
}

pub(super) fn parse_workload(
    spanned: Spanned<RawWorkload>,
    table: String,
    tables: &[&str],
    at: At<'_>,
) -> Result<Workload, ScenarioError> {
    let span = spanned.span();
    let w = spanned.into_inner();
    let mode = match (&w.mode, w.rate) {
        (Some(m), _) => *m.get_ref(),
        (None, Some(_)) => LoadMode::Open,
        (None, None) => LoadMode::Closed,
    };
    let open = mode == LoadMode::Open;
    let mut stages = Vec::with_capacity(w.stages.len());
    for s in &w.stages {
        let raw = s.get_ref();
        let duration = parse_duration_ns(&raw.duration)
            .map(|ns| Duration::from_nanos(ns as u64))
            .ok_or_else(|| {
                at(
                    s.span(),
                    format!(
                        "workload.stages: `{}` is not a duration; write e.g. \"10s\"",
                        raw.duration
                    ),
                )
            })?;
        if !(raw.target >= 0.0 && raw.target.is_finite()) {
            return Err(at(
                s.span(),
                "workload.stages: target must be a number ≥ 0".into(),
            ));
        }
        stages.push(Stage {
            duration,
            target: raw.target,
        });
    }
    let warmup = match &w.warmup {
        Some(d) => parse_span_duration(d, "warmup", at)?,
        None => Duration::ZERO,
    };
    let duration = match (&w.duration, stages.is_empty()) {
        (Some(d), true) => parse_span_duration(d, "duration", at)?,
        (None, true) => {
            return Err(at(span, "workload: give `duration = \"10s\"` (or `stages`) to bound it in time".into()))
        }
        (Some(d), false) => {
            return Err(at(
                d.span(),
                "workload: `duration` and `stages` both given; with stages the run lasts their sum, so remove `duration`".into(),
            ))
        }
        (None, false) => {
            let total: Duration = stages.iter().map(|s| s.duration).sum();
            if total <= warmup {
                return Err(at(span, format!("workload: the stages last {total:?}, no longer than the warmup {warmup:?}; lengthen them or shorten the warmup")));
            }
            total - warmup
        }
    };
    if open {
        if w.clients.is_some() || w.think_time.is_some() {
            return Err(at(span, "workload: `clients` and `think_time` are for a closed loop; an open loop takes `rate` and `max_in_flight`".into()));
        }
        if w.rate.is_none() && stages.is_empty() {
            return Err(at(
                span,
                "workload: an open loop needs `rate = 1000` (ops/s) or rate `stages`".into(),
            ));
        }
    } else if w.rate.is_some() || w.max_in_flight.is_some() {
        return Err(at(span, "workload: `rate` and `max_in_flight` are for an open loop; set `mode = \"open\"` or use `clients`".into()));
    }
    let rate = w.rate.unwrap_or(0.0);
    if !(rate >= 0.0 && rate.is_finite()) || (open && stages.is_empty() && rate <= 0.0) {
        return Err(at(
            span,
            "workload: rate must be a number of ops per second > 0".into(),
        ));
    }
    let clients = w.clients.unwrap_or(if stages.is_empty() { 1 } else { 0 });
    if !open && stages.is_empty() && clients == 0 {
        return Err(at(span, "workload: clients must be at least 1".into()));
    }
    let max_in_flight = w.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT);
    if max_in_flight == 0 {
        return Err(at(
            span,
            "workload: max_in_flight must be at least 1".into(),
        ));
    }
    let think_time = match &w.think_time {
        Some(d) => parse_span_duration(d, "think_time", at)?,
        None => Duration::ZERO,
    };

    let keys_span = w.keys.span();
    let k = w.keys.into_inner();
    if k.count == 0 {
        return Err(at(
            keys_span,
            "workload.keys: count must be at least 1".into(),
        ));
    }
    let theta = k.theta.unwrap_or(DEFAULT_ZIPFIAN_THETA);
    if !(theta > 0.0 && theta < 1.0) {
        return Err(at(
            keys_span,
            "workload.keys: theta must be between 0 and 1 (exclusive), e.g. 0.99".into(),
        ));
    }
    let key_distribution = match k.distribution.as_deref().unwrap_or("uniform") {
        "uniform" => KeyDistribution::Uniform,
        "zipfian" => KeyDistribution::Zipfian { theta },
        "latest" => KeyDistribution::Latest { theta },
        "hotspot" => {
            let data_fraction = k.hot_data_fraction.unwrap_or(0.2);
            let op_fraction = k.hot_op_fraction.unwrap_or(0.8);
            if !(data_fraction > 0.0 && data_fraction <= 1.0 && (0.0..=1.0).contains(&op_fraction)) {
                return Err(at(keys_span, "workload.keys: hot_data_fraction must be in (0, 1] and hot_op_fraction in [0, 1]".into()));
            }
            KeyDistribution::Hotspot {
                data_fraction,
                op_fraction,
            }
        }
        other => {
            return Err(at(
                keys_span,
                format!("workload.keys: distribution `{other}` is unknown; use uniform, zipfian, latest or hotspot"),
            ))
        }
    };
    if k.digits > 0 && 10f64.powi(k.digits as i32) < (k.start + k.count) as f64 {
        return Err(at(
            keys_span,
            format!(
                "workload.keys: {} digits cannot hold key index {}; raise `digits`",
                k.digits,
                k.start + k.count - 1
            ),
        ));
    }

    let mut mix = Vec::new();
    for (name, weight) in w.mix.get_ref() {
        let op = MixOp::parse(name).ok_or_else(|| {
            let known: Vec<_> = MixOp::ALL.iter().map(|m| m.as_str()).collect();
            at(
                w.mix.span(),
                format!(
                    "workload.mix: `{name}` is not a workload op; use {}",
                    known.join(", ")
                ),
            )
        })?;
        if !(*weight >= 0.0 && weight.is_finite()) {
            return Err(at(
                w.mix.span(),
                format!("workload.mix: weight of `{name}` must be a number ≥ 0"),
            ));
        }
        mix.push((op, *weight));
    }
    if mix.iter().map(|(_, w)| w).sum::<f64>() <= 0.0 {
        return Err(at(
            w.mix.span(),
            "workload.mix: give at least one op a weight > 0, e.g. { read = 0.5, write = 0.5 }"
                .into(),
        ));
    }
    let weighted = |op: MixOp| mix.iter().any(|(m, w)| *m == op && *w > 0.0);
    if weighted(MixOp::Scan) && k.digits == 0 {
        return Err(at(keys_span, "workload: `scan` reads a key prefix as a range, which needs zero-padded keys; add `digits = 8` to keys".into()));
    }
    if weighted(MixOp::Tpcb) {
        if let Some(missing) = TPCB_TABLES.iter().find(|t| !tables.contains(t)) {
            return Err(at(w.mix.span(), format!("workload.mix: `tpcb` needs the tables accounts (the workload's), tellers, branches and history; add [[setup.tables]] name = \"{missing}\"")));
        }
    }
    let scan_length = w.scan_length.unwrap_or(DEFAULT_SCAN_LENGTH);
    if scan_length == 0 {
        return Err(at(span, "workload: scan_length must be at least 1".into()));
    }
    let value_size = match &w.value_size {
        None => ValueSize::Fixed(100),
        Some(v) => match v.get_ref() {
            RawValueSize::Fixed(n) => ValueSize::Fixed(*n),
            RawValueSize::Distributed {
                min,
                max,
                distribution,
            } => {
                if min > max {
                    return Err(at(v.span(), "workload.value_size: min is above max".into()));
                }
                match distribution.as_str() {
                    "uniform" => ValueSize::Uniform { min: *min, max: *max },
                    "zipfian" => ValueSize::Zipfian { min: *min, max: *max },
                    "fixed" | "constant" if min == max => ValueSize::Fixed(*min),
                    other => {
                        return Err(at(
                            v.span(),
                            format!("workload.value_size: distribution `{other}` is unknown; use uniform or zipfian (or a plain number for a fixed size)"),
                        ))
                    }
                }
            }
        },
    };
    Ok(Workload {
        mode,
        clients,
        think_time,
        rate,
        max_in_flight,
        stages,
        warmup,
        duration,
        max_ops: w.max_ops,
        table,
        keys: KeyRange {
            prefix: k.prefix,
            start: k.start,
            count: k.count,
            literal: false,
        },
        key_digits: k.digits,
        key_distribution,
        mix,
        value_size,
        scan_length,
        load: w.load,
        history: w.history,
        shard: None,
    })
}
