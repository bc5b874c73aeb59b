//! The layer rules of the architecture, checked on the source. Every `.rs`
//! file under `src/` is read; each `crate::…` path in its code (in a `use`,
//! grouped or over several lines, or inline, as in `crate::db::users::by_id`),
//! each `super::…` path that leaves its top-level module, and each
//! `actix_web` / `actix_session` path is an arrow from the file's top-level
//! module (`src/db/users.rs` → `db`). Comments and string literals are not
//! code and are skipped. `lib.rs` and `main.rs` are the crate root: exempt.
//!
//! The rules, from the bottom up:
//! - `domain` imports nothing of the crate; `db`, `metrics` and `mail` import
//!   only `domain`;
//! - `service` imports no `http`, `routes`, `console`, `cli`, `startup` or
//!   `jobs`, and no `actix_web` or `actix_session`;
//! - `http` imports no `routes`, `console`, `cli`, `startup` or `jobs`;
//! - `routes` and `console` import no `db`;
//! - and no cycle between top-level modules, whatever the modules.
//!
//! Then between files: each path is followed to the file that defines
//! what it names (through `use` names, `mod` declarations and `pub use`
//! re-exports), and
//! - no file imports one that imports it back, however far round: no
//!   circle between files anywhere in `src/`, but for a composition root's
//!   arrows down into its own folder (`COMPOSITION_ROOTS`);
//! - the service's capabilities stack `shared` < `tokens` < `sign_in` <
//!   `accounts`, each importing nothing of those above it (`FOLDER_RULES`).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Modules at the bottom, and the only crate modules each may import.
const BOTTOM: &[(&str, &[&str])] = &[
    ("domain", &[]),
    ("db", &["domain"]),
    ("metrics", &["domain"]),
    ("mail", &["domain"]),
];

/// Modules and what each must not import.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "service",
        &["http", "routes", "console", "cli", "startup", "jobs"],
    ),
    ("http", &["routes", "console", "cli", "startup", "jobs"]),
    ("routes", &["db"]),
    ("console", &["db"]),
];

/// Outside crates that a module must not use.
const FORBIDDEN_CRATES: &[(&str, &[&str])] = &[("service", &["actix_web", "actix_session"])];

/// The crate root's files: they wire everything, and are exempt.
const ROOT_FILES: &[&str] = &["lib.rs", "main.rs"];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Target {
    /// A top-level module of the crate (or a root item, if no such module).
    Module(String),
    /// An outside crate that the rules name.
    Crate(String),
}

#[derive(Debug, Clone)]
struct Arrow {
    file: String,
    line: usize,
    from: String,
    to: Target,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Ident(String),
    /// `::`
    PathSep,
    Punct(char),
}

