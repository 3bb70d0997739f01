//! A register's state in the linearizability search and the interned values it holds
//! (Porcupine's key-value strings included, with their concatenations memoised).

use crate::fxhash::FastMap;
use std::borrow::Cow;

/// Value id of "no row".
pub(crate) const ABSENT: u32 = 0;
/// Value id of "a row without a value" (created by an append or increment).
pub(crate) const NO_VALUE: u32 = 1;
/// Value id of "a value no op observed", left by an unseen indeterminate write.
pub(crate) const UNSEEN: u32 = u32::MAX;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct State {
    pub value: u32,
    pub version: u64,
    /// How many of the interchangeable unseen writes (see `settle_indeterminate`) the
    /// search has placed so far.
    pub unseen_used: u32,
}

pub(crate) const INITIAL: State = State {
    value: ABSENT,
    version: 0,
    unseen_used: 0,
};

/// Interns one key's register values; ids 0 and 1 are reserved. Under Porcupine's
/// key-value model the empty string is the absent key's value, and appends intern the
/// concatenations they make (memoised, as the search repeats them).
#[derive(Default)]
pub(crate) struct Values<'a> {
    ids: FastMap<Cow<'a, str>, u32>,
    names: Vec<Cow<'a, str>>,
    pub kv: bool,
    concat: FastMap<(u32, u32), u32>,
}

impl<'a> Values<'a> {
    pub(crate) fn new(kv: bool) -> Values<'a> {
        Values {
            kv,
            ..Values::default()
        }
    }

    pub(crate) fn id(&mut self, v: Option<&'a str>) -> u32 {
        match v {
            None => NO_VALUE,
            Some("") if self.kv => ABSENT,
            Some(v) => self.intern(Cow::Borrowed(v)),
        }
    }

    fn intern(&mut self, v: Cow<'a, str>) -> u32 {
        if let Some(&id) = self.ids.get(v.as_ref()) {
            return id;
        }
        self.names.push(v.clone());
        let id = self.names.len() as u32 + 1;
        self.ids.insert(v, id);
        id
    }

    pub(crate) fn text(&self, id: u32) -> &str {
        match id {
            ABSENT | NO_VALUE | UNSEEN => "",
            id => &self.names[id as usize - 2],
        }
    }

    /// The value `value` followed by `suffix`.
    pub(crate) fn concat(&mut self, value: u32, suffix: u32) -> u32 {
        if value == UNSEEN {
            return UNSEEN;
        }
        if let Some(&id) = self.concat.get(&(value, suffix)) {
            return id;
        }
        let joined = format!("{}{}", self.text(value), self.text(suffix));
        let id = if joined.is_empty() {
            ABSENT
        } else {
            self.intern(Cow::Owned(joined))
        };
        self.concat.insert((value, suffix), id);
        id
    }

    pub(crate) fn show(&self, s: State) -> String {
        match s.value {
            ABSENT if self.kv => "\"\" (absent)".to_string(),
            ABSENT => "absent".to_string(),
            NO_VALUE => format!("a row without a value, ver {}", s.version),
            UNSEEN => format!(
                "a value written by an indeterminate write no read saw, ver {}",
                s.version
            ),
            id if self.kv => format!("{:?}", self.text(id)),
            id => format!("{:?} ver {}", self.text(id), s.version),
        }
    }
}
