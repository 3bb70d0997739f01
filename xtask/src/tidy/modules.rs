//! Tidy's rules 2 and 3 on one member crate: its module tree (from each target root
//! through non-test `mod` declarations), import cycles among sibling modules, and the
//! size of every file under `src/`. The rules themselves are stated in `tidy`'s docs.

use super::scan::{parse, Parsed};
use super::{display, Report, Violation, MAX_LINES};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One file module of one crate target.
#[derive(Debug)]
struct Module {
    /// Path from the crate root (`[]` for lib.rs / main.rs).
    path: Vec<String>,
    file: PathBuf,
    parsed: Parsed,
}

pub(super) fn check_modules(root: &Path, dir: &Path, report: &mut Report) -> Result<(), String> {
    let src = root.join(dir).join("src");
    if !src.is_dir() {
        return Ok(());
    }
    let mut roots = Vec::new();
    for name in ["lib.rs", "main.rs"] {
        if src.join(name).is_file() {
            roots.push(src.join(name));
        }
    }
    if let Ok(entries) = std::fs::read_dir(src.join("bin")) {
        let mut bins: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "rs"))
            .collect();
        bins.sort();
        roots.extend(bins);
    }
    let mut test_files = BTreeSet::new();
    for r in &roots {
        let modules = load_crate(r, &mut test_files)?;
        check_cycles(root, &modules, report);
    }
    // File sizes: every file under src/, except test modules.
    let mut files = Vec::new();
    walk_rs(&src, &mut files);
    files.sort();
    for f in files {
        if test_files.contains(&f) {
            continue;
        }
        let text =
            std::fs::read_to_string(&f).map_err(|e| format!("cannot read {}: {e}", f.display()))?;
        let parsed = parse(&text);
        if parsed.whole_file_test {
            continue;
        }
        let lines = text.lines().count().saturating_sub(parsed.test_lines);
        if lines > MAX_LINES {
            report.violations.push(Violation {
                file: rel(root, &f),
                what: format!("{lines} lines outside #[cfg(test)] (limit {MAX_LINES})"),
                fix: "split it into modules that each own one thing (shared types in a leaf \
                      module, re-exported where the API needs them)"
                    .into(),
            });
        }
    }
    Ok(())
}

pub(super) fn rel(root: &Path, p: &Path) -> String {
    display(p.strip_prefix(root).unwrap_or(p))
}

fn walk_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            walk_rs(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// Loads the file modules reachable from one crate root through non-test `mod x;`.
fn load_crate(root_file: &Path, test_files: &mut BTreeSet<PathBuf>) -> Result<Vec<Module>, String> {
    let mut modules = Vec::new();
    let mut queue = vec![(Vec::new(), root_file.to_path_buf(), true)];
    while let Some((path, file, is_root)) = queue.pop() {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let parsed = parse(&text);
        if parsed.whole_file_test {
            test_files.insert(file.clone());
            continue;
        }
        // Children of lib.rs, main.rs and mod.rs sit beside them; of a.rs, in a/.
        let base = if is_root || file.file_name().is_some_and(|n| n == "mod.rs") {
            file.parent().map(Path::to_path_buf).unwrap_or_default()
        } else {
            file.with_extension("")
        };
        for decl in &parsed.mods {
            let mut dir = base.clone();
            for inline in &decl.inline {
                dir.push(inline);
            }
            let candidates = match &decl.path_attr {
                Some(p) => vec![file.parent().unwrap_or(Path::new(".")).join(p)],
                None => vec![
                    dir.join(format!("{}.rs", decl.name)),
                    dir.join(&decl.name).join("mod.rs"),
                ],
            };
            let Some(child) = candidates.into_iter().find(|c| c.is_file()) else {
                continue;
            };
            if decl.test {
                test_files.insert(child.clone());
                mark_test_tree(&child, test_files);
                continue;
            }
            let mut child_path = path.clone();
            child_path.extend(decl.inline.iter().cloned());
            child_path.push(decl.name.clone());
            queue.push((child_path, child, false));
        }
        modules.push(Module { path, file, parsed });
    }
    modules.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(modules)
}

/// A test module's own children are test code too.
fn mark_test_tree(file: &Path, test_files: &mut BTreeSet<PathBuf>) {
    let dir = if file.file_name().is_some_and(|n| n == "mod.rs") {
        file.parent().map(Path::to_path_buf)
    } else {
        Some(file.with_extension(""))
    };
    if let Some(dir) = dir {
        let mut files = Vec::new();
        walk_rs(&dir, &mut files);
        test_files.extend(files);
    }
}

/// The crate's module tree for resolving paths: file modules and the inline modules
/// inside them (each mapped to its file).
struct Tree<'a> {
    modules: &'a [Module],
    /// Module path (file or inline) → index of its file module.
    owner: BTreeMap<Vec<String>, usize>,
}

