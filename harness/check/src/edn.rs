//! Interchange with Jepsen: reads Jepsen/Elle EDN histories into Assay history events
//! and writes Assay histories as EDN, so a verdict here can be compared with Jepsen's
//! checkers (Knossos, Elle) on the same input.
//!
//! Input: one op map per line, or a single vector (or list) of op maps. Each map has
//! `:type` (`:invoke`, `:ok`, `:fail`, `:info`), `:f`, `:value`, `:process`, and optionally
//! `:time` (ns) and `:error`. Ops whose `:process` is not an integer (the nemesis) are
//! left out. A completion pairs with its process's pending invoke; `:info` is
//! indeterminate. Supported `:f`:
//! - `:read`, `:write`, `:cas` on one register (`:value 3`, `:value [1 2]` for cas), or
//!   on independent keys (`:value [k v]`, `:value [k [old new]]`, as jepsen.independent
//!   writes them); a single register gets the key [`SINGLE_REGISTER_KEY`];
//! - `:txn` with micro-ops `[:append k e]`, `[:r k v]`, `[:w k v]` (list-append and
//!   rw-register), `:append` with `[k e]`;
//! - Assay's own extensions, written by [`write_history`]: `:cas-version`
//!   (`[k [version new]]`) and `:delete` (`[k nil]`).
//!
//! Keys become strings (integers in decimal, keywords by name). Register values become
//! strings the same way, and are written back as integers when they read as one.
//!
//! Jepsen's `:cas [old new]` compares *values*; Assay's `compare_and_set` compares
//! versions. An imported value-CAS becomes `Op::CompareAndSet { expected_version: None,
//! value: new }` whose invoke `step` is `cas-value:` followed by the EDN of `old` (e.g.
//! `cas-value:3`, `cas-value:nil`); the checkers read it back as a value-CAS. Record
//! versions do not exist in EDN and are not written.

use assay_core::{HistoryEvent, Op, OpMeta, OpResult, OpValue, Outcome, Record};
use std::collections::HashMap;
use std::fmt::Write as _;

/// Invoke `step` prefix that marks a compare-and-set by value (see the module docs).
pub const CAS_VALUE_STEP_PREFIX: &str = "cas-value:";
/// The key given to a single-register history's ops (no `[k v]` tuples).
pub const SINGLE_REGISTER_KEY: &str = "register";
/// The `step` of a read in Assay's final-read phase (the reads lost writes are judged
/// against); imported `:final? true` reads get it too.
pub const FINAL_READ_STEP: &str = "final-read";
/// The `step` of an imported key-value op (Porcupine's `:get`, `:put`): its key is
/// checked under the key-value model, where `""` is the absent key's value.
pub const KV_STEP: &str = "kv";
/// The `step` of an imported key-value `:append` (string concatenation). Core's
/// `Op::Append` holds an integer list element, so the append is kept as an
/// `Op::Write` of the suffix with this step, and the checkers read it back as an append.
pub const KV_APPEND_STEP: &str = "kv-append";

/// An op imported under Porcupine's key-value model.
pub fn is_kv_step(step: &str) -> bool {
    step == KV_STEP || step == KV_APPEND_STEP
}

/// How imported ops are read: detected from the ops, or forced (`assay check --model
/// kv` / `--model cas-register`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DataModel {
    /// `:get` / `:put`, and `:append` with a `:key`, are key-value ops; `:read` /
    /// `:write` / `:cas` a register; `:txn` and `:append [k e]` list-append.
    #[default]
    Detect,
    /// Porcupine's key-value model: `:get`/`:read`, `:put`/`:write`, `:append` (string
    /// concatenation), each on `:key` (or `[k v]`).
    KeyValue,
    /// Knossos' / etcd's cas-register: `:read`, `:write`, `:cas [old new]` only.
    CasRegister,
}

/// The table name given to imported ops.
pub const EDN_TABLE: &str = "jepsen";
/// The `step` given to imported ops other than value-CAS.
const IMPORTED_STEP: &str = "jepsen";
/// Collections nested deeper than this are refused rather than risking the stack.
const MAX_DEPTH: usize = 256;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{col}: {message}")]
pub struct EdnError {
    pub line: usize,
    pub col: usize,
    pub message: String,
}

/// An EDN value.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Char(char),
    /// Without the leading colon.
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    Map(Vec<(Edn, Edn)>),
    Tagged(String, Box<Edn>),
}

impl Edn {
    fn get(&self, keyword: &str) -> Option<&Edn> {
        match self {
            Edn::Map(kvs) => kvs
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == keyword))
                .map(|(_, v)| v),
            Edn::Tagged(_, inner) => inner.get(keyword),
            _ => None,
        }
    }

    fn items(&self) -> Option<&[Edn]> {
        match self {
            Edn::Vector(v) | Edn::List(v) => Some(v),
            _ => None,
        }
    }

    fn keyword(&self) -> Option<&str> {
        match self {
            Edn::Keyword(k) => Some(k),
            Edn::Str(s) => Some(s),
            _ => None,
        }
    }

    fn is_scalar(&self) -> bool {
        !matches!(
            self,
            Edn::Vector(_) | Edn::List(_) | Edn::Set(_) | Edn::Map(_) | Edn::Tagged(..)
        )
    }
}

