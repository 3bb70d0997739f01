//! Splits an EDN history read from a `BufRead` into its top-level forms (one op map
//! each), unwrapping a single outer vector or list, so a multi-GB file is parsed op by
//! op: only the current line and the current form's text are held.

use crate::edn::syntax::EdnError;
use std::io::BufRead;

/// One top-level form's text and where it starts.
pub(crate) struct Form<'a> {
    pub text: &'a str,
    pub line: usize,
    pub col: usize,
}

pub(crate) struct Forms<R> {
    input: R,
    line: String,
    /// Byte offset of the next char in `line`.
    pos: usize,
    /// 1-based number of `line` in the file.
    line_no: usize,
    form: String,
    start: (usize, usize),
    depth: usize,
    /// The closing brackets the current form's open collections expect.
    closers: Vec<char>,
    /// `Some(true)` once the file turned out to be one vector or list of op maps.
    wrapped: Option<bool>,
    in_string: bool,
    escaped: bool,
    in_comment: bool,
    /// The next char is a character literal's (`\{`), not syntax.
    char_literal: bool,
    eof: bool,
}

impl<R: BufRead> Forms<R> {
    pub(crate) fn new(input: R) -> Forms<R> {
        Forms {
            input,
            line: String::new(),
            pos: 0,
            line_no: 0,
            form: String::new(),
            start: (1, 1),
            depth: 0,
            closers: Vec::new(),
            wrapped: None,
            in_string: false,
            escaped: false,
            in_comment: false,
            char_literal: false,
            eof: false,
        }
    }

    fn error(&self, message: impl Into<String>) -> EdnError {
        EdnError {
            line: self.line_no.max(1),
            col: self.pos + 1,
            message: message.into(),
        }
    }

    fn begin(&mut self) {
        if self.form.is_empty() {
            self.start = (self.line_no, self.pos);
            if self.wrapped.is_none() {
                self.wrapped = Some(false);
            }
        }
    }

    fn done(&mut self) -> Option<Form<'_>> {
        Some(Form {
            text: &self.form,
            line: self.start.0,
            col: self.start.1,
        })
    }

    /// The next form, or `None` at the end of the input.
    pub(crate) fn next_form(&mut self) -> Result<Option<Form<'_>>, EdnError> {
        self.form.clear();
        loop {
            if self.pos >= self.line.len() {
                if self.eof {
                    return self.at_end();
                }
                self.line.clear();
                self.pos = 0;
                let n = self
                    .input
                    .read_line(&mut self.line)
                    .map_err(|e| self.error(format!("cannot read: {e}")))?;
                if n == 0 {
                    self.eof = true;
                    return self.at_end();
                }
                self.line_no += 1;
                continue;
            }
            let c = self.line[self.pos..].chars().next().unwrap_or('\n');
            self.pos += c.len_utf8();
            let base = usize::from(self.wrapped == Some(true));
            if self.in_comment {
                self.in_comment = c != '\n';
                continue;
            }
            if self.in_string || self.char_literal {
                self.form.push(c);
                if self.char_literal {
                    self.char_literal = false;
                } else if self.escaped {
                    self.escaped = false;
                } else if c == '\\' {
                    self.escaped = true;
                } else if c == '"' {
                    self.in_string = false;
                }
                continue;
            }
            match c {
                ';' => self.in_comment = true,
                c if c.is_whitespace() || c == ',' => {
                    // A bare token (a scalar, a tag or `#_` before its form) ends here.
                    if self.depth == base && !self.form.is_empty() {
                        return Ok(self.done());
                    }
                    if !self.form.is_empty() {
                        self.form.push(c);
                    }
                }
                '[' | '(' if self.wrapped.is_none() && self.depth == 0 => {
                    self.wrapped = Some(true);
                    self.depth = 1;
                }
                '[' | '(' | '{' => {
                    self.begin();
                    self.depth += 1;
                    self.closers.push(match c {
                        '[' => ']',
                        '(' => ')',
                        _ => '}',
                    });
                    self.form.push(c);
                }
                ']' | ')' | '}' => {
                    if self.depth == base {
                        if base == 1 {
                            // The outer vector closes: whatever follows is more forms.
                            self.depth = 0;
                            self.wrapped = Some(false);
                            if !self.form.is_empty() {
                                return Ok(self.done());
                            }
                            continue;
                        }
                        return Err(self.error(format!("unbalanced '{c}'")));
                    }
                    self.depth -= 1;
                    self.form.push(c);
                    if self.closers.pop() != Some(c) {
                        // Mismatched: the reader says what was expected, and where.
                        self.depth = base;
                        self.closers.clear();
                        return Ok(self.done());
                    }
                    if self.depth == base {
                        return Ok(self.done());
                    }
                }
                '"' => {
                    self.begin();
                    self.in_string = true;
                    self.form.push(c);
                }
                '\\' => {
                    self.begin();
                    self.char_literal = true;
                    self.form.push(c);
                }
                c => {
                    self.begin();
                    self.form.push(c);
                }
            }
        }
    }

    fn at_end(&mut self) -> Result<Option<Form<'_>>, EdnError> {
        if self.in_string {
            return Err(self.error("unexpected end of input inside a string"));
        }
        if self.depth > 0 {
            return Err(self.error("unexpected end of input: a collection is not closed"));
        }
        if self.form.is_empty() {
            return Ok(None);
        }
        Ok(self.done())
    }
}
