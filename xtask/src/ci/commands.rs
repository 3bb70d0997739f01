//! Whether the commands a template names exist: every `assay SUB [SUBSUB] --flag` is
//! accepted by the built binary (its `--help` lists the subcommand and each flag), every
//! `--target` is a stand-in or a target of the `--targets` file given, every scenario path
//! exists; every `cargo xtask X` is an xtask command; every `cargo … -p CRATE` names a
//! workspace member.

use super::shell::Invocation;
use crate::tidy::Violation;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// What the checks ask the built `assay` and the workspace, asked once each.
pub struct Commands {
    root: PathBuf,
    assay: PathBuf,
    xtask_usage: String,
    members: Vec<String>,
    /// `assay ARGS --help` by ARGS: the help text, or why it failed.
    help: RefCell<BTreeMap<Vec<String>, Result<String, String>>>,
    standins: Vec<String>,
}

/// One place a command was found, for the violation's text.
pub struct Site<'a> {
    pub file: &'a str,
    pub at: &'a str,
}

impl Site<'_> {
    fn violation(&self, what: String, fix: impl Into<String>) -> Violation {
        Violation {
            file: self.file.to_string(),
            what: format!("{}: {what}", self.at),
            fix: fix.into(),
        }
    }
}

impl Commands {
    pub fn new(root: &Path, assay: &Path, xtask_usage: &str) -> Result<Commands, String> {
        let members = crate::tidy::members(root)?
            .into_iter()
            .map(|m| m.name)
            .collect();
        let out = Command::new(assay)
            .arg("targets")
            .current_dir(root)
            .output()
            .map_err(|e| format!("cannot run {} targets: {e}", assay.display()))?;
        // The stand-ins: the first column of the table, up to its first blank line.
        let standins = String::from_utf8_lossy(&out.stdout)
            .lines()
            .skip(1)
            .take_while(|l| !l.trim().is_empty())
            .filter(|l| !l.starts_with(' '))
            .filter_map(|l| l.split_whitespace().next().map(str::to_string))
            .collect::<Vec<_>>();
        if standins.is_empty() {
            return Err(format!("`{} targets` listed no stand-in", assay.display()));
        }
        Ok(Commands {
            root: root.to_path_buf(),
            assay: assay.to_path_buf(),
            xtask_usage: xtask_usage.to_string(),
            members,
            help: RefCell::default(),
            standins,
        })
    }

    fn help(&self, args: &[String]) -> Result<String, String> {
        let key = args.to_vec();
        if let Some(h) = self.help.borrow().get(&key) {
            return h.clone();
        }
        let out = Command::new(&self.assay)
            .args(args)
            .arg("--help")
            .current_dir(&self.root)
            .output();
        let h = match out {
            Ok(o) if o.status.success() => Ok(String::from_utf8_lossy(&o.stdout).into_owned()),
            Ok(o) => Err(String::from_utf8_lossy(&o.stderr)
                .lines()
                .next()
                .unwrap_or("failed")
                .to_string()),
            Err(e) => Err(e.to_string()),
        };
        self.help.borrow_mut().insert(key, h.clone());
        h
    }

    pub fn check(&self, inv: &Invocation, site: &Site<'_>) -> Vec<Violation> {
        match inv {
            Invocation::Assay(args) => self.check_assay(args, site),
            Invocation::Xtask(args) => self.check_xtask(args, site),
            Invocation::Cargo(args) => self.check_cargo(args, site),
        }
    }