fn print(e: &Edn, out: &mut String) {
    match e {
        Edn::Nil => out.push_str("nil"),
        Edn::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Edn::Int(i) => {
            let _ = write!(out, "{i}");
        }
        Edn::Float(f) => {
            let _ = write!(out, "{f:?}");
        }
        Edn::Str(s) => print_str(s, out),
        Edn::Char(c) => {
            let _ = write!(out, "\\{c}");
        }
        Edn::Keyword(k) => {
            out.push(':');
            out.push_str(k);
        }
        Edn::Symbol(s) => out.push_str(s),
        Edn::Vector(v) => print_seq(v, "[", "]", out),
        Edn::List(v) => print_seq(v, "(", ")", out),
        Edn::Set(v) => print_seq(v, "#{", "}", out),
        Edn::Map(kvs) => {
            out.push('{');
            for (i, (k, v)) in kvs.iter().enumerate() {
                if i > 0 {
                    out.push_str(", ");
                }
                print(k, out);
                out.push(' ');
                print(v, out);
            }
            out.push('}');
        }
        Edn::Tagged(t, inner) => {
            out.push('#');
            out.push_str(t);
            out.push(' ');
            print(inner, out);
        }
    }
}

fn print_seq(v: &[Edn], open: &str, close: &str, out: &mut String) {
    out.push_str(open);
    for (i, e) in v.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        print(e, out);
    }
    out.push_str(close);
}

fn print_str(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn to_text(e: &Edn) -> String {
    let mut s = String::new();
    print(e, &mut s);
    s
}

// ---- reader ----

struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

fn is_symbol_char(c: char) -> bool {
    c.is_alphanumeric() || ".*+!-_?$%&=<>/:'#".contains(c)
}

impl<'a> Reader<'a> {
    fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    fn error_at(&self, pos: usize, message: impl Into<String>) -> EdnError {
        let before = &self.text[..pos.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let col = before.rfind('\n').map_or(before.chars().count(), |nl| {
            before[nl + 1..].chars().count()
        }) + 1;
        EdnError {
            line,
            col,
            message: message.into(),
        }
    }

    fn peek(&self) -> Option<char> {
        self.text[self.pos..].chars().next()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += c.len_utf8();
        Some(c)
    }

    fn skip_ws(&mut self) -> Result<(), EdnError> {
        loop {
            match self.peek() {
                Some(c) if c.is_whitespace() || c == ',' => {
                    self.bump();
                }
                Some(';') => {
                    while let Some(c) = self.bump() {
                        if c == '\n' {
                            break;
                        }
                    }
                }
                Some('#') if self.text[self.pos..].starts_with("#_") => {
                    self.pos += 2;
                    self.form()?;
                }
                _ => return Ok(()),
            }
        }
    }

    /// The next top-level form and where it starts, or `None` at the end.
    fn next_form(&mut self) -> Result<Option<(Edn, usize)>, EdnError> {
        self.skip_ws()?;
        if self.peek().is_none() {
            return Ok(None);
        }
        let at = self.pos;
        Ok(Some((self.form()?, at)))
    }

    fn form(&mut self) -> Result<Edn, EdnError> {
        self.skip_ws()?;
        let start = self.pos;
        let Some(c) = self.peek() else {
            return Err(self.error_at(start, "unexpected end of input: a value was expected"));
        };
        match c {
            '[' | '(' | '{' => {
                self.bump();
                let close = match c {
                    '[' => ']',
                    '(' => ')',
                    _ => '}',
                };
                let items = self.seq(close, start)?;
                match c {
                    '[' => Ok(Edn::Vector(items)),
                    '(' => Ok(Edn::List(items)),
                    _ => self.map(items, start),
                }
            }
            '#' => {
                self.bump();
                match self.peek() {
                    Some('{') => {
                        self.bump();
                        Ok(Edn::Set(self.seq('}', start)?))
                    }
                    Some(c) if is_symbol_char(c) => {
                        let tag = self.token();
                        let inner = self.form()?;
                        Ok(Edn::Tagged(tag.to_string(), Box::new(inner)))
                    }
                    _ => Err(self.error_at(
                        start,
                        "a '#' must start a set #{...}, a tag #tag or a discard #_",
                    )),
                }
            }
            '"' => self.string(start),
            '\\' => {
                self.bump();
                let tok = self.token();
                let ch = match tok {
                    "newline" => '\n',
                    "space" => ' ',
                    "tab" => '\t',
                    "return" => '\r',
                    t if t.chars().count() == 1 => t.chars().next().unwrap_or(' '),
                    "" => match self.bump() {
                        Some(c) => c,
                        None => {
                            return Err(
                                self.error_at(start, "a character literal '\\' ends the input")
                            )
                        }
                    },
                    t => {
                        return Err(self.error_at(start, format!("unknown character literal \\{t}")))
                    }
                };
                Ok(Edn::Char(ch))
            }
            ':' => {
                self.bump();
                let tok = self.token();
                if tok.is_empty() {
                    return Err(self.error_at(start, "a keyword needs a name after ':'"));
                }
                Ok(Edn::Keyword(tok.to_string()))
            }
            ')' | ']' | '}' => {
                Err(self.error_at(start, format!("unexpected '{c}' with nothing open")))
            }
            c if is_symbol_char(c) => {
                let tok = self.token();
                Ok(self.atom(tok, start)?)
            }
            c => Err(self.error_at(start, format!("unexpected character {c:?}"))),
        }
    }

    fn token(&mut self) -> &'a str {
        let start = self.pos;
        while let Some(c) = self.peek() {
            if !is_symbol_char(c) {
                break;
            }
            self.bump();
        }
        &self.text[start..self.pos]
    }

    fn atom(&self, tok: &str, at: usize) -> Result<Edn, EdnError> {
        match tok {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let first = tok.chars().next().unwrap_or(' ');
        let second = tok.chars().nth(1);
        let numeric = first.is_ascii_digit()
            || ((first == '-' || first == '+') && second.is_some_and(|c| c.is_ascii_digit()));
        if !numeric {
            return Ok(Edn::Symbol(tok.to_string()));
        }
        let body = tok.strip_suffix('N').unwrap_or(tok);
        if let Ok(i) = body.parse::<i64>() {
            return Ok(Edn::Int(i));
        }
        let body = tok.strip_suffix('M').unwrap_or(tok);
        if let Ok(f) = body.parse::<f64>() {
            return Ok(Edn::Float(f));
        }
        Err(self.error_at(
            at,
            format!("{tok:?} is not a number this reader understands (integers must fit 64 bits)"),
        ))
    }

    fn string(&mut self, start: usize) -> Result<Edn, EdnError> {
        self.bump();
        let mut s = String::new();
        loop {
            match self.bump() {
                None => {
                    return Err(self.error_at(start, "string is not closed: add the closing '\"'"))
                }
                Some('"') => return Ok(Edn::Str(s)),
                Some('\\') => {
                    let at = self.pos;
                    match self.bump() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some('r') => s.push('\r'),
                        Some('"') => s.push('"'),
                        Some('\\') => s.push('\\'),
                        Some('u') => {
                            let hex = self.text.get(self.pos..self.pos + 4).unwrap_or("");
                            let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                            match ch {
                                Some(ch) if hex.len() == 4 => {
                                    s.push(ch);
                                    self.pos += 4;
                                }
                                _ => {
                                    return Err(
                                        self.error_at(at, "\\u must be followed by 4 hex digits")
                                    )
                                }
                            }
                        }
                        other => {
                            return Err(self.error_at(
                                at,
                                format!("unknown string escape \\{}", other.unwrap_or(' ')),
                            ))
                        }
                    }
                }
                Some(c) => s.push(c),
            }
        }
    }

    fn seq(&mut self, close: char, start: usize) -> Result<Vec<Edn>, EdnError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error_at(start, format!("collections nested deeper than {MAX_DEPTH}")));
        }
        let mut items = Vec::new();
        loop {
            self.skip_ws()?;
            match self.peek() {
                None => {
                    return Err(
                        self.error_at(start, format!("collection is not closed: add '{close}'"))
                    )
                }
                Some(c) if c == close => {
                    self.bump();
                    self.depth -= 1;
                    return Ok(items);
                }
                Some(c @ (')' | ']' | '}')) => {
                    return Err(self.error_at(
                        self.pos,
                        format!(
                        "'{c}' closes a collection opened with another bracket; expected '{close}'"
                    ),
                    ))
                }
                Some(_) => items.push(self.form()?),
            }
        }
    }

    fn map(&self, items: Vec<Edn>, start: usize) -> Result<Edn, EdnError> {
        if items.len() % 2 != 0 {
            return Err(self.error_at(
                start,
                "a map needs an even number of forms (key value pairs)",
            ));
        }
        let mut kvs = Vec::with_capacity(items.len() / 2);
        let mut it = items.into_iter();
        while let (Some(k), Some(v)) = (it.next(), it.next()) {
            kvs.push((k, v));
        }
        Ok(Edn::Map(kvs))
    }
}

