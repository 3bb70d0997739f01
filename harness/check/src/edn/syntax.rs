//! EDN itself: the value type, a reader (text → value, with line and column in
//! errors) and a printer. Knows nothing of histories.

use std::fmt::Write as _;

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
pub enum Edn {
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
    pub(crate) fn get(&self, keyword: &str) -> Option<&Edn> {
        match self {
            Edn::Map(kvs) => kvs
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(n) if n == keyword))
                .map(|(_, v)| v),
            Edn::Tagged(_, inner) => inner.get(keyword),
            _ => None,
        }
    }

    pub(crate) fn items(&self) -> Option<&[Edn]> {
        match self {
            Edn::Vector(v) | Edn::List(v) => Some(v),
            _ => None,
        }
    }

    pub(crate) fn keyword(&self) -> Option<&str> {
        match self {
            Edn::Keyword(k) => Some(k),
            Edn::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn is_scalar(&self) -> bool {
        !matches!(
            self,
            Edn::Vector(_) | Edn::List(_) | Edn::Set(_) | Edn::Map(_) | Edn::Tagged(..)
        )
    }
}

pub(crate) fn print(e: &Edn, out: &mut String) {
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

pub(crate) fn to_text(e: &Edn) -> String {
    let mut s = String::new();
    print(e, &mut s);
    s
}

// ---- reader ----

pub(crate) struct Reader<'a> {
    text: &'a str,
    pos: usize,
    depth: usize,
}

fn is_symbol_char(c: char) -> bool {
    c.is_alphanumeric() || ".*+!-_?$%&=<>/:'#".contains(c)
}

impl<'a> Reader<'a> {
    pub(crate) fn new(text: &'a str) -> Reader<'a> {
        Reader {
            text,
            pos: 0,
            depth: 0,
        }
    }

    pub(crate) fn error_at(&self, pos: usize, message: impl Into<String>) -> EdnError {
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
    pub(crate) fn next_form(&mut self) -> Result<Option<(Edn, usize)>, EdnError> {
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

/// A register value or key as Assay's string.
pub(crate) fn scalar_string(e: &Edn) -> String {
    match e {
        Edn::Int(i) => i.to_string(),
        Edn::Str(s) => s.clone(),
        Edn::Keyword(k) => k.clone(),
        other => to_text(other),
    }
}