    fn check_assay(&self, args: &[String], site: &Site<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut i = 0;
        let mut targets_file: Option<String> = None;
        // Options before the subcommand.
        while let Some(a) = args.get(i).filter(|a| a.starts_with('-')) {
            match a.as_str() {
                "--targets" => {
                    targets_file = args.get(i + 1).cloned();
                    i += 2;
                }
                "-h" | "--help" | "-V" | "--version" => return out,
                other => {
                    out.push(site.violation(
                        format!("`assay {other}`: not an option before the subcommand"),
                        "see `assay --help`",
                    ));
                    return out;
                }
            }
        }
        let Some(sub) = args.get(i) else {
            return out;
        };
        let mut path = vec![sub.clone()];
        let help = match self.help(&path) {
            Ok(h) => h,
            Err(e) => {
                out.push(site.violation(
                    format!("`assay {sub}`: not an assay subcommand ({e})"),
                    "see `assay --help` for the subcommands",
                ));
                return out;
            }
        };
        i += 1;
        let help = if help.contains("\nCommands:\n") {
            match args.get(i) {
                Some(next) if !next.starts_with('-') => {
                    path.push(next.clone());
                    i += 1;
                    match self.help(&path) {
                        Ok(h) => h,
                        Err(e) => {
                            out.push(site.violation(
                                format!(
                                    "`assay {sub} {next}`: not a subcommand of `assay {sub}` ({e})"
                                ),
                                format!("see `assay {sub} --help`"),
                            ));
                            return out;
                        }
                    }
                }
                _ => help,
            }
        } else {
            help
        };
        let shown = format!("assay {}", path.join(" "));
        let mut positional = Vec::new();
        let mut targets = Vec::new();
        while i < args.len() {
            let a = &args[i];
            i += 1;
            if !a.starts_with('-') || a == "-" {
                positional.push(a.clone());
                continue;
            }
            let (flag, inline) = match a.split_once('=') {
                Some((f, v)) => (f, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            if flag.contains('$') {
                continue;
            }
            let Some(takes_value) = flag_in_help(&help, flag) else {
                out.push(site.violation(
                    format!("`{shown} {flag}`: the built assay does not accept {flag}"),
                    format!("see `{shown} --help`"),
                ));
                continue;
            };
            let value = if takes_value && inline.is_none() {
                i += 1;
                args.get(i - 1).cloned()
            } else {
                inline
            };
            match (flag, value) {
                ("--target" | "-t", Some(v)) => targets.push(v),
                ("--targets", Some(v)) => targets_file = Some(v),
                ("--shard", Some(v)) if !v.contains('$') => {
                    let ok = v
                        .split_once('/')
                        .is_some_and(|(a, b)| a.parse::<u32>().is_ok() && b.parse::<u32>().is_ok());
                    if !ok {
                        out.push(
                            site.violation(format!("`--shard {v}`"), "write INDEX/COUNT, e.g. 0/4"),
                        );
                    }
                }
                _ => {}
            }
        }
        if matches!(sub.as_str(), "run" | "validate") {
            for p in positional
                .iter()
                .filter(|p| !p.contains('$') && !p.contains('*'))
            {
                if !self.root.join(p).exists() {
                    out.push(site.violation(
                        format!("`{shown} {p}`: no such scenario file or directory"),
                        "name a path under scenarios/ that exists",
                    ));
                }
            }
        }
        let file_targets = targets_file
            .as_deref()
            .and_then(|f| self.file_targets(f, site, &mut out));
        for list in targets.iter().filter(|t| !t.contains('$')) {
            for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                let known = self.standins.iter().any(|s| s == name)
                    || file_targets
                        .as_ref()
                        .is_some_and(|t| t.iter().any(|f| f == name));
                if !known {
                    out.push(site.violation(
                        format!("`--target {name}`: neither a stand-in (`assay targets`) nor a target of the --targets file"),
                        "name a stand-in, or define it in the targets file (docs/targets.md)",
                    ));
                }
            }
        }
        out
    }

    /// The target names of a targets file (`[targets.NAME]`).
    fn file_targets(
        &self,
        file: &str,
        site: &Site<'_>,
        out: &mut Vec<Violation>,
    ) -> Option<Vec<String>> {
        if file.contains('$') {
            return None;
        }
        let path = self.root.join(file);
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|t| t.parse::<toml::Table>().map_err(|e| e.to_string()));
        match parsed {
            Ok(t) => Some(
                t.get("targets")
                    .and_then(|t| t.as_table())
                    .map(|t| t.keys().cloned().collect())
                    .unwrap_or_default(),
            ),
            Err(e) => {
                out.push(site.violation(
                    format!("--targets {file}: {e}"),
                    "name a targets file that exists and parses",
                ));
                None
            }
        }
    }