/// The source with comments, string, byte-string and char literals blanked
/// out (newlines kept, so line numbers stay right).
fn strip(source: &str) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::with_capacity(source.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            // Block comments nest in Rust.
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if let Some(hashes) = raw_string_start(&chars, i) {
            // r"…", r#"…"#, br#"…"#: ends at `"` followed by as many `#`.
            let open = chars[i..].iter().position(|&c| c == '"').expect("quote") + i;
            for &c in &chars[i..=open] {
                out.push(blank(c));
            }
            i = open + 1;
            while i < chars.len() {
                if chars[i] == '"' && (1..=hashes).all(|k| chars.get(i + k) == Some(&'#')) {
                    for _ in 0..=hashes {
                        out.push(' ');
                    }
                    i += hashes + 1;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() && chars[i] != '"' {
                if chars[i] == '\\' {
                    out.push(' ');
                    i += 1;
                }
                if i < chars.len() {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
            out.push(' ');
            i += 1;
        } else if c == '\'' {
            // A char literal ('x', '\n', '\u{1F600}'), or else a lifetime.
            let end = if next == Some('\\') {
                chars[i + 2..]
                    .iter()
                    .position(|&c| c == '\'')
                    .map(|p| p + i + 2)
            } else if chars.get(i + 2) == Some(&'\'') {
                Some(i + 2)
            } else {
                None
            };
            match end {
                Some(end) => {
                    for &c in &chars[i..=end] {
                        out.push(blank(c));
                    }
                    i = end + 1;
                }
                None => {
                    out.push(c);
                    i += 1;
                }
            }
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// At a raw (byte) string's `r`: how many `#` it has.
fn raw_string_start(chars: &[char], i: usize) -> Option<usize> {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    if i > 0 && is_ident(chars[i - 1]) {
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
    let hashes = chars[j..].iter().take_while(|&&c| c == '#').count();
    (chars.get(j + hashes) == Some(&'"')).then_some(hashes)
}

/// Identifiers, `::` and single punctuation of stripped source, with lines.
fn tokens(stripped: &str) -> Vec<(usize, Token)> {
    let chars: Vec<char> = stripped.chars().collect();
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\n' {
            line += 1;
            i += 1;
        } else if c.is_whitespace() {
            i += 1;
        } else if c.is_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
            let ident: String = chars[start..i].iter().collect();
            out.push((line, Token::Ident(ident)));
        } else if c.is_ascii_digit() {
            while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_') {
                i += 1;
            }
        } else if c == ':' && chars.get(i + 1) == Some(&':') {
            out.push((line, Token::PathSep));
            i += 2;
        } else {
            out.push((line, Token::Punct(c)));
            i += 1;
        }
    }
    out
}

/// The module path of a file under `src/`: `db/users.rs` → `[db, users]`,
/// `db/mod.rs` → `[db]`, `lib.rs` → `[]`.
fn module_path(file: &str) -> Vec<String> {
    let file = file.trim_end_matches(".rs");
    let mut parts: Vec<String> = file.split('/').map(str::to_owned).collect();
    if ROOT_FILES.contains(&format!("{file}.rs").as_str()) {
        parts.clear();
    } else if parts.last().is_some_and(|last| last == "mod") {
        parts.pop();
    }
    parts
}

/// The first segment of each item of the group that starts at `tokens[open]`
/// (a `{`), with its line; `self` and globs are left out.
fn group_heads(tokens: &[(usize, Token)], open: usize) -> Vec<(usize, String)> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expect_head = true;
    for (line, token) in &tokens[open..] {
        match token {
            Token::Punct('{') => {
                depth += 1;
                if depth > 1 {
                    expect_head = false;
                }
            }
            Token::Punct('}') => {
                depth -= 1;
                if depth == 0 {
                    break;
                }
            }
            Token::Punct(',') if depth == 1 => expect_head = true,
            Token::Ident(ident) if depth == 1 && expect_head => {
                if ident != "self" {
                    heads.push((*line, ident.clone()));
                }
                expect_head = false;
            }
            _ if depth == 1 => expect_head = false,
            _ => {}
        }
    }
    heads
}

/// One walk over a file's tokens, shared by both checks: it knows the
/// module the code at hand is in, inline `mod name { … }` blocks included,
/// and what comes next.
struct Walk<'a> {
    tokens: &'a [(usize, Token)],
    file_path: Vec<String>,
    /// The inline modules around the code: (name, the brace depth it opened at).
    inline: Vec<(String, usize)>,
    depth: usize,
}

impl<'a> Walk<'a> {
    /// Calls `visit` with every token's index, but those it steps over: it
    /// answers how many tokens it read (0 counts as 1).
    fn run(
        file: &str,
        tokens: &'a [(usize, Token)],
        mut visit: impl FnMut(&Walk<'a>, usize) -> usize,
    ) {
        let mut walk = Walk {
            tokens,
            file_path: module_path(file),
            inline: Vec::new(),
            depth: 0,
        };
        let mut index = 0;
        while index < tokens.len() {
            let step = visit(&walk, index).max(1);
            // Stepped-over tokens are a path or a `use` tree: balanced
            // braces, no `mod`.
            walk.track(index);
            index += step;
        }
    }

    /// Follows braces and the inline modules they close.
    fn track(&mut self, index: usize) {
        match &self.tokens[index].1 {
            Token::Punct('{') => self.depth += 1,
            Token::Punct('}') => {
                self.depth = self.depth.saturating_sub(1);
                if self
                    .inline
                    .last()
                    .is_some_and(|(_, open)| *open == self.depth)
                {
                    self.inline.pop();
                }
            }
            Token::Ident(keyword) if keyword == "mod" => {
                if let (Some(Token::Ident(name)), Some(Token::Punct('{'))) =
                    (self.at(index, 1), self.at(index, 2))
                {
                    self.inline.push((name.clone(), self.depth));
                }
            }
            _ => {}
        }
    }

    /// The token `k` after `index`.
    fn at(&self, index: usize, k: usize) -> Option<&'a Token> {
        self.tokens.get(index + k).map(|(_, token)| token)
    }

    /// The token `k` before `index`.
    fn before(&self, index: usize, k: usize) -> Option<&'a Token> {
        index.checked_sub(k).map(|at| &self.tokens[at].1)
    }

    /// Whether the token at `index` follows `::` (the middle of a path).
    fn after_sep(&self, index: usize) -> bool {
        self.before(index, 1) == Some(&Token::PathSep)
    }

    /// The module path of the code at hand.
    fn here(&self) -> Vec<String> {
        let mut path = self.file_path.clone();
        path.extend(self.inline.iter().map(|(name, _)| name.clone()));
        path
    }
}