impl<'a> Tree<'a> {
    fn new(modules: &'a [Module]) -> Self {
        let mut owner = BTreeMap::new();
        for (i, m) in modules.iter().enumerate() {
            owner.insert(m.path.clone(), i);
            for inline in &m.parsed.inline_mods {
                let mut p = m.path.clone();
                p.extend(inline.iter().cloned());
                owner.entry(p).or_insert(i);
            }
        }
        Tree { modules, owner }
    }

    /// The file module defining what absolute path `segs` names, following re-exports.
    fn resolve(&self, segs: &[String], depth: u32) -> Option<usize> {
        // Longest prefix that is a module.
        let mut n = segs.len();
        while n > 0 && !self.owner.contains_key(&segs[..n]) {
            n -= 1;
        }
        let module_path = &segs[..n];
        let file = *self.owner.get(module_path)?;
        let Some(item) = segs.get(n) else {
            return Some(file);
        };
        if depth > 8 {
            return Some(file);
        }
        let m = &self.modules[file];
        let inline = &module_path[m.path.len()..];
        // An import of that name (a re-export, or a private `use` a descendant sees
        // through `super::`): where it points to.
        for r in &m.parsed.imports {
            if r.scope == inline && r.name == *item {
                let mut target = absolute(module_path, &r.path, self)?;
                target.extend(segs[n + 1..].iter().cloned());
                return self.resolve(&target, depth + 1).or(Some(file));
            }
        }
        let defined = m
            .parsed
            .items
            .iter()
            .any(|(scope, name)| scope == inline && name == item);
        if !defined {
            for r in &m.parsed.imports {
                if r.scope == inline && r.name == "*" {
                    let mut target = absolute(module_path, &r.path, self)?;
                    target.push(item.clone());
                    target.extend(segs[n + 1..].iter().cloned());
                    if let Some(found) = self.resolve(&target, depth + 1) {
                        if found != file {
                            return Some(found);
                        }
                    }
                }
            }
        }
        Some(file)
    }
}

/// Makes a path written in module `here` absolute (from the crate root), or `None` when it
/// names something outside the crate.
fn absolute(here: &[String], path: &[String], tree: &Tree) -> Option<Vec<String>> {
    let first = path.first()?;
    let mut out: Vec<String>;
    let mut rest = &path[1..];
    match first.as_str() {
        "crate" => out = Vec::new(),
        "self" => out = here.to_vec(),
        "super" => {
            out = here.to_vec();
            out.pop()?;
            while rest.first().is_some_and(|s| s == "super") {
                out.pop()?;
                rest = &rest[1..];
            }
        }
        _ => {
            // A child module of `here` (2018 paths); anything else is another crate.
            let mut child = here.to_vec();
            child.push(first.clone());
            if !tree.owner.contains_key(&child) {
                return None;
            }
            out = here.to_vec();
            rest = path;
        }
    }
    out.extend(rest.iter().filter(|s| *s != "self").cloned());
    Some(out)
}

fn is_ancestor(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && b[..a.len()] == *a
}