/// Parses one EDN value (used for the old value of an imported value-CAS).
pub(crate) fn parse_value(text: &str) -> Result<Edn, EdnError> {
    let mut r = Reader::new(text);
    match r.next_form()? {
        Some((e, _)) => Ok(e),
        None => Err(r.error_at(0, "empty input: a value was expected")),
    }
}

/// For an invoke step marking a value-CAS: the expected old value (`None`: absent).
pub(crate) fn cas_value_expected(step: &str) -> Option<Option<String>> {
    let rest = step.strip_prefix(CAS_VALUE_STEP_PREFIX)?;
    Some(match parse_value(rest) {
        Ok(Edn::Nil) => None,
        Ok(e) if e.is_scalar() => Some(scalar_string(&e)),
        _ => Some(rest.to_string()),
    })
}

// ---- EDN → history ----

/// A register value or key as Assay's string.
fn scalar_string(e: &Edn) -> String {
    match e {
        Edn::Int(i) => i.to_string(),
        Edn::Str(s) => s.clone(),
        Edn::Keyword(k) => k.clone(),
        other => to_text(other),
    }
}

struct Converter<'a> {
    reader: Reader<'a>,
    events: Vec<HistoryEvent>,
    pending: HashMap<i64, Pending>,
    next_op_id: u64,
    last_time: u64,
    /// Ops carry `:index`: their order is the file's (sorted by index), times ignored.
    indexed: bool,
    /// Last process id given to an op without `:process` (each its own process, counting
    /// down from the top of the id range).
    next_anonymous: i64,
    /// Non-integer list elements (keywords, strings) → the integer that stands for them.
    elements: HashMap<String, i64>,
    data: DataModel,
}

/// Interned non-integer elements start here, far from any element a test appends.
const INTERNED_ELEMENT_BASE: i64 = 1 << 62;

struct Pending {
    op_id: u64,
    f: String,
    op: Op,
    /// The op addressed an explicit key (`[k v]` tuples).
    independent: bool,
}