/// Every arrow out of one file. `file` is its path under `src/`.
fn arrows_of(file: &str, source: &str) -> Vec<Arrow> {
    let Some(from) = module_path(file).first().cloned() else {
        return Vec::new();
    };
    let tokens = tokens(&strip(source));
    let mut arrows = Vec::new();
    let arrow = |line: usize, to: Target| Arrow {
        file: file.to_owned(),
        line,
        from: from.clone(),
        to,
    };
    Walk::run(file, &tokens, |walk, index| {
        let at = |k: usize| walk.at(index, k);
        match &tokens[index].1 {
            Token::Ident(name) if name == "actix_web" || name == "actix_session" => {
                arrows.push(arrow(tokens[index].0, Target::Crate(name.clone())));
            }
            Token::Ident(start)
                if (start == "crate" || start == "super") && !walk.after_sep(index) =>
            {
                // Where the path starts, then the segments that follow it.
                let mut k = 0;
                if start == "super" {
                    let mut base = walk.here();
                    while at(k) == Some(&Token::Ident("super".into()))
                        && at(k + 1) == Some(&Token::PathSep)
                    {
                        base.pop();
                        k += 2;
                    }
                    if !base.is_empty() {
                        // Still inside the top-level module: no arrow.
                        return 1;
                    }
                } else if at(1) == Some(&Token::PathSep) {
                    k = 2;
                } else {
                    // `pub(crate)`, `$crate` without a path, and so on.
                    return 1;
                }
                match at(k) {
                    Some(Token::Ident(module)) => {
                        arrows.push(arrow(tokens[index + k].0, Target::Module(module.clone())));
                    }
                    Some(Token::Punct('{')) => {
                        for (line, module) in group_heads(&tokens, index + k) {
                            arrows.push(arrow(line, Target::Module(module)));
                        }
                    }
                    _ => {}
                }
            }
            _ => {}
        }
        1
    });
    arrows
}

/// Every broken rule and every cycle, one message each; empty when clean.
/// `files` are `(path under src/, source)`.
fn check(files: &[(String, String)]) -> Vec<String> {
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|(file, _)| module_path(file).first().cloned())
        .collect();
    let arrows: Vec<Arrow> = files
        .iter()
        .flat_map(|(file, source)| arrows_of(file, source))
        .filter(|arrow| match &arrow.to {
            Target::Module(to) => to != &arrow.from && modules.contains(to),
            Target::Crate(_) => true,
        })
        .collect();
    let mut problems: Vec<(&str, usize, String)> = Vec::new();
    for arrow in &arrows {
        let from = arrow.from.as_str();
        let rule = match &arrow.to {
            Target::Module(to) => {
                let bottom = BOTTOM.iter().find(|(module, _)| *module == from);
                let forbidden = FORBIDDEN.iter().find(|(module, _)| *module == from);
                match (bottom, forbidden) {
                    (Some((_, allowed)), _) if !allowed.contains(&to.as_str()) => {
                        Some(if allowed.is_empty() {
                            format!("`{from}` imports nothing of the crate")
                        } else {
                            format!("`{from}` imports only {}", names(allowed))
                        })
                    }
                    (_, Some((_, denied))) if denied.contains(&to.as_str()) => {
                        Some(format!("`{from}` imports no {}", names(denied)))
                    }
                    _ => None,
                }
                .map(|rule| (format!("crate::{to}"), rule))
            }
            Target::Crate(name) => FORBIDDEN_CRATES
                .iter()
                .find(|(module, denied)| *module == from && denied.contains(&name.as_str()))
                .map(|(_, denied)| {
                    (
                        format!("{name}::"),
                        format!("`{from}` uses no {}", names(denied)),
                    )
                }),
        };
        if let Some((what, rule)) = rule {
            let message = format!(
                "src/{}:{}: `{from}` uses {what}, but {rule}",
                arrow.file, arrow.line
            );
            problems.push((&arrow.file, arrow.line, message));
        }
    }
    problems.sort();
    let mut problems: Vec<String> = problems
        .into_iter()
        .map(|(_, _, message)| message)
        .collect();
    let graph = first_arrows(arrows.iter().filter_map(|arrow| match &arrow.to {
        Target::Module(to) => Some((arrow.from.as_str(), to.as_str(), arrow)),
        Target::Crate(_) => None,
    }));
    problems.extend(cycle_messages(&graph, "modules", |from, to, arrow| {
        format!("{from} → {to} (src/{}:{})", arrow.file, arrow.line)
    }));
    problems
}

/// The first arrow found from each node to each other one.
fn first_arrows<'a, A>(
    arrows: impl Iterator<Item = (&'a str, &'a str, A)>,
) -> BTreeMap<&'a str, BTreeMap<&'a str, A>> {
    let mut graph: BTreeMap<&str, BTreeMap<&str, A>> = BTreeMap::new();
    for (from, to, arrow) in arrows {
        graph.entry(from).or_default().entry(to).or_insert(arrow);
    }
    graph
}

