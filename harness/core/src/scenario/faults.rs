//! The fault schedule of a scenario (`[[faults]]`): what to break, when, for how long.
//! The engine fires each fault at its time and heals it after its duration; the run's
//! fault injector (the CLI's, which knows the stand-ins and their proxies) carries it
//! out, and every start and end is a timeline event of the record.

use super::error::ScenarioError;
use crate::threshold::parse_duration_ns;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::time::Duration;
use toml::Spanned;

/// What a fault does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// SIGKILL of the server's process group; with a duration, it is started again then.
    Kill,
    /// A polite stop (the server's shutdown signal); with a duration, started again then.
    Stop,
    /// Start a stopped or killed server again.
    Start,
    /// SIGSTOP of the server's process group; with a duration, SIGCONT then.
    Pause,
    Resume,
    /// Stop the server and start a fresh one in its place (behind the same proxy
    /// address). In-memory stand-ins come back empty: their data loss is a property of
    /// the emulator, not of the service.
    Restart,
    /// Promote the replica to primary and point the proxy at it (a cluster endpoint
    /// moving after a failover).
    Promote,
    /// Nothing passes the proxy (Toxiproxy's `timeout`): in-flight ops end
    /// indeterminate; healed after the duration.
    Partition,
    /// The proxy delays every chunk by `latency` ± `jitter`.
    Latency,
    /// The proxy resets every connection (TCP RST).
    ResetPeer,
    /// The proxy passes at most `bytes_per_s`.
    Bandwidth,
    /// Remove every proxy toxic.
    Heal,
    /// Run a program (e.g. a cloud failover CLI); only on real endpoints.
    Command,
}

impl FaultKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::Kill => "kill",
            FaultKind::Stop => "stop",
            FaultKind::Start => "start",
            FaultKind::Pause => "pause",
            FaultKind::Resume => "resume",
            FaultKind::Restart => "restart",
            FaultKind::Promote => "promote",
            FaultKind::Partition => "partition",
            FaultKind::Latency => "latency",
            FaultKind::ResetPeer => "reset_peer",
            FaultKind::Bandwidth => "bandwidth",
            FaultKind::Heal => "heal",
            FaultKind::Command => "command",
        }
    }

    /// What undoes this fault after its duration, if anything does.
    pub fn undo(self) -> Option<FaultKind> {
        match self {
            FaultKind::Kill | FaultKind::Stop => Some(FaultKind::Start),
            FaultKind::Pause => Some(FaultKind::Resume),
            FaultKind::Partition
            | FaultKind::Latency
            | FaultKind::ResetPeer
            | FaultKind::Bandwidth => Some(FaultKind::Heal),
            _ => None,
        }
    }

    /// Faults that act on the network between clients and the server (the proxy).
    pub fn is_network(self) -> bool {
        matches!(
            self,
            FaultKind::Partition
                | FaultKind::Latency
                | FaultKind::ResetPeer
                | FaultKind::Bandwidth
                | FaultKind::Heal
        )
    }
}

/// How a primary + replica target replicates during the scenario.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Replication {
    /// A commit is acknowledged once the primary has it (PostgreSQL's default).
    Asynchronous,
    /// A commit is acknowledged once the standby has it too
    /// (`synchronous_standby_names`, `synchronous_commit = on`).
    Synchronous,
}

/// Which server of the target a fault acts on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultOn {
    #[default]
    Primary,
    Replica,
}

/// Which way a network fault acts.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultDirection {
    /// Client → server.
    Upstream,
    /// Server → client.
    Downstream,
    #[default]
    Both,
}

/// One scheduled fault, validated.
#[derive(Clone, Debug, PartialEq)]
pub struct FaultSpec {
    pub kind: FaultKind,
    /// After the start of the scenario's run (steps, load, workload: the engine).
    pub at: Duration,
    /// How long it lasts before its undo (see `FaultKind::undo`); none: it stays.
    pub duration: Option<Duration>,
    /// Fire again this often, `times` times in all.
    pub every: Option<Duration>,
    pub times: u32,
    pub on: FaultOn,
    pub direction: FaultDirection,
    /// Share of connections a network fault applies to (1: all).
    pub toxicity: f64,
    pub latency: Duration,
    pub jitter: Duration,
    pub bytes_per_s: u64,
    /// `command`: the program and its arguments.
    pub command: Vec<String>,
}

impl FaultSpec {
    /// When each firing starts, after the start of the run.
    pub fn firings(&self) -> Vec<Duration> {
        (0..self.times)
            .map(|i| self.at + self.every.unwrap_or_default() * i)
            .collect()
    }