impl Converter<'_> {
    fn err(&self, at: usize, msg: impl Into<String>) -> EdnError {
        self.reader.error_at(at, msg)
    }

    fn key(&self, e: &Edn, at: usize) -> Result<String, EdnError> {
        match e {
            Edn::Int(_) | Edn::Str(_) | Edn::Keyword(_) => Ok(scalar_string(e)),
            other => Err(self.err(
                at,
                format!(
                    "key {} must be an integer, string or keyword",
                    to_text(other)
                ),
            )),
        }
    }

    fn value(&self, e: &Edn, at: usize, what: &str) -> Result<String, EdnError> {
        match e {
            Edn::Nil => Err(self.err(at, format!("{what} value must not be nil"))),
            e if e.is_scalar() => Ok(scalar_string(e)),
            other => Err(self.err(
                at,
                format!("{what} value {} must be a scalar", to_text(other)),
            )),
        }
    }

    /// `[k v]` → (key, v, true); anything else → (the single register, value, false).
    fn split_key<'e>(
        &self,
        value: &'e Edn,
        at: usize,
        pair_is_tuple: impl Fn(&Edn) -> bool,
    ) -> Result<(String, &'e Edn, bool), EdnError> {
        match value.items() {
            Some([k, v]) if pair_is_tuple(v) => Ok((self.key(k, at)?, v, true)),
            _ => Ok((SINGLE_REGISTER_KEY.to_string(), value, false)),
        }
    }

    /// The integer standing for list element `e`: itself if an integer, else interned.
    fn element(&mut self, e: &Edn, at: usize) -> Result<i64, EdnError> {
        match e {
            Edn::Int(i) => Ok(*i),
            Edn::Str(_) | Edn::Keyword(_) => {
                let name = to_text(e);
                let n = self.elements.len() as i64;
                Ok(*self
                    .elements
                    .entry(name)
                    .or_insert(INTERNED_ELEMENT_BASE + n))
            }
            other => Err(self.err(
                at,
                format!(
                    "list element {} must be an integer, keyword or string",
                    to_text(other)
                ),
            )),
        }
    }

    /// A Porcupine key-value op: key from `:key`, or `[k v]`.
    fn kv_op(
        &mut self,
        f: &str,
        value: &Edn,
        key: Option<&Edn>,
        at: usize,
    ) -> Result<(Op, String, bool), EdnError> {
        let table = EDN_TABLE.to_string();
        let (key, v, independent) = match key {
            Some(k) => (self.key(k, at)?, value, false),
            None => self.split_key(value, at, |_| true)?,
        };
        let text = |c: &Self, what: &str| match v {
            Edn::Str(s) => Ok(s.clone()),
            Edn::Nil => Ok(String::new()),
            e if e.is_scalar() => Ok(scalar_string(e)),
            other => Err(c.err(
                at,
                format!(":{what} value {} must be a string", to_text(other)),
            )),
        };
        Ok(match f {
            "get" | "read" | "r" => (
                Op::Read {
                    table,
                    key,
                    consistency: Default::default(),
                },
                KV_STEP.to_string(),
                independent,
            ),
            "put" | "write" | "w" => (
                Op::Write {
                    table,
                    key,
                    value: text(self, f)?,
                },
                KV_STEP.to_string(),
                independent,
            ),
            "append" => (
                Op::Write {
                    table,
                    key,
                    value: text(self, f)?,
                },
                KV_APPEND_STEP.to_string(),
                independent,
            ),
            other => return Err(self.err(
                at,
                format!(
                    "unsupported :f :{other} under the key-value model; use :get, :put or :append"
                ),
            )),
        })
    }

    fn invoke_op(
        &mut self,
        f: &str,
        value: &Edn,
        key: Option<&Edn>,
        at: usize,
    ) -> Result<(Op, String, bool), EdnError> {
        let table = EDN_TABLE.to_string();
        let step = IMPORTED_STEP.to_string();
        match (self.data, f) {
            (DataModel::KeyValue, _) | (DataModel::Detect, "get" | "put") => {
                return self.kv_op(f, value, key, at)
            }
            (DataModel::Detect, "append") if key.is_some() || matches!(value, Edn::Str(_)) => {
                return self.kv_op(f, value, key, at)
            }
            (DataModel::CasRegister, "read" | "r" | "write" | "w" | "cas") => {}
            (DataModel::CasRegister, other) => {
                return Err(self.err(at, format!("unsupported :f :{other} under the cas-register model; use :read, :write or :cas")))
            }
            _ => {}
        }
        match f {
            "read" | "r" => {
                let (key, _, ind) = self.split_key(value, at, |_| true)?;
                Ok((Op::Read { table, key, consistency: Default::default() }, step, ind))
            }
            "write" | "w" => {
                let (key, v, ind) = self.split_key(value, at, |_| true)?;
                let value = self.value(v, at, "write")?;
                Ok((Op::Write { table, key, value }, step, ind))
            }
            "cas" => {
                let (key, pair, ind) = self.split_key(value, at, |v| v.items().is_some_and(|i| i.len() == 2))?;
                let Some([old, new]) = pair.items() else {
                    return Err(self.err(at, format!(":cas value {} must be [old new] or [key [old new]]", to_text(value))));
                };
                let value = self.value(new, at, "cas new")?;
                let step = format!("{CAS_VALUE_STEP_PREFIX}{}", to_text(old));
                Ok((Op::CompareAndSet { table, key, expected_version: None, value }, step, ind))
            }
            "cas-version" => {
                let (key, pair, ind) = self.split_key(value, at, |v| v.items().is_some_and(|i| i.len() == 2))?;
                let (expected_version, new) = match pair.items() {
                    Some([Edn::Nil, new]) => (None, new),
                    Some([Edn::Int(v), new]) if *v >= 0 => (Some(*v as u64), new),
                    _ => return Err(self.err(at, format!(":cas-version value {} must be [version new] or [key [version new]]", to_text(value)))),
                };
                let value = self.value(new, at, "cas-version new")?;
                Ok((Op::CompareAndSet { table, key, expected_version, value }, step, ind))
            }
            "delete" => {
                let (key, _, ind) = self.split_key(value, at, |_| true)?;
                Ok((Op::Delete { table, key }, step, ind))
            }
            "append" => match value.items() {
                Some([k, e]) if e.is_scalar() => {
                    let element = self.element(e, at)?;
                    Ok((Op::Append { table, key: self.key(k, at)?, element }, step, true))
                }
                _ => Err(self.err(at, format!(":append value {} must be [key element]", to_text(value)))),
            },
            "txn" => {
                let Some(micro) = value.items() else {
                    return Err(self.err(at, format!(":txn value {} must be a vector of micro-ops like [:append k 1]", to_text(value))));
                };
                let mut ops = Vec::with_capacity(micro.len());
                for m in micro {
                    let parts = m.items().unwrap_or(&[]);
                    let (mf, k, v) = match parts {
                        [mf, k, v] => (mf.keyword().unwrap_or(""), k, v),
                        _ => return Err(self.err(at, format!("micro-op {} must be [f key value]", to_text(m)))),
                    };
                    let key = self.key(k, at)?;
                    let table = table.clone();
                    ops.push(match mf {
                        "append" => Op::Append { table, key, element: self.element(v, at)? },
                        "r" | "read" => Op::Read { table, key, consistency: Default::default() },
                        "w" | "write" => Op::Write { table, key, value: self.value(v, at, "write")? },
                        other => return Err(self.err(at, format!("unsupported micro-op :{other}; use :append, :r or :w"))),
                    });
                }
                Ok((Op::Txn { ops }, step, true))
            }
            other => Err(self.err(
                at,
                format!("unsupported :f :{other}; supported: :read :write :cas :txn :append (and :cas-version :delete)"),
            )),
        }
    }

    fn read_value(&mut self, key: &str, v: &Edn, at: usize) -> Result<OpValue, EdnError> {
        Ok(OpValue::Record(match v {
            Edn::Nil => None,
            Edn::Vector(items) | Edn::List(items) => {
                let mut list = Vec::with_capacity(items.len());
                for i in items {
                    list.push(self.element(i, at)?);
                }
                Some(Record {
                    key: key.to_string(),
                    list: Some(list),
                    ..Record::default()
                })
            }
            s if s.is_scalar() => Some(Record {
                key: key.to_string(),
                value: Some(scalar_string(s)),
                ..Record::default()
            }),
            other => {
                return Err(self.err(
                    at,
                    format!(
                        "read value {} must be nil, a scalar or a list of scalars",
                        to_text(other)
                    ),
                ))
            }
        }))
    }

    fn ok_value(
        &mut self,
        p: &Pending,
        value: Option<&Edn>,
        at: usize,
    ) -> Result<OpValue, EdnError> {
        match &p.op {
            Op::Read { key, .. } => {
                let v = match (value, p.independent) {
                    (Some(v), true) => match v.items() {
                        Some([_, v]) => v,
                        _ => v,
                    },
                    (Some(v), false) => v,
                    (None, _) => &Edn::Nil,
                };
                self.read_value(key, v, at)
            }
            Op::Txn { ops } => {
                let Some(micro) = value.and_then(|v| v.items()) else {
                    return Err(self.err(
                        at,
                        ":ok of a :txn must carry the completed micro-ops as :value",
                    ));
                };
                if micro.len() != ops.len() {
                    return Err(self.err(
                        at,
                        format!(
                            ":ok :txn has {} micro-ops but its invoke had {}",
                            micro.len(),
                            ops.len()
                        ),
                    ));
                }
                let mut results = Vec::with_capacity(ops.len());
                for (op, m) in ops.iter().zip(micro) {
                    results.push(match (op, m.items()) {
                        (Op::Read { key, .. }, Some([_, _, v])) => {
                            OpResult::ok(self.read_value(key, v, at)?)
                        }
                        (Op::Read { .. }, _) => {
                            return Err(self.err(
                                at,
                                format!("micro-op {} must be [:r key value]", to_text(m)),
                            ))
                        }
                        _ => OpResult::ok(OpValue::None),
                    });
                }
                Ok(OpValue::Results(results))
            }
            _ => Ok(OpValue::None),
        }
    }

    fn op_map(&mut self, m: &Edn, at: usize) -> Result<(), EdnError> {
        let m = match m {
            Edn::Tagged(_, inner) => inner.as_ref(),
            other => other,
        };
        if !matches!(m, Edn::Map(_)) {
            return Err(self.err(
                at,
                format!(
                    "expected an op map like {{:type :invoke, :f :read, :process 0}}, found {}",
                    to_text(m)
                ),
            ));
        }
        let process = match m.get("process") {
            Some(Edn::Int(p)) => *p,
            // The nemesis and other non-client processes: not part of the checked history.
            Some(_) => return Ok(()),
            // Elle's README form: no process, so no process order; each op is its own.
            None => {
                self.next_anonymous -= 1;
                self.next_anonymous
            }
        };
        if process < 0 || process > u32::MAX as i64 && m.get("process").is_some() {
            return Err(self.err(
                at,
                format!(":process {process} must be between 0 and {}", u32::MAX),
            ));
        }
        let kind = m.get("type").and_then(|t| t.keyword()).unwrap_or("");
        let f = match m.get("f").and_then(|f| f.keyword()) {
            Some(f) => f.to_string(),
            // No :f: a vector of micro-ops is a transaction (Elle's README form).
            None if is_micro_ops(m.get("value")) => "txn".to_string(),
            None => return Err(self.err(at, "op map has no :f keyword (and its :value is not a vector of micro-ops like [:append :x 1])")),
        };
        let time = match m.get("time") {
            Some(Edn::Int(t)) if *t >= 0 && !self.indexed => (*t as u64).max(self.last_time),
            _ => self.last_time + 1,
        };
        // Completed-only histories: an :ok/:fail/:info with no pending invoke was
        // invoked at the dawn of time, concurrent with everything (no real-time order).
        if kind != "invoke"
            && !self.pending.contains_key(&process)
            && matches!(kind, "ok" | "fail" | "info")
        {
            let (op, step, independent) =
                self.invoke_op(&f, m.get("value").unwrap_or(&Edn::Nil), m.get("key"), at)?;
            let op_id = self.next_op_id;
            self.next_op_id += 1;
            self.events.push(HistoryEvent::Invoke {
                op_id,
                client: process.clamp(0, u32::MAX as i64) as u32,
                step: final_step(m, step),
                op: op.clone(),
                intended_start_ns: 0,
                start_ns: 0,
            });
            self.pending.insert(
                process,
                Pending {
                    op_id,
                    f: f.clone(),
                    op,
                    independent,
                },
            );
        }
        self.last_time = time;
        let value = m.get("value");
        match kind {
            "invoke" => {
                if self.pending.contains_key(&process) {
                    return Err(self.err(
                        at,
                        format!("process {process} invokes again before its previous op completed"),
                    ));
                }
                let (op, step, independent) =
                    self.invoke_op(&f, value.unwrap_or(&Edn::Nil), m.get("key"), at)?;
                let op_id = self.next_op_id;
                self.next_op_id += 1;
                self.events.push(HistoryEvent::Invoke {
                    op_id,
                    client: process as u32,
                    step: final_step(m, step),
                    op: op.clone(),
                    intended_start_ns: time,
                    start_ns: time,
                });
                self.pending.insert(
                    process,
                    Pending {
                        op_id,
                        f,
                        op,
                        independent,
                    },
                );
                Ok(())
            }
            "ok" | "fail" | "info" => {
                let Some(p) = self.pending.remove(&process) else {
                    return Err(self.err(
                        at,
                        format!(":{kind} for process {process}, which has no pending :invoke"),
                    ));
                };
                if p.f != f {
                    return Err(self.err(
                        at,
                        format!(":{kind} :f :{f} completes an :invoke of :{}", p.f),
                    ));
                }
                let (outcome, value) = match kind {
                    "ok" => (Outcome::Ok, self.ok_value(&p, value, at)?),
                    "fail" => (Outcome::Fail, OpValue::None),
                    _ => (Outcome::Indeterminate, OpValue::None),
                };
                self.events.push(HistoryEvent::Complete {
                    op_id: p.op_id,
                    client: process.clamp(0, u32::MAX as i64) as u32,
                    outcome,
                    value,
                    error_class: None,
                    error: m.get("error").map(to_text),
                    meta: OpMeta::default(),
                    end_ns: time,
                });
                Ok(())
            }
            other => Err(self.err(
                at,
                format!(":type :{other} must be :invoke, :ok, :fail or :info"),
            )),
        }
    }
}