/// One message per cycle of the graph, "cycle between {nodes}: …", with
/// each of its steps as `step` words it.
fn cycle_messages<'a, A>(
    graph: &BTreeMap<&'a str, BTreeMap<&'a str, A>>,
    nodes: &str,
    step: impl Fn(&str, &str, &A) -> String,
) -> Vec<String> {
    cycles(graph)
        .into_iter()
        .map(|cycle| {
            let steps: Vec<String> = cycle
                .windows(2)
                .map(|pair| step(pair[0], pair[1], &graph[pair[0]][pair[1]]))
                .collect();
            format!(
                "cycle between {nodes}: {}: {}",
                cycle.join(" → "),
                steps.join(", ")
            )
        })
        .collect()
}

fn names(modules: &[&str]) -> String {
    modules
        .iter()
        .map(|module| format!("`{module}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The cycles that a depth-first search meets, one per back arrow, each as
/// its modules with the first repeated at the end.
fn cycles<'a, A>(graph: &BTreeMap<&'a str, BTreeMap<&'a str, A>>) -> Vec<Vec<&'a str>> {
    fn visit<'a, A>(
        node: &'a str,
        graph: &BTreeMap<&'a str, BTreeMap<&'a str, A>>,
        stack: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
        found: &mut Vec<Vec<&'a str>>,
    ) {
        stack.push(node);
        for &next in graph
            .get(node)
            .map(|edges| edges.keys())
            .into_iter()
            .flatten()
        {
            if let Some(start) = stack.iter().position(|&on| on == next) {
                let mut cycle = stack[start..].to_vec();
                cycle.push(next);
                found.push(cycle);
            } else if !done.contains(next) {
                visit(next, graph, stack, done, found);
            }
        }
        stack.pop();
        done.insert(node);
    }
    let mut found = Vec::new();
    let mut done = BTreeSet::new();
    for &node in graph.keys() {
        if !done.contains(node) {
            visit(node, graph, &mut Vec::new(), &mut done, &mut found);
        }
    }
    found
}

/// Folders of `src/` and the folders each must not import from: the
/// capabilities of the service layer stack `shared` < `tokens` < `sign_in`
/// < `accounts`, each using only those below it.
const FOLDER_RULES: &[(&str, &[&str])] = &[
    (
        "service/shared/",
        &["service/tokens/", "service/sign_in/", "service/accounts/"],
    ),
    (
        "service/tokens/",
        &["service/sign_in/", "service/accounts/"],
    ),
    ("service/sign_in/", &["service/accounts/"]),
];

/// An arrow between two files of `src/`: `file` names something that
/// `to` defines.
#[derive(Debug, Clone)]
struct FileArrow {
    file: String,
    line: usize,
    to: String,
}

/// A path met in a file, with `crate`, `super` and `self` already made
/// absolute (`absolute`); else its first segment is a name the file
/// brought into scope (or an outside crate, which leads nowhere).
#[derive(Debug, Clone)]
struct Mention {
    line: usize,
    absolute: bool,
    segments: Vec<String>,
}

/// What one file names: the paths it mentions, and the names its `use`
/// items and `mod` declarations bring into scope (scopes are not told
/// apart: a name is the same wherever in the file it is brought in).
#[derive(Debug, Default)]
struct Names {
    mentions: Vec<Mention>,
    in_scope: BTreeMap<String, Mention>,
}

/// The leaves of the `use` tree that starts at `tokens[at]`, each with the
/// name it brings into scope (`None` for a glob); returns where it ends.
fn use_tree(
    tokens: &[(usize, Token)],
    mut at: usize,
    mut prefix: Vec<String>,
    leaves: &mut Vec<(usize, Option<String>, Vec<String>)>,
) -> usize {
    while let Some((line, token)) = tokens.get(at) {
        match token {
            Token::PathSep => at += 1,
            Token::Punct('*') => {
                leaves.push((*line, None, prefix));
                return at + 1;
            }
            Token::Punct('{') => {
                at += 1;
                while let Some((_, token)) = tokens.get(at) {
                    match token {
                        Token::Punct('}') => return at + 1,
                        Token::Punct(',') => at += 1,
                        _ => at = use_tree(tokens, at, prefix.clone(), leaves),
                    }
                }
                return at;
            }
            Token::Ident(segment) => {
                at += 1;
                if tokens.get(at).map(|(_, token)| token) == Some(&Token::PathSep) {
                    prefix.push(segment.clone());
                    continue;
                }
                let mut name = segment.clone();
                if segment != "self" {
                    prefix.push(segment.clone());
                } else if let Some(last) = prefix.last() {
                    name = last.clone();
                }
                if let (Some((_, Token::Ident(keyword))), Some((_, Token::Ident(alias)))) =
                    (tokens.get(at), tokens.get(at + 1))
                {
                    if keyword == "as" {
                        name = alias.clone();
                        at += 2;
                    }
                }
                leaves.push((*line, Some(name), prefix));
                return at;
            }
            _ => return at,
        }
    }
    at
}

/// Every path one file mentions, and every name it brings into scope.
fn names_of(file: &str, source: &str) -> Names {
    let tokens = tokens(&strip(source));
    let mut names = Names::default();
    // `crate`/`super`/`self` at the head of `segments`, made absolute.
    let absolute = |segments: &[String], here: Vec<String>| -> Option<Vec<String>> {
        let (mut base, mut rest) = match segments.first().map(String::as_str) {
            Some("crate") => (Vec::new(), &segments[1..]),
            Some("self") => (here, &segments[1..]),
            Some("super") => (here, segments),
            _ => return None,
        };
        while rest.first().is_some_and(|segment| segment == "super") {
            base.pop();
            rest = &rest[1..];
        }
        base.extend(rest.iter().cloned());
        Some(base)
    };
    let mention =
        |line: usize, segments: Vec<String>, here: Vec<String>| match absolute(&segments, here) {
            Some(segments) => Mention {
                line,
                absolute: true,
                segments,
            },
            None => Mention {
                line,
                absolute: false,
                segments,
            },
        };
    Walk::run(file, &tokens, |walk, index| {
        let (line, token) = &tokens[index];
        let at = |k: usize| walk.at(index, k);
        match token {
            Token::Ident(keyword) if keyword == "mod" => {
                if let Some(Token::Ident(name)) = at(1) {
                    let mut path = walk.here();
                    path.push(name.clone());
                    let declared = Mention {
                        line: *line,
                        absolute: true,
                        segments: path,
                    };
                    names.in_scope.insert(name.clone(), declared);
                }
                1
            }
            Token::Ident(keyword) if keyword == "use" && !walk.after_sep(index) => {
                // `pub use` (`pub(crate) use`, …) is a signpost: what goes
                // through it leads on to the file that defines the item, and
                // the signpost itself is no arrow.
                let before = |k: usize| walk.before(index, k);
                let is_pub = |token: Option<&Token>| token == Some(&Token::Ident("pub".into()));
                let signpost = is_pub(before(1))
                    || (before(1) == Some(&Token::Punct(')'))
                        && (2..8).any(|k| {
                            before(k) == Some(&Token::Punct('(')) && is_pub(before(k + 1))
                        }));
                let mut leaves = Vec::new();
                let end = use_tree(&tokens, index + 1, Vec::new(), &mut leaves);
                for (line, name, segments) in leaves {
                    let leaf = mention(line, segments, walk.here());
                    if let Some(name) = name {
                        names.in_scope.insert(name, leaf.clone());
                    }
                    if !signpost {
                        names.mentions.push(leaf);
                    }
                }
                end.saturating_sub(index)
            }
            Token::Ident(first) if !walk.after_sep(index) && at(1) == Some(&Token::PathSep) => {
                let mut segments = vec![first.clone()];
                let mut k = 1;
                while let (Some(Token::PathSep), Some(Token::Ident(next))) = (at(k), at(k + 1)) {
                    segments.push(next.clone());
                    k += 2;
                }
                names.mentions.push(mention(*line, segments, walk.here()));
                k
            }
            _ => 1,
        }
    });
    names
}

/// The file that defines what `segments` (absolute) names: the longest
/// leading run of segments that is a module, followed through the names
/// that module's file brings into scope (`pub use`, or a `use` its own
/// items name), so a re-export leads to the file that defines the item.
fn defining_file(
    segments: &[String],
    modules: &BTreeMap<Vec<String>, String>,
    names: &BTreeMap<String, Names>,
    hops: usize,
) -> Option<String> {
    let module = (0..=segments.len())
        .rev()
        .find(|&n| modules.contains_key(&segments[..n]))?;
    let file = &modules[&segments[..module]];
    if let (Some(item), true) = (segments.get(module), hops < 8) {
        if let Some(brought) = names[file].in_scope.get(item) {
            let mut further = resolve(file, brought, names, hops + 1)?;
            further.extend(segments[module + 1..].iter().cloned());
            if let Some(defining) = defining_file(&further, modules, names, hops + 1) {
                return Some(defining);
            }
        }
    }
    Some(file.clone())
}

/// The absolute path a mention in `file` stands for, if it is of the crate.
fn resolve(
    file: &str,
    mention: &Mention,
    names: &BTreeMap<String, Names>,
    hops: usize,
) -> Option<Vec<String>> {
    if mention.absolute {
        return Some(mention.segments.clone());
    }
    let (first, rest) = mention.segments.split_first()?;
    let brought = names[file].in_scope.get(first)?;
    if hops >= 8 {
        return None;
    }
    let mut path = resolve(file, brought, names, hops + 1)?;
    path.extend(rest.iter().cloned());
    Some(path)
}

/// Files that wire the folder they head: their arrows down into it are the
/// parent holding its children, not imports. `service/mod.rs`'s `Services`
/// names each capability's engine, and each capability takes `Services`;
/// `routes/mod.rs`'s URL map names each handler, and `docs.rs` serves the
/// OpenAPI document that the same map generates.
const COMPOSITION_ROOTS: &[&str] = &["service/mod.rs", "routes/mod.rs"];

/// Every arrow between two different files, but for a composition root's
/// arrows into its own folder.
fn file_arrows(files: &[(String, String)]) -> Vec<FileArrow> {
    let modules: BTreeMap<Vec<String>, String> = files
        .iter()
        .map(|(file, _)| (module_path(file), file.clone()))
        .collect();
    let names: BTreeMap<String, Names> = files
        .iter()
        .map(|(file, source)| (file.clone(), names_of(file, source)))
        .collect();
    let mut arrows = Vec::new();
    for (file, _) in files {
        let folder = file
            .strip_suffix("mod.rs")
            .filter(|_| COMPOSITION_ROOTS.contains(&file.as_str()));
        for mention in &names[file].mentions {
            let Some(path) = resolve(file, mention, &names, 0) else {
                continue;
            };
            let Some(to) = defining_file(&path, &modules, &names, 0) else {
                continue;
            };
            let parent_to_child = folder.is_some_and(|folder| to.starts_with(folder));
            if &to != file && !parent_to_child && !ROOT_FILES.contains(&file.as_str()) {
                arrows.push(FileArrow {
                    file: file.clone(),
                    line: mention.line,
                    to,
                });
            }
        }
    }
    arrows
}

/// The folder rules broken and the cycles between files, one message each.
fn check_files(files: &[(String, String)]) -> Vec<String> {
    let arrows = file_arrows(files);
    let mut problems: Vec<String> = Vec::new();
    for arrow in &arrows {
        for (folder, denied) in FOLDER_RULES {
            let broken = denied.iter().any(|denied| arrow.to.starts_with(*denied));
            if arrow.file.starts_with(folder) && broken {
                problems.push(format!(
                    "src/{}:{}: uses src/{}, but `{folder}` imports nothing of {}",
                    arrow.file,
                    arrow.line,
                    arrow.to,
                    names(denied)
                ));
            }
        }
    }
    // One message per rule broken on a line, though a line may name two items.
    problems.dedup();
    let graph = first_arrows(
        arrows
            .iter()
            .map(|arrow| (arrow.file.as_str(), arrow.to.as_str(), arrow)),
    );
    problems.extend(cycle_messages(&graph, "files", |_, _, arrow| {
        format!("src/{}:{} → src/{}", arrow.file, arrow.line, arrow.to)
    }));
    problems
}

fn read_tree(dir: &Path, root: &Path, files: &mut Vec<(String, String)>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| panic!("read {}: {error}", dir.display()))
        .map(|entry| entry.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(&path, root, files);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).expect("under src");
            let name = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let source = std::fs::read_to_string(&path).expect("read source");
            files.push((name, source));
        }
    }
}

