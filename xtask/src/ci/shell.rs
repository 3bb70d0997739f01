//! The commands a shell script in a CI template runs, as far as `ci-check` needs them:
//! simple commands split into words (quotes removed, `\` continuations joined, comments,
//! redirections and the shell's keywords dropped), and the `assay …` / `cargo …`
//! invocations among them with `$VAR` resolved from the template's environment.
//!
//! Not a shell: no heredocs, no recursion into `$(…)`, no arithmetic. What it does not
//! understand stays in the words verbatim, so a check either sees a plain argument or a
//! word with a `$` in it, which it leaves alone.

use std::collections::BTreeMap;

/// One word of a simple command, with its quotes removed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Word {
    pub text: String,
    /// Whether any part of it was quoted (an unquoted `$VAR` splits into several words).
    pub quoted: bool,
}

/// Splits `script` into simple commands: words between `;`, `&&`, `||`, `|`, `&`,
/// newlines and the grouping `( ) { }`.
pub fn simple_commands(script: &str) -> Vec<Vec<Word>> {
    let chars: Vec<char> = script.chars().collect();
    let mut commands = Vec::new();
    let mut words: Vec<Word> = Vec::new();
    let mut current = String::new();
    let mut in_word = false;
    let mut quoted = false;
    let mut i = 0;
    let end_word =
        |words: &mut Vec<Word>, current: &mut String, in_word: &mut bool, q: &mut bool| {
            if *in_word {
                words.push(Word {
                    text: std::mem::take(current),
                    quoted: *q,
                });
            }
            *in_word = false;
            *q = false;
        };
    while i < chars.len() {
        let c = chars[i];
        match c {
            '\\' if chars.get(i + 1) == Some(&'\n') => i += 2,
            '\\' => {
                if let Some(&next) = chars.get(i + 1) {
                    current.push(next);
                }
                in_word = true;
                i += 2;
            }
            '\'' => {
                in_word = true;
                quoted = true;
                i += 1;
                while i < chars.len() && chars[i] != '\'' {
                    current.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '"' => {
                in_word = true;
                quoted = true;
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    if chars[i] == '\\' && matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`'))
                    {
                        i += 1;
                    }
                    current.push(chars[i]);
                    i += 1;
                }
                i += 1;
            }
            '$' if chars.get(i + 1) == Some(&'(') => {
                // `$(…)` stays one word: balanced parentheses, quotes not tracked inside.
                in_word = true;
                let mut depth = 0;
                while i < chars.len() {
                    current.push(chars[i]);
                    match chars[i] {
                        '(' => depth += 1,
                        ')' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                    i += 1;
                }
                i += 1;
            }
            '#' if !in_word => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            ' ' | '\t' => {
                end_word(&mut words, &mut current, &mut in_word, &mut quoted);
                i += 1;
            }
            '&' if in_word && (current.ends_with('>') || current.ends_with('<')) => {
                // `>&2`, `2>&1`: part of a redirection, not an operator.
                current.push(c);
                i += 1;
            }
            '\n' | ';' | '&' | '|' | '(' | ')' => {
                end_word(&mut words, &mut current, &mut in_word, &mut quoted);
                if !words.is_empty() {
                    commands.push(std::mem::take(&mut words));
                }
                i += 1;
            }
            _ => {
                current.push(c);
                in_word = true;
                i += 1;
            }
        }
    }
    end_word(&mut words, &mut current, &mut in_word, &mut quoted);
    if !words.is_empty() {
        commands.push(words);
    }
    commands
        .into_iter()
        .map(strip_syntax)
        .filter(|w| !w.is_empty())
        .collect()
}

/// Drops what is syntax rather than the command: leading keywords and `{ }` / `!`, and
/// redirections with their targets.
fn strip_syntax(words: Vec<Word>) -> Vec<Word> {
    const KEYWORDS: &[&str] = &[
        "if", "then", "else", "elif", "do", "while", "until", "!", "{", "}",
    ];
    let mut out = Vec::new();
    let mut skip_next = false;
    for w in words {
        if skip_next {
            skip_next = false;
            continue;
        }
        if out.is_empty() && !w.quoted && KEYWORDS.contains(&w.text.as_str()) {
            continue;
        }
        if !w.quoted && w.text == "}" {
            continue;
        }
        if !w.quoted {
            let t = w.text.trim_start_matches(|c: char| c.is_ascii_digit());
            if t.starts_with('>') || t.starts_with('<') {
                // `>`, `>>`, `2>` take the next word; `>/dev/null`, `>&2` carry their own.
                skip_next = t.trim_start_matches(['>', '<', '&']).is_empty();
                continue;
            }
        }
        out.push(w);
    }
    // `fi`, `done`, `esac` alone end a compound command.
    if out.len() == 1 && matches!(out[0].text.as_str(), "fi" | "done" | "esac") && !out[0].quoted {
        out.clear();
    }
    out
}

/// What a simple command runs, when it is one the checks know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Invocation {
    /// `assay ARGS` (also `target/debug/assay`, `sudo …/assay`, `exec assay`).
    Assay(Vec<String>),
    /// `cargo xtask ARGS`.
    Xtask(Vec<String>),
    /// `cargo SUBCOMMAND ARGS` for the other subcommands.
    Cargo(Vec<String>),
}

/// Whether `word` runs the `assay` binary.
pub fn is_assay(word: &str) -> bool {
    word == "assay" || word.ends_with("/assay")
}

/// The invocations in `script`; `$NAME` and `${NAME}` words are resolved from `env`
/// (an unquoted one splits on whitespace, as the shell does). A word that still holds a
/// `$` is kept as it is.
pub fn invocations(script: &str, env: &BTreeMap<String, String>) -> Vec<Invocation> {
    let mut out = Vec::new();
    for words in simple_commands(script) {
        let words = resolve(&words, env);
        // Leading assignments and wrappers that run the next word as the command.
        let mut i = 0;
        while i < words.len() {
            let w = words[i].as_str();
            let assignment = w.split_once('=').is_some_and(|(k, _)| {
                !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
            });
            if assignment
                || matches!(w, "sudo" | "exec" | "env" | "time" | "command")
                || w.starts_with('$')
            {
                i += 1;
            } else {
                break;
            }
        }
        let Some(program) = words.get(i) else {
            continue;
        };
        let args: Vec<String> = words[i + 1..].to_vec();
        if is_assay(program) {
            out.push(Invocation::Assay(args));
        } else if program == "cargo" {
            match args.first().map(String::as_str) {
                Some("xtask") => out.push(Invocation::Xtask(args[1..].to_vec())),
                Some(_) => out.push(Invocation::Cargo(args)),
                None => {}
            }
        }
    }
    out
}

fn resolve(words: &[Word], env: &BTreeMap<String, String>) -> Vec<String> {
    let mut out = Vec::new();
    for w in words {
        let name = w
            .text
            .strip_prefix("${")
            .and_then(|n| n.strip_suffix('}'))
            .or_else(|| w.text.strip_prefix('$'));
        match name.and_then(|n| env.get(n)) {
            Some(value) if w.quoted => out.push(value.clone()),
            Some(value) => out.extend(value.split_whitespace().map(str::to_string)),
            None => out.push(w.text.clone()),
        }
    }
    out
}

/// `$NAME` / `${NAME}` in `text` replaced from `lookup` (what a CI system does to its
/// variables' values); unknown names stay as they are.
pub fn expand(text: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let (name, len) = match after.strip_prefix('{') {
            Some(b) => match b.find('}') {
                Some(close) => (&b[..close], close + 2),
                None => ("", 0),
            },
            None => {
                let n = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..n], n)
            }
        };
        match (!name.is_empty()).then(|| lookup(name)).flatten() {
            Some(v) => out.push_str(&v),
            None => out.push_str(&rest[at..at + 1 + len]),
        }
        rest = &rest[at + 1 + len..];
    }
    out.push_str(rest);
    out
}