    fn check_xtask(&self, args: &[String], site: &Site<'_>) -> Vec<Violation> {
        let Some(sub) = args.first() else {
            return Vec::new();
        };
        if sub == "emulators" {
            let mut assay = vec!["emulators".to_string()];
            assay.extend(args[1..].iter().cloned());
            return self.check_assay(&assay, site);
        }
        let mut out = Vec::new();
        if !xtask_commands(&self.xtask_usage).contains(&sub.as_str()) {
            out.push(site.violation(
                format!("`cargo xtask {sub}`: no such xtask command"),
                "see `cargo xtask --help`",
            ));
            return out;
        }
        for a in args[1..].iter().filter(|a| a.starts_with("--")) {
            let flag = a.split('=').next().unwrap_or(a);
            if flag_in_help(&self.xtask_usage, flag).is_none() {
                out.push(site.violation(
                    format!("`cargo xtask {sub} {flag}`: xtask knows no {flag}"),
                    "see `cargo xtask --help`",
                ));
            }
        }
        out
    }

    fn check_cargo(&self, args: &[String], site: &Site<'_>) -> Vec<Violation> {
        let mut out = Vec::new();
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let package = match a.as_str() {
                "-p" | "--package" => it.next().cloned(),
                other => other.strip_prefix("--package=").map(str::to_string),
            };
            if let Some(p) = package.filter(|p| !p.contains('$')) {
                if !self.members.contains(&p) {
                    out.push(site.violation(
                        format!("`cargo … -p {p}`: no workspace member is called {p}"),
                        "name a crate of the workspace (Cargo.toml members)",
                    ));
                }
            }
        }
        out
    }
}

/// The commands `cargo xtask --help` lists: its lines `  NAME …` under "commands:".
pub fn xtask_commands(usage: &str) -> Vec<&str> {
    usage
        .lines()
        .skip_while(|l| !l.starts_with("commands:"))
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .collect()
}

/// Whether `flag` is in a help text as a whole word; `Some(true)` when its definition
/// shows it taking a value (clap's `--out <OUT>`, xtask's `[--suite default|…]`,
/// `[--scale N]`). The definition is the occurrence that starts a line (after `-t, ` or
/// `[`); a mention in prose only says the flag exists.
pub fn flag_in_help(help: &str, flag: &str) -> Option<bool> {
    let mut found = None;
    for line in help.lines() {
        let mut rest = line;
        let mut offset = 0;
        while let Some(at) = rest.find(flag) {
            let start = offset + at;
            let end = start + flag.len();
            let before = line[..start].chars().next_back();
            let after = line[end..].chars().next();
            let whole = before.is_none_or(|c| !(c.is_alphanumeric() || c == '-'))
                && after.is_none_or(|c| !(c.is_alphanumeric() || c == '-'));
            if whole {
                let lead = line[..start].trim();
                let defines = lead.is_empty()
                    || lead.ends_with('[')
                    || (lead.len() == 3 && lead.starts_with('-') && lead.ends_with(','));
                // `-t, --target <TARGETS>`: the short flag takes what the long one takes.
                let tail = match line[end..].strip_prefix(", --") {
                    Some(long) => long.find(' ').map_or("", |sp| &long[sp..]),
                    None => &line[end..],
                };
                let next = tail
                    .strip_prefix(' ')
                    .and_then(|t| t.split_whitespace().next());
                let value = tail.starts_with('=')
                    || next.is_some_and(|w| {
                        w.starts_with('<')
                            || w.contains('|')
                            || w.trim_end_matches(']')
                                .chars()
                                .all(|c| c.is_ascii_uppercase())
                    });
                if defines {
                    return Some(value);
                }
                found = Some(false);
            }
            offset = end;
            rest = &line[end..];
        }
    }
    found
}