/// A micro-op vector like `[[:append :x 1] [:r :y nil]]`.
fn is_micro_ops(v: Option<&Edn>) -> bool {
    v.and_then(|v| v.items()).is_some_and(|ms| {
        ms.iter().all(|m| {
            m.items()
                .is_some_and(|p| p.len() == 3 && p[0].keyword().is_some())
        })
    })
}

/// Reads marked `:final? true` (Jepsen's final reads after the nemesis healed) become
/// Assay's final-read step, the reads lost writes are judged against.
fn final_step(m: &Edn, step: String) -> String {
    match m.get("final?") {
        Some(Edn::Bool(true)) => FINAL_READ_STEP.to_string(),
        _ => step,
    }
}

/// Reads a Jepsen/Elle EDN history (see the module docs for what is understood).
pub fn parse_history(text: &str) -> Result<Vec<HistoryEvent>, EdnError> {
    parse_history_as(text, DataModel::Detect)
}

/// [`parse_history`] with the data model detected or forced.
pub fn parse_history_as(text: &str, data: DataModel) -> Result<Vec<HistoryEvent>, EdnError> {
    let mut reader = Reader::new(text);
    let mut forms = Vec::new();
    while let Some(f) = reader.next_form()? {
        forms.push(f);
    }
    let single_seq = forms.len() == 1 && forms[0].0.items().is_some();
    let mut items: Vec<(Edn, usize)> = if single_seq {
        let (seq, at) = forms.pop().expect("one form");
        seq.items()
            .unwrap_or(&[])
            .iter()
            .map(|i| (i.clone(), at))
            .collect()
    } else {
        forms
    };
    let index = |e: &Edn| match e {
        Edn::Tagged(_, inner) => inner.get("index").cloned(),
        other => other.get("index").cloned(),
    };
    let indexed = !items.is_empty()
        && items
            .iter()
            .all(|(e, _)| matches!(index(e), Some(Edn::Int(_))));
    if indexed {
        items.sort_by_key(|(e, _)| match index(e) {
            Some(Edn::Int(i)) => i,
            _ => 0,
        });
    }
    let mut c = Converter {
        reader,
        events: Vec::new(),
        pending: HashMap::new(),
        next_op_id: 0,
        last_time: 0,
        indexed,
        next_anonymous: u32::MAX as i64 + 1,
        elements: HashMap::new(),
        data,
    };
    for (form, at) in &items {
        c.op_map(form, *at)?;
    }
    Ok(c.events)
}