fn check_cycles(root: &Path, modules: &[Module], report: &mut Report) {
    let tree = Tree::new(modules);
    // Sibling arrows, per parent: parent path → (from child → to child → evidence).
    type Arrows = BTreeMap<String, BTreeMap<String, String>>;
    let mut levels: BTreeMap<Vec<String>, Arrows> = BTreeMap::new();
    for m in modules {
        for r in &m.parsed.refs {
            let mut here = m.path.clone();
            here.extend(r.scope.iter().cloned());
            let Some(abs) = absolute(&here, &r.path, &tree) else {
                continue;
            };
            let Some(to) = tree.resolve(&abs, 0) else {
                continue;
            };
            let to = &modules[to].path;
            let from = &m.path;
            if is_ancestor(from, to) || is_ancestor(to, from) {
                continue;
            }
            let common = from.iter().zip(to).take_while(|(a, b)| a == b).count();
            let evidence = format!("{}:{} `{}`", rel(root, &m.file), r.line, r.path.join("::"));
            levels
                .entry(from[..common].to_vec())
                .or_default()
                .entry(from[common].clone())
                .or_default()
                .entry(to[common].clone())
                .or_insert(evidence);
        }
    }
    for (parent, arrows) in &levels {
        for circle in circles(arrows) {
            let mut first = parent.clone();
            first.push(circle[0].clone());
            let file = tree
                .owner
                .get(&first)
                .or_else(|| tree.owner.get(parent))
                .map(|&i| rel(root, &modules[i].file))
                .unwrap_or_default();
            let prefix = if parent.is_empty() {
                String::new()
            } else {
                format!("{}::", parent.join("::"))
            };
            let names: Vec<String> = circle.iter().map(|c| format!("{prefix}{c}")).collect();
            let mut evidence = Vec::new();
            for a in &circle {
                for (b, at) in &arrows[a] {
                    if circle.contains(b) {
                        evidence.push(format!("{a} → {b} at {at}"));
                    }
                }
            }
            let what = if names.len() == 2 {
                format!("import cycle {} ⇄ {}", names[0], names[1])
            } else {
                format!("import cycle among {}", names.join(", "))
            };
            report.cycles += 1;
            report.violations.push(Violation {
                file,
                what: format!("{what} ({})", evidence.join("; ")),
                fix: "move what the modules share into a leaf module they both import (or \
                      turn one arrow around), so the modules form a one-way graph"
                    .into(),
            });
        }
    }
}

/// The circles of a small directed graph: its strongly connected groups of two or more
/// nodes (Tarjan), each sorted, in the order of their smallest node. One circle per group:
/// a tangle of five modules is one thing to untie, however many loops run through it.
fn circles(arrows: &BTreeMap<String, BTreeMap<String, String>>) -> Vec<Vec<String>> {
    let mut nodes: BTreeSet<&str> = arrows.keys().map(String::as_str).collect();
    for to in arrows.values() {
        nodes.extend(to.keys().map(String::as_str));
    }
    let nodes: Vec<&str> = nodes.into_iter().collect();
    let index_of = |n: &str| nodes.iter().position(|m| *m == n).unwrap_or(0);
    let succ: Vec<Vec<usize>> = nodes
        .iter()
        .map(|n| {
            arrows
                .get(*n)
                .map(|to| to.keys().map(|t| index_of(t)).collect())
                .unwrap_or_default()
        })
        .collect();
    struct State {
        index: Vec<Option<usize>>,
        low: Vec<usize>,
        on_stack: Vec<bool>,
        stack: Vec<usize>,
        next: usize,
        groups: Vec<Vec<usize>>,
    }
    fn visit(v: usize, succ: &[Vec<usize>], s: &mut State) {
        s.index[v] = Some(s.next);
        s.low[v] = s.next;
        s.next += 1;
        s.stack.push(v);
        s.on_stack[v] = true;
        for &w in &succ[v] {
            match s.index[w] {
                None => {
                    visit(w, succ, s);
                    s.low[v] = s.low[v].min(s.low[w]);
                }
                Some(iw) if s.on_stack[w] => s.low[v] = s.low[v].min(iw),
                Some(_) => {}
            }
        }
        if Some(s.low[v]) == s.index[v] {
            let mut group = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack[w] = false;
                group.push(w);
                if w == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                s.groups.push(group);
            }
        }
    }
    let n = nodes.len();
    let mut s = State {
        index: vec![None; n],
        low: vec![0; n],
        on_stack: vec![false; n],
        stack: Vec::new(),
        next: 0,
        groups: Vec::new(),
    };
    for v in 0..n {
        if s.index[v].is_none() {
            visit(v, &succ, &mut s);
        }
    }
    s.groups.sort();
    s.groups
        .into_iter()
        .map(|g| g.into_iter().map(|i| nodes[i].to_string()).collect())
        .collect()
}
