//! The transactions of a history (`Units`) and the context every Elle pass reads
//! (`Ctx`): the view, the key indexes and the units, with the small queries they share.

use crate::evidence::ops_evidence;
use crate::history_view::{Effect, KeyKind, View};
use crate::index::{ListIndex, RegisterIndex};
use crate::model::Evidence;
use assay_core::{Op, Outcome};
use std::ops::Range;

/// The transactions of a history: an op, or one op of a batch.
pub(crate) struct Units {
    pub op: Vec<u32>,
    pub range: Vec<Range<u32>>,
    /// Per access: its unit.
    pub of_access: Vec<u32>,
}

impl Units {
    pub(crate) fn build(view: &View<'_>) -> Units {
        let mut u = Units {
            op: Vec::with_capacity(view.ops.len()),
            range: Vec::with_capacity(view.ops.len()),
            of_access: vec![0; view.accesses.len()],
        };
        for (oi, r) in view.op_accesses.iter().enumerate() {
            let pieces: Vec<Range<u32>> = if matches!(view.ops[oi].op, Op::Batch { .. }) {
                r.clone().map(|a| a..a + 1).collect()
            } else if r.is_empty() {
                Vec::new()
            } else {
                vec![r.clone()]
            };
            for piece in pieces {
                for a in piece.clone() {
                    u.of_access[a as usize] = u.op.len() as u32;
                }
                u.op.push(oi as u32);
                u.range.push(piece);
            }
        }
        u
    }

    pub(crate) fn len(&self) -> usize {
        self.op.len()
    }
}

pub(crate) struct Ctx<'a, 'v> {
    pub view: &'a View<'v>,
    pub lists: &'a ListIndex<'v>,
    pub regs: &'a RegisterIndex<'v>,
    pub units: Units,
    /// Per key id: ok appends that no read observed, by access.
    pub unobserved: Vec<Vec<u32>>,
}

impl Ctx<'_, '_> {
    pub(crate) fn key(&self, k: u32) -> &str {
        self.view.keys[k as usize]
    }

    /// Keys whose dependencies are inferred: lists, and registers used in transactions.
    pub(crate) fn dependency_key(&self, k: u32) -> bool {
        match self.view.key_kind[k as usize] {
            KeyKind::List => true,
            KeyKind::Register => self.view.key_in_txn[k as usize],
            KeyKind::Other | KeyKind::Kv => false,
        }
    }

    pub(crate) fn unit_outcome(&self, u: u32) -> Outcome {
        let r = &self.units.range[u as usize];
        match self.view.ops[self.units.op[u as usize] as usize].op {
            Op::Batch { .. } => self.view.accesses[r.start as usize].outcome,
            _ => self.view.ops[self.units.op[u as usize] as usize].outcome,
        }
    }

    pub(crate) fn unit_evidence(&self, units: &[u32]) -> Evidence {
        let ops: Vec<usize> = units
            .iter()
            .map(|&u| self.units.op[u as usize] as usize)
            .collect();
        ops_evidence(self.view, &ops)
    }

    /// Appends to `key` by the unit of access `ai`, before it.
    pub(crate) fn own_appends_before(&self, ai: u32, key: u32) -> usize {
        let u = self.units.of_access[ai as usize];
        let start = self.units.range[u as usize].start;
        self.view.accesses[start as usize..ai as usize]
            .iter()
            .filter(|a| a.key == key && matches!(a.effect, Effect::Append(_)))
            .count()
    }

    /// A later write to the same key by the same unit as access `ai`.
    pub(crate) fn later_write_in_unit(&self, ai: u32, key: u32) -> bool {
        let u = self.units.of_access[ai as usize];
        let end = self.units.range[u as usize].end;
        self.view.accesses[ai as usize + 1..end as usize]
            .iter()
            .any(|a| {
                a.key == key
                    && (matches!(a.effect, Effect::Append(_)) || a.effect.is_register_write())
            })
    }

    pub(crate) fn unit_of(&self, ai: u32) -> u32 {
        self.units.of_access[ai as usize]
    }
}
