//! A small Rust scanner for tidy: enough to find a file's `mod` declarations, the paths
//! it names (`use` trees, `crate::` / `super::` / `self::` paths in code), the items it
//! defines, and its `#[cfg(test)]` items (left out, and not counted toward the size
//! limit). Comments, strings, char literals and lifetimes are skipped.

#[derive(Debug, Default)]
pub(super) struct Parsed {
    pub(super) mods: Vec<ModDecl>,
    /// Inline (non-test) modules, as paths relative to the file.
    pub(super) inline_mods: Vec<Vec<String>>,
    /// Paths that may name something in the crate, with the inline scope they occur in.
    pub(super) refs: Vec<PathRef>,
    /// `use` declarations: what a name in this module stands for. Followed when a path
    /// goes through this module (`pub use` re-exports; private ones for descendants).
    pub(super) imports: Vec<Import>,
    /// Items defined here: (inline scope, name).
    pub(super) items: Vec<(Vec<String>, String)>,
    /// Lines spanned by `#[cfg(test)]` items.
    pub(super) test_lines: usize,
    /// `#![cfg(test)]`: the whole file is test code.
    pub(super) whole_file_test: bool,
}

#[derive(Debug)]
pub(super) struct ModDecl {
    pub(super) name: String,
    /// Inline modules the declaration sits in.
    pub(super) inline: Vec<String>,
    pub(super) test: bool,
    pub(super) path_attr: Option<String>,
}

#[derive(Debug)]
pub(super) struct PathRef {
    pub(super) scope: Vec<String>,
    pub(super) path: Vec<String>,
    pub(super) line: usize,
}

