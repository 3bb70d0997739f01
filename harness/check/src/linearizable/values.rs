//! A register's state in the linearizability search and the interned values it holds
//! (Porcupine's key-value strings included, with their concatenations memoised).
//!
//! Appends only ever matter through the values ops compare against (reads, a
//! compare-and-set's expected value): a value that is no prefix of any of them can never
//! be observed again, nor grow into one, until it is overwritten. All such values are one
//! state, `JUNK`, and the others are nodes of a byte trie of the compared values, so a
//! concatenation in the search walks the trie instead of building a string.

use crate::fxhash::FastMap;
use std::borrow::Cow;

/// Value id of "no row".
pub(crate) const ABSENT: u32 = 0;
/// Value id of "a row without a value" (created by an append or increment).
pub(crate) const NO_VALUE: u32 = 1;
/// Value id of "a value no op observed", left by an unseen indeterminate write.
pub(crate) const UNSEEN: u32 = u32::MAX;
/// Value id of "a value no op compares against, nor any extension of it" (see the
/// module docs); only appends make it.
pub(crate) const JUNK: u32 = u32::MAX - 1;

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
    /// The trie of compared values, built before the first concatenation.
    trie: Option<Trie>,
}

/// Node 0 is the empty string; each node is a prefix of some compared value.
#[derive(Default)]
struct Trie {
    nodes: Vec<TrieNode>,
    children: FastMap<(u32, u8), u32>,
    /// Value id → its node, for values that are such a prefix.
    node_of: FastMap<u32, u32>,
}

struct TrieNode {
    /// A value whose text starts with this node's, and how long the node's text is.
    src: u32,
    len: u32,
    /// The node's value id, `NO_NODE_VALUE` until one is needed.
    value: u32,
}

const NO_NODE_VALUE: u32 = u32::MAX;

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
            ABSENT | NO_VALUE | UNSEEN | JUNK => "",
            id => &self.names[id as usize - 2],
        }
    }

    /// Builds the trie of the values ops compare against (`observed`); once, as the
    /// values of a key do not change between its searches.
    pub(crate) fn prepare_appends(&mut self, observed: impl IntoIterator<Item = u32>) {
        if self.trie.is_some() {
            return;
        }
        let mut trie = Trie::default();
        trie.nodes.push(TrieNode {
            src: ABSENT,
            len: 0,
            value: ABSENT,
        });
        for id in observed {
            if id == ABSENT || id == NO_VALUE || id >= JUNK {
                continue;
            }
            let mut node = 0u32;
            for (i, &b) in self.text(id).as_bytes().iter().enumerate() {
                let fresh = trie.nodes.len() as u32;
                let child = *trie.children.entry((node, b)).or_insert(fresh);
                if child == fresh {
                    trie.nodes.push(TrieNode {
                        src: id,
                        len: i as u32 + 1,
                        value: NO_NODE_VALUE,
                    });
                }
                node = child;
            }
        }
        // Interned values that are nodes keep their ids, so equal texts stay one id.
        for id in 2..self.names.len() as u32 + 2 {
            let mut node = Some(0u32);
            for &b in self.text(id).as_bytes() {
                node = node.and_then(|n| trie.children.get(&(n, b)).copied());
            }
            if let Some(n) = node.filter(|&n| n != 0) {
                trie.nodes[n as usize].value = id;
                trie.node_of.insert(id, n);
            }
        }
        self.trie = Some(trie);
    }

    /// The value `value` followed by `suffix` (after `prepare_appends`).
    pub(crate) fn concat(&mut self, value: u32, suffix: u32) -> u32 {
        if value == UNSEEN || value == JUNK {
            return value;
        }
        if let Some(&id) = self.concat.get(&(value, suffix)) {
            return id;
        }
        let id = self.walk(value, suffix);
        self.concat.insert((value, suffix), id);
        id
    }

    fn walk(&mut self, value: u32, suffix: u32) -> u32 {
        let Some(trie) = self.trie.as_ref() else {
            return JUNK;
        };
        let mut node = if self.text(value).is_empty() {
            0
        } else {
            match trie.node_of.get(&value) {
                Some(&n) => n,
                None => return JUNK,
            }
        };
        for &b in self.text(suffix).as_bytes() {
            match trie.children.get(&(node, b)) {
                Some(&n) => node = n,
                None => return JUNK,
            }
        }
        if node == 0 {
            return ABSENT;
        }
        let n = &trie.nodes[node as usize];
        if n.value != NO_NODE_VALUE {
            return n.value;
        }
        // A prefix no op wrote whole: its text is a slice of the value it came from,
        // which ends on a character boundary as it is a text followed by texts.
        let (src, len) = (n.src, n.len as usize);
        let text = match &self.names[src as usize - 2] {
            Cow::Borrowed(s) => {
                let s: &'a str = s;
                Cow::Borrowed(&s[..len])
            }
            Cow::Owned(s) => Cow::Owned(s[..len].to_owned()),
        };
        self.names.push(text);
        let id = self.names.len() as u32 + 1;
        if let Some(trie) = self.trie.as_mut() {
            trie.nodes[node as usize].value = id;
            trie.node_of.insert(id, node);
        }
        id
    }

    /// Whether appends may turn `value` into `target`: its text starts with `value`'s.
    pub(crate) fn may_grow_into(&self, value: u32, target: u32) -> bool {
        value != JUNK && self.text(target).starts_with(self.text(value))
    }

    /// `show` for a state whose value's text is `text` (a `JUNK` value, rebuilt).
    pub(crate) fn show_text(&self, text: &str, s: State) -> String {
        match text {
            "" if self.kv => "\"\" (absent)".to_string(),
            t if self.kv => format!("{t:?}"),
            t => format!("{t:?} ver {}", s.version),
        }
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
            JUNK => format!(
                "a value made by appends that no op observed, ver {}",
                s.version
            ),
            id if self.kv => format!("{:?}", self.text(id)),
            id => format!("{:?} ver {}", self.text(id), s.version),
        }
    }
}
