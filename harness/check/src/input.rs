//! Reading history files for checking: Assay's JSONL (`history.jsonl`, one event per
//! line, possibly several targets and scenarios) or a Jepsen EDN history. A run's file
//! holds one section per target × scenario; each must be checked on its own, since op
//! ids and keys of different databases have nothing to do with each other.

use crate::edn::{self, EdnError, NemesisOp};
use assay_core::{HistoryEvent, HistoryLine};
use std::io::BufRead;

/// The events of one target × scenario, in file order.
#[derive(Clone, Debug, PartialEq)]
pub struct HistorySection {
    /// Empty for EDN input and for JSONL lines that carry no target.
    pub target: String,
    pub scenario: String,
    pub events: Vec<HistoryEvent>,
    /// EDN ops of the nemesis: not checked, kept for the timeline.
    pub nemesis: Vec<NemesisOp>,
}

#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum HistoryParseError {
    #[error("line {line}: not a history event ({message}); each line must be a JSON object with \"type\": \"invoke\" or \"complete\" as `assay run` writes them")]
    Jsonl { line: usize, message: String },
    #[error("EDN history: {0}")]
    Edn(#[from] EdnError),
    #[error("cannot read the history: {0}")]
    Io(String),
}

/// Jepsen EDN rather than Assay JSONL: the first form is not a JSON object with a
/// string key.
pub fn looks_like_edn(text: &str) -> bool {
    let mut chars = text.chars().filter(|c| !c.is_whitespace());
    match chars.next() {
        Some('{') => chars.next() != Some('"'),
        Some(_) => true,
        None => false,
    }
}

/// Parses a history file (JSONL or EDN, detected from its content) into sections.
pub fn parse_history_text(text: &str) -> Result<Vec<HistorySection>, HistoryParseError> {
    parse_history_text_as(text, edn::DataModel::Detect)
}

/// [`parse_history_text`] with EDN ops read under a detected or forced data model.
pub fn parse_history_text_as(
    text: &str,
    data: edn::DataModel,
) -> Result<Vec<HistorySection>, HistoryParseError> {
    read_history(text.as_bytes(), data)
}

/// Reads a history (JSONL or EDN, detected from its first bytes) op by op from
/// `input`, never holding the whole file: a multi-GB history costs its events only.
pub fn read_history<R: BufRead>(
    mut input: R,
    data: edn::DataModel,
) -> Result<Vec<HistorySection>, HistoryParseError> {
    let head = input
        .fill_buf()
        .map_err(|e| HistoryParseError::Io(e.to_string()))?;
    if looks_like_edn(&String::from_utf8_lossy(head)) {
        let h = edn::read_history(input, data)?;
        return Ok(vec![HistorySection {
            target: String::new(),
            scenario: String::new(),
            events: h.events,
            nemesis: h.nemesis,
        }]);
    }
    let mut sections: Vec<HistorySection> = Vec::new();
    let mut line = String::new();
    let mut i = 0usize;
    loop {
        line.clear();
        i += 1;
        let n = input
            .read_line(&mut line)
            .map_err(|e| HistoryParseError::Io(format!("line {i}: {e}")))?;
        if n == 0 {
            break;
        }
        if line.trim().is_empty() {
            continue;
        }
        let (target, scenario, event) = match serde_json::from_str::<HistoryLine>(&line) {
            Ok(l) => (l.target, l.scenario, l.event),
            Err(_) => match serde_json::from_str::<HistoryEvent>(&line) {
                Ok(e) => (String::new(), String::new(), e),
                Err(e) => {
                    return Err(HistoryParseError::Jsonl {
                        line: i,
                        message: e.to_string(),
                    })
                }
            },
        };
        match sections
            .iter_mut()
            .find(|s| s.target == target && s.scenario == scenario)
        {
            Some(s) => s.events.push(event),
            None => sections.push(HistorySection {
                target,
                scenario,
                events: vec![event],
                nemesis: Vec::new(),
            }),
        }
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jsonl_splits_by_target_and_scenario() {
        let text = r#"{"target":"a","scenario":"s","type":"invoke","op_id":0,"client":0,"step":"w","op":{"f":"delete","table":"t","key":"k"},"intended_start_ns":0,"start_ns":0}
{"target":"b","scenario":"s","type":"invoke","op_id":0,"client":0,"step":"w","op":{"f":"delete","table":"t","key":"k"},"intended_start_ns":0,"start_ns":0}

{"target":"a","scenario":"s","type":"complete","op_id":0,"client":0,"outcome":"ok","end_ns":5}
"#;
        let s = parse_history_text(text).unwrap();
        assert_eq!(s.len(), 2);
        assert_eq!((s[0].target.as_str(), s[0].events.len()), ("a", 2));
        assert_eq!((s[1].target.as_str(), s[1].events.len()), ("b", 1));
    }

    #[test]
    fn bad_lines_name_the_line_and_edn_is_detected() {
        let err = parse_history_text("{\"type\":\"invoke\"}\n").unwrap_err();
        assert!(
            matches!(err, HistoryParseError::Jsonl { line: 1, .. }),
            "{err}"
        );
        assert!(looks_like_edn("{:type :invoke}"));
        assert!(looks_like_edn("[{:type :invoke}]"));
        assert!(!looks_like_edn("  {\"type\":\"invoke\"}"));
        let s = parse_history_text(
            "{:type :invoke, :f :read, :process 0}\n{:type :ok, :f :read, :process 0, :value 1}",
        )
        .unwrap();
        assert_eq!(s[0].events.len(), 2);
    }
}