#[test]
fn the_crate_keeps_its_layers_and_has_no_cycle_between_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    assert!(files.len() > 10, "found the sources in {}", src.display());
    let problems = check(&files);
    assert!(
        problems.is_empty(),
        "{} layer rule violation(s):\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn no_file_imports_one_that_imports_it_back_and_the_service_folders_stack() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    read_tree(&src, &src, &mut files);
    let problems = check_files(&files);
    assert!(
        problems.is_empty(),
        "{} problem(s) between files:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[cfg(test)]
mod checker {
    use super::*;

    fn fixture(files: &[(&str, &str)]) -> Vec<String> {
        let files: Vec<(String, String)> = files
            .iter()
            .map(|(name, source)| (name.to_string(), source.to_string()))
            .collect();
        check(&files)
    }

    fn targets(file: &str, source: &str) -> Vec<(usize, String)> {
        arrows_of(file, source)
            .into_iter()
            .map(|arrow| {
                let to = match arrow.to {
                    Target::Module(module) => module,
                    Target::Crate(name) => format!("extern {name}"),
                };
                (arrow.line, to)
            })
            .collect()
    }

    const CLEAN: &[(&str, &str)] = &[
        (
            "lib.rs",
            "pub mod db; pub mod domain; pub mod service; pub mod routes;\n",
        ),
        ("domain/mod.rs", "pub mod user;\nuse self::user::User;\n"),
        ("domain/user.rs", "pub struct User;\n"),
        (
            "db/mod.rs",
            "use crate::domain::user::User;\nuse super::db::x;\n",
        ),
        (
            "service/mod.rs",
            "use crate::{db, domain::user::User};\nuse tokio::task;\n",
        ),
        (
            "routes/mod.rs",
            "use crate::service;\nuse actix_web::web;\n",
        ),
    ];

    #[test]
    fn a_clean_graph_passes() {
        assert_eq!(fixture(CLEAN), Vec::<String>::new());
    }

    #[test]
    fn every_form_of_path_is_an_arrow() {
        let source = "use crate::db;\n\
                      use crate::{\n    domain::{a, b},\n    self,\n    mail as m,\n};\n\
                      fn f() { crate::metrics::count(); }\n\
                      #[arg(skip = crate :: startup::X)]\n\
                      pub(crate) fn g() {}\n\
                      macro_rules! m { () => { $crate::jobs::run() } }\n\
                      fn h() -> actix_web::HttpResponse { ::actix_session::x() }\n";
        assert_eq!(
            targets("service/login.rs", source),
            [
                (1, "db".to_owned()),
                (3, "domain".to_owned()),
                (5, "mail".to_owned()),
                (7, "metrics".to_owned()),
                (8, "startup".to_owned()),
                (10, "jobs".to_owned()),
                (11, "extern actix_web".to_owned()),
                (11, "extern actix_session".to_owned()),
            ]
        );
    }

    #[test]
    fn comments_and_strings_are_not_code() {
        let source = "//! Reads [`crate::db::users`].\n\
                      /// See crate::startup.\n\
                      /* crate::routes /* nested crate::cli */ crate::http */\n\
                      const A: &str = \"crate::db::x\";\n\
                      const B: &str = r#\"crate::console \"quoted\" \"#;\n\
                      const C: char = '\"'; const D: &str = \"crate::jobs\";\n\
                      fn f<'a>(x: &'a str) -> &'a str { x } // actix_web::web\n\
                      use crate::domain::X;\n";
        assert_eq!(targets("db/users.rs", source), [(8, "domain".to_owned())]);
        assert_eq!(
            fixture(&[("db/users.rs", source), ("domain/mod.rs", "")]),
            Vec::<String>::new()
        );
    }

    #[test]
    fn super_counts_only_when_it_leaves_the_module() {
        let source = "use super::schema::users;\n\
                      mod tests { use super::*; use super::super::startup::X; }\n";
        assert_eq!(targets("db/users.rs", source), []);
        let source = "use super::startup::SWEEP;\n\
                      mod tests { use super::*; use super::super::cli::Cli; }\n";
        assert_eq!(
            targets("config.rs", source),
            [(1, "startup".to_owned()), (2, "cli".to_owned())]
        );
    }

    #[test]
    fn a_forbidden_import_is_caught_with_file_line_and_rule() {
        let problems = fixture(&[
            ("domain/mod.rs", "\n\nuse crate::db::Pool;\n"),
            ("db/mod.rs", "use crate::metrics::Metrics;\n"),
            ("metrics.rs", ""),
            (
                "service/login.rs",
                "fn f() {\n  crate::routes::x();\n  actix_web::web::block(g);\n}\n",
            ),
            ("routes/mod.rs", ""),
            ("http/mod.rs", "use crate::{console::Page};\n"),
            ("console/mod.rs", "use crate::db::users;\n"),
        ]);
        assert_eq!(
            problems[..6],
            [
                "src/console/mod.rs:1: `console` uses crate::db, but `console` imports no `db`",
                "src/db/mod.rs:1: `db` uses crate::metrics, but `db` imports only `domain`",
                "src/domain/mod.rs:3: `domain` uses crate::db, but `domain` imports nothing of the crate",
                "src/http/mod.rs:1: `http` uses crate::console, but `http` imports no `routes`, `console`, `cli`, `startup`, `jobs`",
                "src/service/login.rs:2: `service` uses crate::routes, but `service` imports no `http`, `routes`, `console`, `cli`, `startup`, `jobs`",
                "src/service/login.rs:3: `service` uses actix_web::, but `service` uses no `actix_web`, `actix_session`",
            ]
        );
        // None of these arrows closes a cycle: nothing more to report.
        assert_eq!(problems.len(), 6, "{problems:#?}");
    }

    #[test]
    fn a_cycle_is_caught_and_shown() {
        let problems = fixture(&[
            ("config.rs", "use crate::startup::SWEEP_EVERY;\n"),
            ("startup.rs", "use crate::routes;\n"),
            ("routes/mod.rs", "\nuse crate::config::Settings;\n"),
        ]);
        assert_eq!(
            problems,
            [
                "cycle between modules: config → startup → routes → config: \
              config → startup (src/config.rs:1), startup → routes (src/startup.rs:1), \
              routes → config (src/routes/mod.rs:2)"
            ]
        );
    }

    #[test]
    fn self_arrows_and_the_crate_root_are_not_arrows() {
        assert_eq!(
            fixture(&[
                ("lib.rs", "use crate::db; use crate::startup;\n"),
                ("main.rs", "use multitoken::startup;\n"),
                (
                    "db/mod.rs",
                    "use crate::db::schema; use crate::MIGRATIONS;\n"
                ),
                ("db/schema.rs", "use crate::db::AnyConnection;\n"),
                ("startup.rs", "use crate::db;\n"),
            ]),
            Vec::<String>::new()
        );
    }

    fn files(files: &[(&str, &str)]) -> Vec<(String, String)> {
        files
            .iter()
            .map(|(name, source)| (name.to_string(), source.to_string()))
            .collect()
    }

    fn file_targets(tree: &[(&str, &str)], from: &str) -> Vec<(usize, String)> {
        file_arrows(&files(tree))
            .into_iter()
            .filter(|arrow| arrow.file == from)
            .map(|arrow| (arrow.line, arrow.to))
            .collect()
    }

    #[test]
    fn a_circle_between_files_is_caught_and_shown() {
        // Three files of one module: the module-level check sees nothing.
        let tree = [
            ("service/mod.rs", "pub mod a;\npub mod b;\npub mod c;\n"),
            ("service/a.rs", "use super::b::Thing;\n"),
            ("service/b.rs", "\nfn f() { crate::service::c::g(); }\n"),
            ("service/c.rs", "use crate::service::{self, a};\n"),
        ];
        assert_eq!(fixture(&tree), Vec::<String>::new());
        assert_eq!(
            check_files(&files(&tree)),
            [
                "cycle between files: service/a.rs → service/b.rs → service/c.rs → service/a.rs: \
                 src/service/a.rs:1 → src/service/b.rs, src/service/b.rs:2 → src/service/c.rs, \
                 src/service/c.rs:1 → src/service/a.rs"
            ]
        );
    }

    #[test]
    fn names_brought_into_scope_and_re_exports_lead_to_the_defining_file() {
        let tree = [
            ("domain/mod.rs", "pub mod time;\npub use time::Timestamp;\n"),
            ("domain/time.rs", "pub struct Timestamp;\n"),
            ("db/mod.rs", "pub mod users;\npub struct Pool;\n"),
            ("db/users.rs", "pub fn by_id() {}\n"),
            (
                "service/login.rs",
                "use crate::db::{self, users as queries};\n\
                 use crate::domain::Timestamp;\n\
                 fn f() {\n    queries::by_id();\n    Timestamp::now();\n    let _: db::Pool;\n}\n",
            ),
        ];
        assert_eq!(
            file_targets(&tree, "service/login.rs"),
            [
                (1, "db/mod.rs".to_owned()),
                (1, "db/users.rs".to_owned()),
                (2, "domain/time.rs".to_owned()),
                (4, "db/users.rs".to_owned()),
                (5, "domain/time.rs".to_owned()),
                (6, "db/mod.rs".to_owned()),
            ]
        );
        // The `pub use` itself is a signpost, not an arrow of domain/mod.rs.
        assert_eq!(file_targets(&tree, "domain/mod.rs"), []);
    }

    #[test]
    fn a_parent_and_its_child_importing_each_other_are_a_circle_but_in_a_composition_root() {
        let parent =
            "pub mod verify;\nuse verify::Verifier;\npub struct Services { v: Verifier }\n";
        let child = "use super::Services;\npub struct Verifier;\n";
        let problems = check_files(&files(&[
            ("service/tokens/mod.rs", parent),
            ("service/tokens/verify.rs", child),
        ]));
        assert_eq!(problems.len(), 1, "{problems:#?}");
        assert!(problems[0].starts_with("cycle between files: service/tokens/mod.rs"));
        let problems = check_files(&files(&[
            ("service/mod.rs", parent),
            ("service/verify.rs", child),
        ]));
        assert_eq!(problems, Vec::<String>::new());
    }

    #[test]
    fn a_capability_importing_one_above_it_is_caught() {
        let problems = check_files(&files(&[
            ("service/mod.rs", "pub mod accounts;\npub mod tokens;\n"),
            ("service/accounts/mod.rs", "pub mod users;\n"),
            ("service/accounts/users.rs", "pub struct User;\n"),
            (
                "service/tokens/mod.rs",
                "\nuse crate::service::accounts::users::User;\n",
            ),
        ]));
        assert_eq!(
            problems,
            [
                "src/service/tokens/mod.rs:2: uses src/service/accounts/users.rs, but \
                 `service/tokens/` imports nothing of `service/sign_in/`, `service/accounts/`"
            ]
        );
    }
}