    /// One line: `partition for 2s at 3s`.
    pub fn describe(&self) -> String {
        let mut s = self.kind.as_str().to_string();
        if self.on == FaultOn::Replica {
            s.push_str(" (replica)");
        }
        if self.kind == FaultKind::Latency {
            s.push_str(&format!(" {:?} ± {:?}", self.latency, self.jitter));
        }
        if let Some(d) = self.duration {
            s.push_str(&format!(" for {d:?}"));
        }
        s
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFault {
    kind: Spanned<FaultKind>,
    at: Spanned<String>,
    duration: Option<Spanned<String>>,
    every: Option<Spanned<String>>,
    times: Option<u32>,
    #[serde(default)]
    on: FaultOn,
    #[serde(default)]
    direction: FaultDirection,
    toxicity: Option<Spanned<f64>>,
    latency: Option<Spanned<String>>,
    jitter: Option<Spanned<String>>,
    bytes_per_s: Option<u64>,
    #[serde(default)]
    command: Vec<String>,
}

type At<'a> = &'a dyn Fn(Range<usize>, String) -> ScenarioError;

fn duration(d: &Spanned<String>, field: &str, at: At<'_>) -> Result<Duration, ScenarioError> {
    parse_duration_ns(d.get_ref())
        .map(|ns| Duration::from_nanos(ns as u64))
        .ok_or_else(|| {
            at(
                d.span(),
                format!(
                    "faults.{field}: `{}` is not a duration; write e.g. \"5s\" or \"500ms\"",
                    d.get_ref()
                ),
            )
        })
}

/// Longest a schedule may run: every loop of a fault run is bounded.
const MAX_FAULT_TIME: Duration = Duration::from_secs(3600);

pub(super) fn parse_fault(raw: Spanned<RawFault>, at: At<'_>) -> Result<FaultSpec, ScenarioError> {
    let span = raw.span();
    let f = raw.into_inner();
    let kind = *f.kind.get_ref();
    let start = duration(&f.at, "at", at)?;
    let length = f
        .duration
        .as_ref()
        .map(|d| duration(d, "duration", at))
        .transpose()?;
    let every = f
        .every
        .as_ref()
        .map(|d| duration(d, "every", at))
        .transpose()?;
    if let Some(d) = length {
        if kind.undo().is_none() {
            return Err(at(
                f.duration.as_ref().map_or(span.clone(), |d| d.span()),
                format!(
                    "faults: `{}` has nothing to undo after a duration; remove `duration`",
                    kind.as_str()
                ),
            ));
        }
        if d.is_zero() {
            return Err(at(span, "faults.duration must be more than 0".into()));
        }
    }
    let times = match (every, f.times) {
        (None, None) => 1,
        (None, Some(_)) => {
            return Err(at(
                span,
                "faults: `times` needs `every`, e.g. every = \"10s\"".into(),
            ))
        }
        (Some(e), t) => {
            if e.is_zero() {
                return Err(at(span, "faults.every must be more than 0".into()));
            }
            if length.is_some_and(|d| d >= e) {
                return Err(at(
                    span,
                    "faults: `duration` must be shorter than `every`, or the fault never heals"
                        .into(),
                ));
            }
            t.unwrap_or(1).max(1)
        }
    };
    let spec = FaultSpec {
        kind,
        at: start,
        duration: length,
        every,
        times,
        on: f.on,
        direction: f.direction,
        toxicity: match &f.toxicity {
            Some(t) if !(0.0..=1.0).contains(t.get_ref()) => {
                return Err(at(
                    t.span(),
                    "faults.toxicity is a share between 0 and 1, e.g. 0.5".into(),
                ))
            }
            Some(t) => *t.get_ref(),
            None => 1.0,
        },
        latency: f
            .latency
            .as_ref()
            .map(|d| duration(d, "latency", at))
            .transpose()?
            .unwrap_or_default(),
        jitter: f
            .jitter
            .as_ref()
            .map(|d| duration(d, "jitter", at))
            .transpose()?
            .unwrap_or_default(),
        bytes_per_s: f.bytes_per_s.unwrap_or(0),
        command: f.command,
    };
    let needs = |ok: bool, what: &str| -> Result<(), ScenarioError> {
        if ok {
            Ok(())
        } else {
            Err(at(
                f.kind.span(),
                format!("faults: `{}` needs {what}", kind.as_str()),
            ))
        }
    };
    match kind {
        FaultKind::Latency => needs(
            !spec.latency.is_zero(),
            "`latency`, e.g. latency = \"40ms\"",
        )?,
        FaultKind::Bandwidth => needs(
            spec.bytes_per_s > 0,
            "`bytes_per_s`, e.g. bytes_per_s = 100000",
        )?,
        FaultKind::Command => needs(
            !spec.command.is_empty(),
            "`command = [\"program\", \"arg\"]`",
        )?,
        _ => {}
    }
    if spec.firings().last().is_some_and(|t| *t > MAX_FAULT_TIME) {
        return Err(at(
            span,
            "faults: the schedule runs past one hour; shorten `at`, `every` or `times`".into(),
        ));
    }
    Ok(spec)
}