#[derive(Debug)]
pub(super) struct Import {
    pub(super) scope: Vec<String>,
    /// The name it is visible as (`*` for a glob).
    pub(super) name: String,
    pub(super) path: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub(super) enum Tok {
    Ident(String),
    Str(String),
    Punct(char),
    /// `::`
    PathSep,
}

fn lex(text: &str) -> Vec<(Tok, usize)> {
    let chars: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let mut line = 1;
    let n = chars.len();
    while i < n {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c == '/' && chars.get(i + 1) == Some(&'/') {
            while i < n && chars[i] != '\n' {
                i += 1;
            }
        } else if c == '/' && chars.get(i + 1) == Some(&'*') {
            let mut depth = 0;
            while i < n {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if chars[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
        } else if c == '"' {
            let start_line = line;
            let (s, end) = string_lit(&chars, i + 1, &mut line);
            out.push((Tok::Str(s), start_line));
            i = end;
        } else if (c == 'r' || c == 'b') && raw_string_start(&chars, i).is_some() {
            let (hashes, body) = raw_string_start(&chars, i).unwrap_or((0, i));
            let start_line = line;
            let mut j = body;
            let mut s = String::new();
            while j < n {
                if chars[j] == '"' && (0..hashes).all(|h| chars.get(j + 1 + h) == Some(&'#')) {
                    j += 1 + hashes;
                    break;
                }
                if chars[j] == '\n' {
                    line += 1;
                }
                s.push(chars[j]);
                j += 1;
            }
            out.push((Tok::Str(s), start_line));
            i = j;
        } else if c == 'b' && chars.get(i + 1) == Some(&'"') {
            let start_line = line;
            let (s, end) = string_lit(&chars, i + 2, &mut line);
            out.push((Tok::Str(s), start_line));
            i = end;
        } else if c == '\'' || (c == 'b' && chars.get(i + 1) == Some(&'\'')) {
            let q = if c == 'b' { i + 1 } else { i };
            if chars.get(q + 1) == Some(&'\\') {
                // Escaped char literal.
                let mut j = q + 2;
                while j < n && chars[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if chars.get(q + 2) == Some(&'\'') {
                i = q + 3;
            } else {
                // A lifetime or label.
                let mut j = q + 1;
                while j < n && (chars[j].is_alphanumeric() || chars[j] == '_') {
                    j += 1;
                }
                i = j.max(q + 1);
            }
        } else if c.is_alphabetic() || c == '_' {
            let mut j = i;
            while j < n && (chars[j].is_alphanumeric() || chars[j] == '_') {
                j += 1;
            }
            let mut word: String = chars[i..j].iter().collect();
            if word == "r" && chars.get(j) == Some(&'#') {
                // Raw identifier r#name.
                let mut k = j + 1;
                while k < n && (chars[k].is_alphanumeric() || chars[k] == '_') {
                    k += 1;
                }
                word = chars[j + 1..k].iter().collect();
                j = k;
            }
            out.push((Tok::Ident(word), line));
            i = j;
        } else if c.is_ascii_digit() {
            while i < n && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((Tok::PathSep, line));
            i += 2;
        } else {
            out.push((Tok::Punct(c), line));
            i += 1;
        }
    }
    out
}

/// From just after the opening quote: the literal's text and the index after its end.
fn string_lit(chars: &[char], mut j: usize, line: &mut usize) -> (String, usize) {
    let mut s = String::new();
    while j < chars.len() {
        match chars[j] {
            '\\' => {
                if let Some(&c) = chars.get(j + 1) {
                    if c == '\n' {
                        *line += 1;
                    }
                    s.push(c);
                }
                j += 2;
            }
            '"' => return (s, j + 1),
            c => {
                if c == '\n' {
                    *line += 1;
                }
                s.push(c);
                j += 1;
            }
        }
    }
    (s, j)
}

/// `r"`, `r#"`, `br"`, `br#"` at `i`: the number of hashes and where the body starts.
fn raw_string_start(chars: &[char], i: usize) -> Option<(usize, usize)> {
    if i > 0 && (chars[i - 1].is_alphanumeric() || chars[i - 1] == '_') {
        return None;
    }
    let mut j = i;
    if chars.get(j) == Some(&'b') {
        j += 1;
    }
    if chars.get(j) != Some(&'r') {
        return None;
    }
    j += 1;
    let mut hashes = 0;
    while chars.get(j) == Some(&'#') {
        hashes += 1;
        j += 1;
    }
    (chars.get(j) == Some(&'"')).then_some((hashes, j + 1))
}

fn ident(t: Option<&(Tok, usize)>) -> Option<&str> {
    match t {
        Some((Tok::Ident(s), _)) => Some(s),
        _ => None,
    }
}

fn punct(t: Option<&(Tok, usize)>, c: char) -> bool {
    matches!(t, Some((Tok::Punct(p), _)) if *p == c)
}

/// Index of the token closing the group opened at `open` (`(`, `[` or `{`).
fn close_of(toks: &[(Tok, usize)], open: usize) -> usize {
    let mut depth = 0i32;
    for (k, (t, _)) in toks.iter().enumerate().skip(open) {
        match t {
            Tok::Punct('(' | '[' | '{') => depth += 1,
            Tok::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return k;
                }
            }
            _ => {}
        }
    }
    toks.len().saturating_sub(1)
}

/// End of the item starting at `i`: its `;` or the `}` closing its first brace group.
fn item_end(toks: &[(Tok, usize)], i: usize) -> usize {
    let mut k = i;
    while k < toks.len() {
        match &toks[k].0 {
            Tok::Punct(';') => return k,
            Tok::Punct('{') => return close_of(toks, k),
            Tok::Punct('(' | '[') => k = close_of(toks, k) + 1,
            _ => k += 1,
        }
    }
    toks.len().saturating_sub(1)
}

fn is_cfg_test(attr: &[(Tok, usize)]) -> bool {
    let words: Vec<&str> = attr
        .iter()
        .filter_map(|(t, _)| match t {
            Tok::Ident(s) => Some(s.as_str()),
            _ => None,
        })
        .collect();
    // `cfg(test)` and `cfg(all(test, …))`; never `cfg(not(test))`.
    matches!(words.as_slice(), ["cfg", "test"])
        || (words.len() > 2 && words[0] == "cfg" && words[1] == "all" && words[2] == "test")
}

pub(super) fn parse(text: &str) -> Parsed {
    let toks = lex(text);
    let mut p = Parsed::default();
    // Inline module scopes: (name, index of its closing brace).
    let mut scopes: Vec<(String, usize)> = Vec::new();
    let mut pending_test = false;
    let mut pending_path: Option<String> = None;
    let mut test_start = 0usize;
    let mut i = 0;
    while i < toks.len() {
        while scopes.last().is_some_and(|(_, end)| i > *end) {
            scopes.pop();
        }
        let scope: Vec<String> = scopes.iter().map(|(n, _)| n.clone()).collect();
        let tok = &toks[i];
        // Attributes.
        if punct(Some(tok), '#') {
            let inner = punct(toks.get(i + 1), '!');
            let open = if inner { i + 2 } else { i + 1 };
            if punct(toks.get(open), '[') {
                let close = close_of(&toks, open);
                let attr = &toks[open + 1..close];
                if is_cfg_test(attr) {
                    if inner && scopes.is_empty() {
                        p.whole_file_test = true;
                        return p;
                    }
                    if !pending_test {
                        pending_test = true;
                        // The item's span starts at its first attribute.
                        test_start = tok.1;
                    }
                }
                if ident(attr.first()) == Some("path") {
                    if let Some((Tok::Str(s), _)) = attr.get(2) {
                        pending_path = Some(s.clone());
                    }
                }
                i = close + 1;
                continue;
            }
        }
        if pending_test {
            let end = item_end(&toks, i);
            if ident(Some(tok)) == Some("mod")
                || (ident(Some(tok)) == Some("pub") && item_is_mod(&toks, i))
            {
                if let Some(name) = mod_name(&toks, i) {
                    if punct(toks.get(end), ';') {
                        p.mods.push(ModDecl {
                            name,
                            inline: scope.clone(),
                            test: true,
                            path_attr: pending_path.take(),
                        });
                    }
                }
            }
            let end_line = toks[end].1;
            p.test_lines += (end_line + 1).saturating_sub(test_start);
            pending_test = false;
            pending_path = None;
            i = end + 1;
            continue;
        }
        match tok {
            (Tok::Ident(w), _) if w == "pub" && punct(toks.get(i + 1), '(') => {
                // `pub(crate)`, `pub(super)`, `pub(in path)`: visibility, not a path.
                let close = close_of(&toks, i + 1);
                if ident(toks.get(close + 1)) == Some("use") {
                    i = parse_use(&toks, close + 2, &scope, &mut p);
                } else {
                    i = close + 1;
                }
                continue;
            }
            (Tok::Ident(w), _) if w == "pub" && ident(toks.get(i + 1)) == Some("use") => {
                i = parse_use(&toks, i + 2, &scope, &mut p);
                continue;
            }
            (Tok::Ident(w), _) if w == "use" => {
                i = parse_use(&toks, i + 1, &scope, &mut p);
                continue;
            }
            (Tok::Ident(w), _) if w == "mod" => {
                if let Some(name) = ident(toks.get(i + 1)).map(str::to_string) {
                    if punct(toks.get(i + 2), ';') {
                        p.mods.push(ModDecl {
                            name: name.clone(),
                            inline: scope.clone(),
                            test: false,
                            path_attr: pending_path.take(),
                        });
                        p.items.push((scope.clone(), name));
                        i += 3;
                        continue;
                    }
                    if punct(toks.get(i + 2), '{') {
                        let close = close_of(&toks, i + 2);
                        let mut inline = scope.clone();
                        inline.push(name.clone());
                        p.inline_mods.push(inline);
                        p.items.push((scope.clone(), name.clone()));
                        scopes.push((name, close));
                        i += 3;
                        continue;
                    }
                }
            }
            (Tok::Ident(w), _)
                if matches!(
                    w.as_str(),
                    "fn" | "struct" | "enum" | "trait" | "type" | "const" | "static" | "union"
                ) =>
            {
                if let Some(name) = ident(toks.get(i + 1)) {
                    p.items.push((scope.clone(), name.to_string()));
                }
            }
            (Tok::Ident(w), _) if w == "macro_rules" && punct(toks.get(i + 1), '!') => {
                if let Some(name) = ident(toks.get(i + 2)) {
                    p.items.push((scope.clone(), name.to_string()));
                }
            }
            (Tok::Ident(w), line)
                if matches!(w.as_str(), "crate" | "super" | "self")
                    && matches!(toks.get(i + 1), Some((Tok::PathSep, _)))
                    && !punct(i.checked_sub(1).and_then(|k| toks.get(k)), '$')
                    && !matches!(
                        i.checked_sub(1).and_then(|k| toks.get(k)),
                        Some((Tok::PathSep, _))
                    ) =>
            {
                let mut path = vec![w.clone()];
                let mut k = i + 1;
                while matches!(toks.get(k), Some((Tok::PathSep, _))) {
                    match ident(toks.get(k + 1)) {
                        Some(seg) => {
                            path.push(seg.to_string());
                            k += 2;
                        }
                        None => break,
                    }
                }
                p.refs.push(PathRef {
                    scope: scope.clone(),
                    path,
                    line: *line,
                });
                i = k;
                continue;
            }
            _ => {}
        }
        i += 1;
    }
    p
}

fn item_is_mod(toks: &[(Tok, usize)], i: usize) -> bool {
    let mut k = i + 1;
    if punct(toks.get(k), '(') {
        k = close_of(toks, k) + 1;
    }
    ident(toks.get(k)) == Some("mod")
}

fn mod_name(toks: &[(Tok, usize)], i: usize) -> Option<String> {
    let mut k = i;
    while k < toks.len() && ident(toks.get(k)) != Some("mod") {
        k += 1;
    }
    ident(toks.get(k + 1)).map(str::to_string)
}

/// Parses a use tree from `i` (just after `use`) to its `;`; returns the index after it.
fn parse_use(toks: &[(Tok, usize)], i: usize, scope: &[String], p: &mut Parsed) -> usize {
    // A use declaration always ends at its `;` (its braces are groups, not a body).
    let end = (i..toks.len())
        .find(|&k| punct(toks.get(k), ';'))
        .unwrap_or(toks.len());
    let mut leaves = Vec::new();
    use_tree(&toks[i..end], &mut Vec::new(), &mut leaves);
    for (path, name, line) in leaves {
        if path.is_empty() {
            continue;
        }
        p.imports.push(Import {
            scope: scope.to_vec(),
            name,
            path: path.clone(),
        });
        p.refs.push(PathRef {
            scope: scope.to_vec(),
            path,
            line,
        });
    }
    end + 1
}

/// Expands a use tree into (full path, visible name, line); a glob's path is its module.
fn use_tree(
    toks: &[(Tok, usize)],
    prefix: &mut Vec<String>,
    out: &mut Vec<(Vec<String>, String, usize)>,
) {
    let mut k = 0;
    let pushed = prefix.len();
    // A leading `::` names an external crate.
    if matches!(toks.first(), Some((Tok::PathSep, _))) {
        return;
    }
    loop {
        match toks.get(k) {
            Some((Tok::Ident(seg), line)) => {
                let line = *line;
                let seg = seg.clone();
                if matches!(toks.get(k + 1), Some((Tok::PathSep, _))) {
                    prefix.push(seg);
                    k += 2;
                    continue;
                }
                // A leaf, maybe renamed.
                let name = if ident(toks.get(k + 1)) == Some("as") {
                    ident(toks.get(k + 2)).unwrap_or(&seg).to_string()
                } else {
                    seg.clone()
                };
                let mut path = prefix.clone();
                if seg == "self" {
                    let name = if name == "self" {
                        path.last().cloned().unwrap_or_default()
                    } else {
                        name
                    };
                    out.push((path, name, line));
                } else {
                    path.push(seg);
                    out.push((path, name, line));
                }
                break;
            }
            Some((Tok::Punct('*'), line)) => {
                out.push((prefix.clone(), "*".into(), *line));
                break;
            }
            Some((Tok::Punct('{'), _)) => {
                let close = close_of(toks, k);
                // Split the group on top-level commas.
                let inner = &toks[k + 1..close];
                let mut start = 0;
                let mut depth = 0;
                for (j, (t, _)) in inner.iter().enumerate() {
                    match t {
                        Tok::Punct('{') => depth += 1,
                        Tok::Punct('}') => depth -= 1,
                        Tok::Punct(',') if depth == 0 => {
                            use_tree(&inner[start..j], prefix, out);
                            start = j + 1;
                        }
                        _ => {}
                    }
                }
                if start < inner.len() {
                    use_tree(&inner[start..], prefix, out);
                }
                break;
            }
            _ => break,
        }
    }
    prefix.truncate(pushed);
}