// ---- history → EDN ----

fn edn_scalar(s: &str) -> Edn {
    match s.parse::<i64>() {
        Ok(i) if i.to_string() == s => Edn::Int(i),
        _ => Edn::Str(s.to_string()),
    }
}

fn kw(s: &str) -> Edn {
    Edn::Keyword(s.to_string())
}

fn read_edn(v: Option<&OpValue>) -> Edn {
    match v {
        Some(OpValue::Record(Some(r))) => match (&r.list, &r.value) {
            (Some(l), _) => Edn::Vector(l.iter().map(|x| Edn::Int(*x)).collect()),
            (None, Some(v)) => edn_scalar(v),
            (None, None) => Edn::Nil,
        },
        _ => Edn::Nil,
    }
}

/// `(:f, :value)` of an op, with read results from `results` when given; `None` when
/// the op has no EDN form.
fn op_edn(op: &Op, step: &str, result: Option<&OpValue>) -> Option<(&'static str, Edn)> {
    let tuple = |key: &str, v: Edn| {
        if key == SINGLE_REGISTER_KEY {
            v
        } else {
            Edn::Vector(vec![edn_scalar(key), v])
        }
    };
    Some(match op {
        Op::Read { key, .. } => ("read", tuple(key, read_edn(result))),
        Op::Write { key, value, .. } => ("write", tuple(key, edn_scalar(value))),
        Op::CompareAndSet {
            key,
            expected_version,
            value,
            ..
        } => match cas_value_expected(step) {
            Some(old) => (
                "cas",
                tuple(
                    key,
                    Edn::Vector(vec![
                        old.as_deref().map_or(Edn::Nil, edn_scalar),
                        edn_scalar(value),
                    ]),
                ),
            ),
            None => {
                let v = expected_version.map_or(Edn::Nil, |v| Edn::Int(v as i64));
                (
                    "cas-version",
                    tuple(key, Edn::Vector(vec![v, edn_scalar(value)])),
                )
            }
        },
        Op::InsertIfAbsent { key, value, .. } => (
            "cas",
            tuple(key, Edn::Vector(vec![Edn::Nil, edn_scalar(value)])),
        ),
        Op::Delete { key, .. } => ("delete", tuple(key, Edn::Nil)),
        Op::Append { key, element, .. } => (
            "append",
            Edn::Vector(vec![edn_scalar(key), Edn::Int(*element)]),
        ),
        Op::Txn { ops } => {
            let results = match result {
                Some(OpValue::Results(r)) if r.len() == ops.len() => Some(r),
                _ => None,
            };
            let mut micro = Vec::with_capacity(ops.len());
            for (i, o) in ops.iter().enumerate() {
                micro.push(Edn::Vector(match o {
                    Op::Append { key, element, .. } => {
                        vec![kw("append"), edn_scalar(key), Edn::Int(*element)]
                    }
                    Op::Read { key, .. } => vec![
                        kw("r"),
                        edn_scalar(key),
                        read_edn(results.map(|r| &r[i].value)),
                    ],
                    Op::Write { key, value, .. } => {
                        vec![kw("w"), edn_scalar(key), edn_scalar(value)]
                    }
                    _ => return None,
                }));
            }
            ("txn", Edn::Vector(micro))
        }
        Op::Increment { .. } | Op::Query { .. } | Op::Batch { .. } => return None,
    })
}

