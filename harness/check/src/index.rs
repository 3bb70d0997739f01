//! What every transactional checker needs to know about writes, built once per check:
//! for lists, the version order of each key (its longest read) and who appended each
//! element; for registers, who wrote each value and the version order the reads' record
//! versions reveal.

use crate::fxhash::{FastMap, FastSet};
use crate::history_view::{Effect, KeyKind, Observed, View};
use assay_core::Outcome;

/// Who performed a write, by access index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Writer {
    One(u32),
    /// Written more than once: dependencies through it cannot be inferred.
    Many,
}

impl Writer {
    pub(crate) fn one(self) -> Option<u32> {
        match self {
            Writer::One(a) => Some(a),
            Writer::Many => None,
        }
    }
}

pub(crate) struct ListIndex<'v> {
    /// Per key id: the longest list read, taken as the key's version order.
    pub order: Vec<&'v [i64]>,
    /// Per key id: the access that read `order`.
    pub longest_reader: Vec<Option<u32>>,
    /// `(key, element)` → position in `order`.
    pub pos: FastMap<(u32, i64), u32>,
    /// `(key, element)` → the append that may have happened (ok or indeterminate).
    pub writer: FastMap<(u32, i64), Writer>,
    /// `(key, element)` → a failed append.
    pub failed: FastMap<(u32, i64), u32>,
    /// Ok list reads that are not a prefix of their key's order.
    pub incompatible: FastSet<u32>,
    /// Elements appended more than once to the same key.
    pub repeated_appends: u64,
}

