//! Located errors: `file:line:col: message` for bad scenario (and isolation test) input,
//! and strict TOML deserialisation that locates syntax and shape errors.

use std::fmt;
use std::ops::Range;

/// `file:line:col: message`, the one-line error for bad scenario input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub struct ScenarioError {
    pub file: String,
    pub line: usize,
    pub col: usize,
    pub message: String,
}

impl fmt::Display for ScenarioError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}:{}:{}: {}",
            self.file, self.line, self.col, self.message
        )
    }
}

/// Builds the error at a span of the file being parsed.
pub(crate) type At<'a> = &'a dyn Fn(Range<usize>, String) -> ScenarioError;

impl ScenarioError {
    /// The error at the start of `span` in `src`.
    pub fn at(src: &str, file: &str, span: Range<usize>, message: String) -> Self {
        let (line, col) = line_col(src, span.start);
        ScenarioError {
            file: file.to_string(),
            line,
            col,
            message,
        }
    }
}

/// Deserializes a TOML file strictly, locating any syntax or shape error.
pub(crate) fn from_toml<T: serde::de::DeserializeOwned>(
    src: &str,
    file: &str,
) -> Result<T, ScenarioError> {
    toml::from_str(src).map_err(|e| {
        ScenarioError::at(
            src,
            file,
            e.span().unwrap_or(0..0),
            explain_toml_error(e.message()),
        )
    })
}

/// serde's messages are precise but terse; add the fix where we know it.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim_end();
    if message.starts_with("unknown field") {
        format!("{message}; remove it or fix its spelling")
    } else if message.starts_with("invalid type") {
        format!("{message}; change the value to that type")
    } else if message.starts_with("missing field") {
        format!("{message}; add it")
    } else if message.starts_with("unknown variant") {
        format!("{message}; use one of the listed values")
    } else {
        message.to_string()
    }
}

/// 1-based line and column (in characters) of a byte offset.
pub fn line_col(src: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(src.len());
    let before = &src[..offset];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|p| p + 1).unwrap_or(0);
    (line, before[line_start..].chars().count() + 1)
}