/// Writes an Assay history as EDN, one Jepsen op map per line, with `:time` in ns and
/// `:process` = client. Ops with no EDN form (increment, query, batch, and transactions
/// holding them) are left out with a `;` comment naming them.
pub fn write_history(events: &[HistoryEvent]) -> String {
    let mut out = String::new();
    let mut invokes: HashMap<u64, (&Op, &str)> = HashMap::new();
    let mut index: i64 = 0;
    for e in events {
        let (op_id, client, kind, time, op, step, result, error) = match e {
            HistoryEvent::Invoke {
                op_id,
                client,
                step,
                op,
                start_ns,
                ..
            } => {
                invokes.insert(*op_id, (op, step));
                (
                    *op_id,
                    *client,
                    "invoke",
                    *start_ns,
                    op,
                    step.as_str(),
                    None,
                    None,
                )
            }
            HistoryEvent::Complete {
                op_id,
                client,
                outcome,
                value,
                error,
                end_ns,
                ..
            } => {
                let Some((op, step)) = invokes.get(op_id) else {
                    continue;
                };
                let kind = match outcome {
                    Outcome::Ok => "ok",
                    Outcome::Fail => "fail",
                    Outcome::Indeterminate => "info",
                };
                let result = (*outcome == Outcome::Ok).then_some(value);
                (
                    *op_id,
                    *client,
                    kind,
                    *end_ns,
                    *op,
                    *step,
                    result,
                    error.as_deref(),
                )
            }
        };
        let Some((f, value)) = op_edn(op, step, result) else {
            if kind == "invoke" {
                let _ = writeln!(
                    out,
                    "; op {op_id} ({}) has no EDN form; left out",
                    op.kind()
                );
            }
            continue;
        };
        let mut map = vec![
            (kw("index"), Edn::Int(index)),
            (kw("time"), Edn::Int(time.min(i64::MAX as u64) as i64)),
            (kw("type"), kw(kind)),
            (kw("process"), Edn::Int(client as i64)),
            (kw("f"), kw(f)),
            (kw("value"), value),
        ];
        if let Some(err) = error {
            map.push((kw("error"), Edn::Str(err.to_string())));
        }
        index += 1;
        print(&Edn::Map(map), &mut out);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reader_handles_edn_syntax() {
        let e = parse_value(
            r#"{:a [1 -2 3.5 "x\"y" \c nil true] :b #{:k} ; comment
            :c (sym #_ ignored 7N) :d #inst "2020"}"#,
        )
        .unwrap();
        assert_eq!(e.get("a").unwrap().items().unwrap().len(), 7);
        assert_eq!(
            e.get("a").unwrap().items().unwrap()[3],
            Edn::Str("x\"y".into())
        );
        assert_eq!(
            e.get("c").unwrap().items().unwrap(),
            &[Edn::Symbol("sym".into()), Edn::Int(7)]
        );
        assert!(matches!(e.get("d"), Some(Edn::Tagged(t, _)) if t == "inst"));
    }

    #[test]
    fn errors_carry_line_and_column() {
        let err = parse_history(
            "{:type :invoke, :f :read, :process 0}\n{:type :ok :f :read :value [1 2}\n",
        )
        .unwrap_err();
        assert_eq!((err.line, err.col), (2, 32), "{err}");
        assert!(err.message.contains("expected ']'"), "{err}");
        // A completion without an invoke is a completed-only history: invoked at time 0.
        let h = parse_history("{:type :ok, :f :read, :process 3, :value 1}").unwrap();
        assert!(
            matches!(h[0], HistoryEvent::Invoke { start_ns: 0, .. }),
            "{h:?}"
        );
        let err = parse_history("[{:type :invoke, :f :add, :process 0, :value 1}]").unwrap_err();
        assert!(err.message.contains("unsupported :f :add"), "{err}");
    }

    #[test]
    fn register_ops_pair_by_process_and_skip_the_nemesis() {
        let h = parse_history(
            "{:type :invoke, :f :write, :value 3, :process 0, :time 10}
             {:type :info, :f :start, :process :nemesis}
             {:type :invoke, :f :cas, :value [3 4], :process 1, :time 11}
             {:type :ok, :f :write, :value 3, :process 0, :time 20}
             {:type :info, :f :cas, :value [3 4], :process 1, :time 30, :error :timeout}",
        )
        .unwrap();
        assert_eq!(h.len(), 4);
        match &h[1] {
            HistoryEvent::Invoke {
                op: Op::CompareAndSet { key, value, .. },
                step,
                client,
                ..
            } => {
                assert_eq!(
                    (key.as_str(), value.as_str(), *client),
                    (SINGLE_REGISTER_KEY, "4", 1)
                );
                assert_eq!(cas_value_expected(step), Some(Some("3".to_string())));
            }
            other => panic!("{other:?}"),
        }
        match &h[3] {
            HistoryEvent::Complete {
                outcome,
                error,
                end_ns,
                ..
            } => {
                assert_eq!(*outcome, Outcome::Indeterminate);
                assert_eq!(error.as_deref(), Some(":timeout"));
                assert_eq!(*end_ns, 30);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn list_append_txns_round_trip() {
        let src = r#"[{:type :invoke, :process 0, :f :txn, :value [[:append 1 2] [:r 1 nil] [:w "x" 5]]}
                    {:type :ok, :process 0, :f :txn, :value [[:append 1 2] [:r 1 [1 2]] [:w "x" 5]]}]"#;
        let h = parse_history(src).unwrap();
        match &h[1] {
            HistoryEvent::Complete {
                value: OpValue::Results(r),
                ..
            } => {
                assert_eq!(r.len(), 3);
                match &r[1].value {
                    OpValue::Record(Some(rec)) => assert_eq!(
                        (rec.key.as_str(), rec.list.as_deref()),
                        ("1", Some(&[1, 2][..]))
                    ),
                    other => panic!("{other:?}"),
                }
            }
            other => panic!("{other:?}"),
        }
        let text = write_history(&h);
        assert!(
            text.contains(":value [[:append 1 2] [:r 1 [1 2]] [:w \"x\" 5]]"),
            "{text}"
        );
        assert_eq!(parse_history(&text).unwrap(), h);
    }

    #[test]
    fn assay_only_ops_are_written_as_extensions_or_left_out() {
        let inv = |op_id, op| HistoryEvent::Invoke {
            op_id,
            client: 0,
            step: "s".into(),
            op,
            intended_start_ns: op_id,
            start_ns: op_id,
        };
        let ok = |op_id| HistoryEvent::Complete {
            op_id,
            client: 0,
            outcome: Outcome::Ok,
            value: OpValue::None,
            error_class: None,
            error: None,
            meta: OpMeta::default(),
            end_ns: op_id + 1,
        };
        let h = vec![
            inv(
                0,
                Op::CompareAndSet {
                    table: "t".into(),
                    key: "k".into(),
                    expected_version: Some(2),
                    value: "v".into(),
                },
            ),
            ok(0),
            inv(
                2,
                Op::Increment {
                    table: "t".into(),
                    key: "k".into(),
                    by: 1,
                },
            ),
            ok(2),
        ];
        let text = write_history(&h);
        assert!(
            text.contains(":f :cas-version, :value [\"k\" [2 \"v\"]]"),
            "{text}"
        );
        assert!(
            text.contains("; op 2 (increment) has no EDN form"),
            "{text}"
        );
        let back = parse_history(&text).unwrap();
        assert!(matches!(
            &back[0],
            HistoryEvent::Invoke {
                op: Op::CompareAndSet {
                    expected_version: Some(2),
                    ..
                },
                ..
            }
        ));
        assert_eq!(back.len(), 2);
    }
}
