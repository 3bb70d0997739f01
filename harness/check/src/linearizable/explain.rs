//! The evidence of a key with no linearization, from where the search got stuck.

use super::values::{Values, INITIAL, JUNK};
use super::{LinOp, RegOp, Stuck};
use crate::evidence::evidence_op;
use crate::history_view::View;
use crate::model::Evidence;

/// Porcupine-style evidence: the longest linearizable prefix the search found (its
/// length, its last ops in order and the state it leaves), the op that cannot be
/// placed after it, and the ops concurrent with that op.
pub(super) fn explain(
    view: &View<'_>,
    key: &str,
    ops: &[LinOp],
    values: &Values<'_>,
    stuck: &Stuck,
) -> (String, Evidence) {
    const MAX_CONCURRENT: usize = 5;
    const RECENT: usize = 3;
    let bad = &ops[stuck.op];
    let recent = stuck.recent(RECENT);
    let mut chosen: Vec<usize> = recent.to_vec();
    chosen.push(stuck.op);
    let mut in_prefix = vec![false; ops.len()];
    for &i in &stuck.prefix {
        in_prefix[i] = true;
    }
    let mut concurrent: Vec<usize> = (0..ops.len())
        // Indeterminate ops stay pending forever; only those called meanwhile are news.
        .filter(|&i| !chosen.contains(&i) && ops[i].call <= bad.ret && ops[i].ret >= bad.call)
        .filter(|&i| ops[i].definite || ops[i].call >= bad.call)
        .filter(|&i| !in_prefix[i])
        .collect();
    concurrent.sort_by_key(|&i| ops[i].call);
    concurrent.truncate(MAX_CONCURRENT);
    let mut evidence = Evidence::default();
    let label = |n: usize| format!("T{}", n + 1);
    for (n, &i) in chosen.iter().chain(&concurrent).enumerate() {
        evidence.ops.push(evidence_op(view, ops[i].op, label(n)));
    }
    let thing = if values.kv { "key" } else { "register" };
    // The search keeps a value no op observes as `JUNK`; its text is rebuilt here.
    let shown_state = if stuck.state.value == JUNK {
        let mut text = String::new();
        for &i in &stuck.prefix {
            match ops[i].reg {
                RegOp::AppendStr(s) => text.push_str(values.text(s)),
                r => {
                    if let Some(w) = r.written() {
                        text = values.text(w).to_string();
                    }
                }
            }
        }
        values.show_text(&text, stuck.state)
    } else {
        values.show(stuck.state)
    };
    let prefix = if stuck.prefix.is_empty() {
        format!(
            "the longest linearizable prefix is empty (the {thing} starts {})",
            values.show(INITIAL)
        )
    } else {
        let labels: Vec<String> = (0..recent.len()).map(label).collect();
        let id = |i: &usize| view.ops[ops[*i].op].op_id.to_string();
        let p = &stuck.prefix;
        let ids: Vec<String> = if p.len() <= 10 {
            p.iter().map(id).collect()
        } else {
            let mut ids: Vec<String> = p[..3].iter().map(id).collect();
            ids.push(format!("… {} more …", p.len() - 8));
            ids.extend(p[p.len() - 5..].iter().map(id));
            ids
        };
        format!(
            "the longest linearizable prefix places {} of {} ops (op ids in order: {}), ending with {}, and leaves the {thing} {}",
            stuck.prefix.len(),
            ops.len(),
            ids.join(", "),
            labels.join(", "),
            shown_state
        )
    };
    let others = if concurrent.is_empty() {
        "no unplaced op was concurrent with it".to_string()
    } else {
        let labels: Vec<String> = (0..concurrent.len())
            .map(|n| label(n + chosen.len()))
            .collect();
        format!("unplaced ops concurrent with it: {}", labels.join(", "))
    };
    let explanation = format!(
        "key {key:?} has no linearization: {prefix}; {} cannot be placed after it: it cannot take effect in that state, nor after any op still pending, before it returned ({others})",
        label(recent.len())
    );
    (explanation, evidence)
}