impl<'v> ListIndex<'v> {
    pub(crate) fn build(view: &View<'v>) -> ListIndex<'v> {
        let n = view.keys.len();
        let mut ix = ListIndex {
            order: vec![&[]; n],
            longest_reader: vec![None; n],
            pos: FastMap::default(),
            writer: FastMap::default(),
            failed: FastMap::default(),
            incompatible: FastSet::default(),
            repeated_appends: 0,
        };
        // Sized once: growing maps of a million elements rehashes them again and again.
        let appends = view
            .accesses
            .iter()
            .filter(|a| matches!(a.effect, Effect::Append(_)) && a.outcome != Outcome::Fail)
            .count();
        ix.writer.reserve(appends);
        for (ai, a) in view.accesses.iter().enumerate() {
            let k = a.key;
            if view.key_kind[k as usize] != KeyKind::List {
                continue;
            }
            match (&a.effect, a.outcome) {
                (Effect::Append(e), Outcome::Fail) => {
                    ix.failed.insert((k, *e), ai as u32);
                }
                (Effect::Append(e), _) => {
                    ix.writer
                        .entry((k, *e))
                        .and_modify(|w| {
                            *w = Writer::Many;
                            ix.repeated_appends += 1;
                        })
                        .or_insert(Writer::One(ai as u32));
                }
                (Effect::Read(obs), Outcome::Ok) => {
                    if let Some(l) = obs.list() {
                        if ix.longest_reader[k as usize].is_none()
                            || l.len() > ix.order[k as usize].len()
                        {
                            ix.order[k as usize] = l;
                            ix.longest_reader[k as usize] = Some(ai as u32);
                        }
                    }
                }
                _ => {}
            }
        }
        ix.pos.reserve(ix.order.iter().map(|o| o.len()).sum());
        for (k, order) in ix.order.iter().enumerate() {
            for (i, e) in order.iter().enumerate() {
                ix.pos.entry((k as u32, *e)).or_insert(i as u32);
            }
        }
        for (ai, a) in view.accesses.iter().enumerate() {
            if let (Effect::Read(obs), Outcome::Ok) = (&a.effect, a.outcome) {
                if view.key_kind[a.key as usize] != KeyKind::List {
                    continue;
                }
                if let Some(l) = obs.list() {
                    let order = ix.order[a.key as usize];
                    if l.len() > order.len() || *l != order[..l.len()] {
                        ix.incompatible.insert(ai as u32);
                    }
                }
            }
        }
        ix
    }

    pub(crate) fn writer_of(&self, key: u32, e: i64) -> Option<u32> {
        self.writer.get(&(key, e)).and_then(|w| w.one())
    }
}

pub(crate) struct RegisterIndex<'v> {
    /// `(key, value)` → the write that may have happened (ok or indeterminate).
    pub writer: FastMap<(u32, &'v str), Writer>,
    /// `(key, value)` → a failed write.
    pub failed: FastMap<(u32, &'v str), u32>,
    /// Per key id: some op deleted it (versions restart, absent is ambiguous).
    pub has_delete: Vec<bool>,
    /// Per key id: `(version, value, an access that read it)` in version order, one per
    /// version, from ok reads that carry a version.
    pub versions: Vec<Vec<(u64, Option<&'v str>, u32)>>,
    /// Two reads that saw different values at the same version: `(key, access, access)`.
    pub conflicts: Vec<(u32, u32, u32)>,
    /// `(key, value)` → the lowest version a read saw it at.
    value_version: FastMap<(u32, &'v str), u64>,
    /// `(key, value)` pairs some ok read returned.
    read_values: FastSet<(u32, &'v str)>,
}

impl<'v> RegisterIndex<'v> {
    pub(crate) fn build(view: &View<'v>) -> RegisterIndex<'v> {
        let n = view.keys.len();
        let mut ix = RegisterIndex {
            writer: FastMap::default(),
            failed: FastMap::default(),
            has_delete: vec![false; n],
            versions: vec![Vec::new(); n],
            conflicts: Vec::new(),
            value_version: FastMap::default(),
            read_values: FastSet::default(),
        };
        for (ai, a) in view.accesses.iter().enumerate() {
            let k = a.key;
            if view.key_kind[k as usize] != KeyKind::Register {
                continue;
            }
            if let (Effect::Read(Observed::Register { value: Some(v), .. }), Outcome::Ok) =
                (&a.effect, a.outcome)
            {
                ix.read_values.insert((k, v));
            }
            match (&a.effect, a.outcome) {
                (Effect::Delete, o) if o != Outcome::Fail => ix.has_delete[k as usize] = true,
                (
                    Effect::Read(Observed::Register {
                        value,
                        version: Some(v),
                    }),
                    Outcome::Ok,
                ) => {
                    ix.versions[k as usize].push((*v, *value, ai as u32));
                }
                (e, o) => {
                    if let Some(Some(v)) = e.written_value() {
                        if o == Outcome::Fail {
                            ix.failed.insert((k, v), ai as u32);
                        } else {
                            ix.writer
                                .entry((k, v))
                                .and_modify(|w| *w = Writer::Many)
                                .or_insert(Writer::One(ai as u32));
                        }
                    }
                }
            }
        }
        for (k, vs) in ix.versions.iter_mut().enumerate() {
            vs.sort_by_key(|&(ver, _, a)| (ver, a));
            let mut out: Vec<(u64, Option<&str>, u32)> = Vec::with_capacity(vs.len());
            for &(ver, val, a) in vs.iter() {
                match out.last() {
                    Some(&(lv, lval, la)) if lv == ver => {
                        if lval != val {
                            ix.conflicts.push((k as u32, la, a));
                        }
                    }
                    _ => out.push((ver, val, a)),
                }
            }
            for &(ver, val, _) in &out {
                if let Some(val) = val {
                    ix.value_version.entry((k as u32, val)).or_insert(ver);
                }
            }
            *vs = out;
        }
        ix
    }

    pub(crate) fn writer_of(&self, key: u32, value: &str) -> Option<u32> {
        self.writer.get(&(key, value)).and_then(|w| w.one())
    }

    /// The first known version after `version` on `key`, with its value.
    pub(crate) fn next_version(&self, key: u32, version: u64) -> Option<(u64, Option<&'v str>)> {
        let vs = &self.versions[key as usize];
        let i = vs.partition_point(|&(v, _, _)| v <= version);
        vs.get(i).map(|&(v, val, _)| (v, val))
    }

    /// Some ok read returned `value` on `key`.
    pub(crate) fn is_read(&self, key: u32, value: &str) -> bool {
        self.read_values.contains(&(key, value))
    }

    /// The version a value was seen at, if some read reported it.
    pub(crate) fn version_of(&self, key: u32, value: &str) -> Option<u64> {
        self.value_version.get(&(key, value)).copied()
    }
}
