//! `cargo xtask check-layers [--print]`: the engine's modules depend on each other the way
//! ARCHITECTURE.md's `## Module layering` block says, and never in a circle.
//!
//! Read [`check`] first. [`scan`] reads every `.rs` file under `crates/engine/src` with a
//! light lexer that drops comments, literals and `#[cfg(test)]` items (prose and tests may
//! name anything) and keeps every `crate::`, `super::` and `self::` path, and every `use`,
//! with the module it is written in. [`graphs`] resolves each path to the module it names
//! and draws one graph per level: the engine's top-level modules, then the children of each
//! module that has some (`run::polling -> run::limiter`, or `-> run` for items of
//! `run/mod.rs` itself). No graph may have a cycle; the top-level one may only have the
//! edges the block allows. Standard library only: a real parser (syn) would cost build time
//! for path shapes the engine does not use.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

const HELP: &str = "\
cargo xtask check-layers [--print]

Check that the engine's modules (crates/engine/src) depend on each other without cycles,
among its top-level modules and among the children of each module, and that every edge
between top-level modules is allowed by the `## Module layering` block of ARCHITECTURE.md.
Test code, comments and string literals are not looked at.

  --print   print today's top-level edges as that block instead of checking";

/// The heading of ARCHITECTURE.md's section that holds the allowed edges.
const SECTION: &str = "## Module layering";

/// Enough cycles to act on; a graph with more is reported as having more.
const MAX_CYCLES: usize = 50;

/// A module's path inside the engine: `[]` is `lib.rs`, `["run", "polling"]` is `run::polling`.
type ModPath = Vec<String>;

/// The edges of one level, each with every place that creates it.
type Graph = BTreeMap<(String, String), Vec<Site>>;

/// An identifier, `::` or a punctuation character, and its line.
type Token = (String, usize);

/// A path in a `use` or in code, the name it brings into scope (a `use`'s), and its line.
type Leaf = (Vec<String>, Option<String>, usize);

/// Where a path is written: its file (from the workspace root when inside it) and line.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Site(PathBuf, usize);

/// A path as written (`super::raw::RawValue`) in `module`. For a `use`, `name` is what it
/// brings into scope, so that paths through a module's imports can be followed.
#[derive(Debug)]
struct Written {
    module: ModPath,
    path: Vec<String>,
    name: Option<String>,
    site: Site,
}

/// What [`scan`] found: the modules, and the paths written in their non-test code.
#[derive(Debug, Default)]
struct Source {
    modules: BTreeSet<ModPath>,
    written: Vec<Written>,
}

pub fn check_layers(args: &[String]) -> ExitCode {
    let root = crate::workspace::root();
    let src = root.join("crates/engine/src");
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        [] => {
            let path = root.join("ARCHITECTURE.md");
            std::fs::read_to_string(&path)
                .map_err(|e| format!("could not read {}: {e}", path.display()))
                .and_then(|architecture| check(&src, &architecture))
        }
        ["--print"] => scan(&src).map(|source| block(&source, &graphs(&source))),
        ["-h" | "--help"] => Ok(format!("{HELP}\n")),
        _ => {
            eprintln!("error: unexpected options {args:?}\n\n{HELP}");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(text) => print!("{text}"),
        Err(message) => {
            eprintln!("error: {message}");
            return ExitCode::FAILURE;
        }
    }
    ExitCode::SUCCESS
}

/// Checks the source tree `src` against the allowed edges in `architecture` (the text of
/// ARCHITECTURE.md). `Ok` holds a one-line summary; `Err` every problem, with its places.
fn check(src: &Path, architecture: &str) -> Result<String, String> {
    let allowed = allowed_edges(architecture)?;
    let source = scan(src)?;
    let graphs = graphs(&source);
    let mut found = problems(&source, &graphs, &allowed);
    found.extend(files_too_long(src)?);
    if found.is_empty() {
        let top = graphs.get(&Vec::new()).map_or(0, BTreeMap::len);
        let modules = top_level(&source).count();
        return Ok(format!(
            "module layering holds: {modules} top-level modules, {top} edges between them, \
             no cycles\n"
        ));
    }
    Err(format!(
        "the engine's module layering is broken ({} problems):\n  {}\n\n\
         A cycle is broken in the code, whatever ARCHITECTURE.md says. An edge that is not \
         allowed goes, or goes into its `{SECTION}` block on purpose (`cargo xtask \
         check-layers --print` prints today's edges in the block's format).",
        found.len(),
        found.join("\n  ")
    ))
}

fn problems(
    source: &Source,
    graphs: &BTreeMap<ModPath, Graph>,
    allowed: &BTreeMap<String, BTreeSet<String>>,
) -> Vec<String> {
    let mut found = Vec::new();
    for (level, graph) in graphs {
        let place = match level.is_empty() {
            true => "the engine's top-level modules".to_owned(),
            false => format!("the modules of `{}`", name(level)),
        };
        let cycles = cycles(graph);
        for cycle in &cycles {
            let mut text = format!(
                "cycle among {place}: {} -> {}",
                cycle.join(" -> "),
                cycle[0]
            );
            for (k, from) in cycle.iter().enumerate() {
                let to = &cycle[(k + 1) % cycle.len()];
                let at = graph.get(&(from.clone(), to.clone()));
                let _ = write!(text, "\n      {from} -> {to} at {}", sites(at));
            }
            found.push(text);
        }
        if cycles.len() >= MAX_CYCLES {
            found.push(format!("more cycles among {place}: fix these first"));
        }
    }
    for ((from, to), at) in graphs.get(&Vec::new()).into_iter().flatten() {
        if !allowed.get(from).is_some_and(|deps| deps.contains(to)) {
            let at = sites(Some(at));
            found.push(format!(
                "edge not allowed by ARCHITECTURE.md: {from} -> {to}\n      at {at}"
            ));
        }
    }
    // Every top-level module has its line, leaves too, so that the block stays the map.
    let modules: BTreeSet<&str> = top_level(source).collect();
    for module in modules.iter().filter(|m| !allowed.contains_key(**m)) {
        found.push(format!(
            "ARCHITECTURE.md's `{SECTION}` has no line for `{module}`"
        ));
    }
    for listed in allowed.keys().filter(|m| !modules.contains(m.as_str())) {
        let line = format!("ARCHITECTURE.md's `{SECTION}` has a line for `{listed}`");
        found.push(line + ", which is not a top-level module of the engine");
    }
    found
}

/// Up to three places, then how many more.
fn sites(at: Option<&Vec<Site>>) -> String {
    let at = at.map(Vec::as_slice).unwrap_or_default();
    let shown = at
        .iter()
        .take(3)
        .map(|Site(file, line)| format!("{}:{line}", file.display()));
    let more = (at.len() > 3).then(|| format!("and {} more", at.len() - 3));
    shown.chain(more).collect::<Vec<_>>().join(", ")
}

/// The `module -> dep1, dep2` block of today's top-level edges, as ARCHITECTURE.md holds it.
fn block(source: &Source, graphs: &BTreeMap<ModPath, Graph>) -> String {
    let edges: Vec<_> = graphs
        .get(&Vec::new())
        .into_iter()
        .flat_map(|g| g.keys())
        .collect();
    let mut text = String::from("```text\n");
    for module in top_level(source) {
        let deps = edges
            .iter()
            .filter(|(from, _)| from == module)
            .map(|(_, to)| to.as_str());
        let deps = deps.collect::<Vec<_>>().join(", ");
        let deps = if deps.is_empty() { "(nothing)" } else { &deps };
        let _ = writeln!(text, "{module} -> {deps}");
    }
    text + "```\n"
}

fn top_level(source: &Source) -> impl Iterator<Item = &str> {
    source
        .modules
        .iter()
        .filter(|m| m.len() == 1)
        .map(|m| m[0].as_str())
}

fn name(path: &[String]) -> String {
    if path.is_empty() {
        "crate".to_owned()
    } else {
        path.join("::")
    }
}

/// The allowed top-level edges: the ```text block of the `## Module layering` section, one
/// `module -> dep1, dep2` (or `module -> (nothing)`) line per module. Blank lines and lines
/// starting with `#` are skipped; backticks around names are ignored.
fn allowed_edges(architecture: &str) -> Result<BTreeMap<String, BTreeSet<String>>, String> {
    let mut lines = architecture.lines().enumerate();
    let heading = |line: &str| {
        line.trim_start_matches('#')
            .trim()
            .eq_ignore_ascii_case("module layering")
    };
    if !lines.any(|(_, line)| line.starts_with('#') && heading(line)) {
        return Err(format!(
            "ARCHITECTURE.md has no `{SECTION}` section. Add one (after `## Crates`) holding a \
             ```text block with one `module -> dep1, dep2` line per top-level module of the \
             engine (`module -> (nothing)` for a leaf); `cargo xtask check-layers --print` \
             prints the block for today's code"
        ));
    }
    let no_block = format!("ARCHITECTURE.md's `{SECTION}` section has no ```text block");
    let mut lines = lines
        .skip_while(|(_, line)| !line.starts_with('#') && !line.trim_start().starts_with("```"));
    if !lines
        .next()
        .is_some_and(|(_, line)| line.trim_start().starts_with("```"))
    {
        return Err(no_block);
    }
    let mut allowed: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (index, line) in lines.map(|(index, line)| (index, line.trim())) {
        if line.starts_with("```") {
            return Ok(allowed);
        } else if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((module, deps)) = line.split_once("->") else {
            let number = index + 1;
            return Err(format!(
                "ARCHITECTURE.md:{number}: `{line}` is not `module -> dep1, dep2`"
            ));
        };
        let entry = allowed
            .entry(module.trim().trim_matches('`').to_owned())
            .or_default();
        if !deps.trim().starts_with('(') {
            let names = deps.split(',').map(|dep| dep.trim().trim_matches('`'));
            entry.extend(names.filter(|dep| !dep.is_empty()).map(str::to_owned));
        }
    }
    Err(format!(
        "ARCHITECTURE.md's `{SECTION}` block is not closed with ```"
    ))
}

/// Every `.rs` file under `src`, its module, and the paths its non-test code writes.
fn scan(src: &Path) -> Result<Source, String> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    let mut source = Source::default();
    // Modules behind `#[cfg(test)] mod x;` live in files of their own; dropped below.
    let mut tests = BTreeSet::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("could not read {}: {e}", file.display()))?;
        let module = module_of(file.strip_prefix(src).unwrap_or(&file));
        let shown = file.strip_prefix(crate::workspace::root()).unwrap_or(&file);
        source.modules.insert(module.clone());
        for (module, (path, name, line)) in
            scan_file(&text, &module, &mut source.modules, &mut tests)
        {
            let site = Site(shown.to_owned(), line);
            source.written.push(Written {
                module,
                path,
                name,
                site,
            });
        }
    }
    let in_tests = |module: &ModPath| tests.iter().any(|test| module.starts_with(test));
    source.modules.retain(|module| !in_tests(module));
    source.written.retain(|written| !in_tests(&written.module));
    Ok(source)
}

/// The longest an engine source file may be: past it, a file holds more than one concern
/// (ARCHITECTURE.md: one home per concern).
const MAX_FILE_LINES: usize = 600;

/// The engine's source files longer than [`MAX_FILE_LINES`].
fn files_too_long(src: &Path) -> Result<Vec<String>, String> {
    let mut files = Vec::new();
    rust_files(src, &mut files)?;
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("could not read {}: {e}", file.display()))?;
        let lines = text.lines().count();
        if lines > MAX_FILE_LINES {
            let shown = file.strip_prefix(crate::workspace::root()).unwrap_or(&file);
            found.push(format!(
                "{} has {lines} lines, over {MAX_FILE_LINES}: split it by concern",
                shown.display()
            ));
        }
    }
    Ok(found)
}

fn rust_files(folder: &Path, files: &mut Vec<PathBuf>) -> Result<(), String> {
    let read_error = |e: std::io::Error| format!("could not read {}: {e}", folder.display());
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(folder).map_err(read_error)? {
        entries.push(entry.map_err(read_error)?.path());
    }
    entries.sort();
    for path in entries {
        if path.is_dir() {
            rust_files(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

/// `lib.rs` is the root, `run/mod.rs` and `run.rs` are `run`, `run/polling.rs` is `run::polling`.
fn module_of(relative: &Path) -> ModPath {
    let mut path: ModPath = relative
        .with_extension("")
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    if path == ["lib"] || path.last().is_some_and(|last| last == "mod") {
        path.pop();
    }
    path
}

/// The leaves of the paths written in one file, each with its module: `file_module`, or an
/// inline `mod x { .. }` in it. `#[cfg(test)]` items are skipped whole, and the modules they
/// declare are added to `tests`.
fn scan_file(
    text: &str,
    file_module: &ModPath,
    modules: &mut BTreeSet<ModPath>,
    tests: &mut BTreeSet<ModPath>,
) -> Vec<(ModPath, Leaf)> {
    let tokens = tokenize(text);
    let at = |k: usize| at(&tokens, k);
    let mut found = Vec::new();
    // One entry per open `{`: the inline module it is the body of, if any.
    let mut blocks: Vec<Option<ModPath>> = Vec::new();
    let mut j = 0;
    while let Some((token, line)) = tokens.get(j) {
        let module = blocks
            .iter()
            .rev()
            .find_map(Clone::clone)
            .unwrap_or_else(|| file_module.clone());
        let mut leaves = Vec::new();
        j += 1;
        match token.as_str() {
            "#" if at(j + usize::from(at(j) == "!")) == "[" => {
                let open = j + usize::from(at(j) == "!");
                let end = matching(&tokens, open);
                if !tokens[open..end]
                    .iter()
                    .map(|(t, _)| t)
                    .eq(["[", "cfg", "(", "test", ")", "]"])
                {
                    continue;
                }
                if open > j && blocks.is_empty() {
                    tests.insert(file_module.clone());
                    return Vec::new();
                }
                j = item_end(&tokens, end);
                let mut head = tokens[end..j]
                    .iter()
                    .take_while(|(t, _)| t != "{" && t != ";");
                if let Some(k) = head.position(|(t, _)| t == "mod") {
                    tests.insert([&module[..], &[at(end + k + 1).to_owned()]].concat());
                }
            }
            "mod" if at(j + 1) == "{" => {
                let inline = [&module[..], &[at(j).to_owned()]].concat();
                modules.insert(inline.clone());
                blocks.push(Some(inline));
                j += 2;
            }
            "use" => use_tree(&tokens, &mut j, Vec::new(), &mut leaves),
            "crate" | "super" | "self" if at(j) == "::" => {
                let mut path = vec![token.clone()];
                while at(j) == "::" && at(j + 1).starts_with(is_word) {
                    path.push(at(j + 1).to_owned());
                    j += 2;
                }
                leaves.push((path, None, *line));
            }
            "{" => blocks.push(None),
            "}" => drop(blocks.pop()),
            _ => {}
        }
        found.extend(leaves.into_iter().map(|leaf| (module.clone(), leaf)));
    }
    found
}

/// The token at `k`, or nothing past the end.
fn at(tokens: &[Token], k: usize) -> &str {
    tokens.get(k).map_or("", |(token, _)| token)
}

fn is_word(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The index just past the bracket that closes the one at `open`.
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0;
    for (k, (token, _)) in tokens.iter().enumerate().skip(open) {
        depth += match token.as_str() {
            "(" | "[" | "{" => 1,
            ")" | "]" | "}" => -1,
            _ => 0,
        };
        if depth <= 0 {
            return k + 1;
        }
    }
    tokens.len()
}

/// The index just past the item at `k` (attributes included): its `;`, or its `{ .. }` body.
fn item_end(tokens: &[Token], mut k: usize) -> usize {
    while k < tokens.len() {
        match at(tokens, k) {
            ";" => return k + 1,
            "{" => return matching(tokens, k),
            "(" | "[" => k = matching(tokens, k),
            "}" => return k,
            _ => k += 1,
        }
    }
    k
}

/// Reads the use tree at `*k` whose path so far is `prefix`, pushing a leaf per name.
fn use_tree(tokens: &[Token], k: &mut usize, mut prefix: Vec<String>, leaves: &mut Vec<Leaf>) {
    while let Some((token, line)) = tokens.get(*k) {
        *k += 1;
        match token.as_str() {
            // `::name` is another crate's path; the marker keeps it from looking like ours.
            "::" if prefix.is_empty() => prefix.push("::".to_owned()),
            "::" => {}
            "*" => return leaves.push((prefix, None, *line)),
            "{" => {
                while !matches!(at(tokens, *k), "}" | ";" | "") {
                    let before = *k;
                    if at(tokens, *k) != "," {
                        use_tree(tokens, k, prefix.clone(), leaves);
                    }
                    *k = (*k).max(before + 1);
                }
                *k += 1;
                return;
            }
            word if word.starts_with(is_word) => {
                prefix.push(word.to_owned());
                if at(tokens, *k) == "::" {
                    continue;
                }
                if word == "self" {
                    prefix.pop();
                }
                let mut name = prefix.last().cloned();
                if at(tokens, *k) == "as" {
                    name = Some(at(tokens, *k + 1).to_owned());
                    *k += 2;
                }
                return leaves.push((prefix, name, *line));
            }
            _ => {
                *k -= 1;
                return;
            }
        }
    }
}

/// The tokens of `text` that paths are made of. Comments, string, char and number literals
/// are dropped, and so are lifetimes' quotes: prose and data never become edges, and a
/// `'{'` never opens a block.
fn tokenize(text: &str) -> Vec<Token> {
    let chars: Vec<char> = text.chars().collect();
    let at = |k: usize| chars.get(k).copied().unwrap_or('\0');
    // Just past the first `pattern` from `k` on.
    let past = |k: usize, pattern: &[char]| {
        let found = (k..chars.len()).find(|&e| chars[e..].starts_with(pattern));
        found.map_or(chars.len(), |e| e + pattern.len())
    };
    let word_end = |k: usize| {
        (k..chars.len())
            .find(|&e| !is_word(chars[e]))
            .unwrap_or(chars.len())
    };
    let string_end = |mut k: usize| {
        while k < chars.len() && chars[k] != '"' {
            k += if chars[k] == '\\' { 2 } else { 1 };
        }
        k + 1
    };
    // At a quote: past a char literal, or past the quote alone when it starts a lifetime.
    let quote_end = |k: usize| match (at(k + 1), at(k + 2)) {
        ('\\', _) => past(k + 3, &['\'']),
        (_, '\'') => k + 3,
        _ => k + 1,
    };
    let mut tokens = Vec::new();
    let (mut i, mut line) = (0, 1);
    while let Some(&c) = chars.get(i) {
        let end = match (c, at(i + 1)) {
            ('/', '/') => past(i, &['\n']),
            ('/', '*') => {
                let (mut k, mut depth) = (i + 2, 1);
                while depth > 0 && k < chars.len() {
                    match (chars[k], at(k + 1)) {
                        ('/', '*') => (depth, k) = (depth + 1, k + 2),
                        ('*', '/') => (depth, k) = (depth - 1, k + 2),
                        _ => k += 1,
                    }
                }
                k
            }
            ('"', _) => string_end(i + 1),
            ('\'', _) => quote_end(i),
            (':', ':') => {
                tokens.push(("::".to_owned(), line));
                i + 2
            }
            _ if is_word(c) => {
                let end = word_end(i);
                let word: String = chars[i..end].iter().collect();
                let hashes = (end..chars.len()).take_while(|&e| chars[e] == '#').count();
                match (word.as_str(), at(end)) {
                    ("r" | "br" | "cr", '"' | '#') if at(end + hashes) == '"' => {
                        let closing: Vec<char> = std::iter::once('"')
                            .chain(std::iter::repeat_n('#', hashes))
                            .collect();
                        past(end + hashes + 1, &closing)
                    }
                    // `r#crate`: a raw identifier, kept whole so that it is never a keyword.
                    ("r", '#') => {
                        let end = word_end(end + 1);
                        tokens.push((chars[i..end].iter().collect(), line));
                        end
                    }
                    _ if c.is_ascii_digit() => end,
                    _ => {
                        tokens.push((word, line));
                        end
                    }
                }
            }
            _ if c.is_whitespace() => i + 1,
            _ => {
                tokens.push((c.to_string(), line));
                i + 1
            }
        };
        let end = end.min(chars.len());
        line += chars[i..end].iter().filter(|&&c| c == '\n').count();
        i = end;
    }
    tokens
}

impl Source {
    /// `path`, written in `module`, as a path from the crate root; `None` when it leads out
    /// of the engine (another crate, or `super` above the root).
    fn absolute(&self, module: &ModPath, path: &[String]) -> Option<ModPath> {
        let first = path.first()?;
        let mut absolute = match first.as_str() {
            "crate" => Vec::new(),
            "self" | "super" => module.clone(),
            // In a `use`, a bare first name is a child module of `module`, or another crate.
            _ if self.modules.contains(&[&module[..], &path[..1]].concat()) => module.clone(),
            _ => return None,
        };
        for segment in &path[usize::from(first == "crate")..] {
            match segment.as_str() {
                "self" => {}
                "super" => drop(absolute.pop()?),
                _ => absolute.push(segment.clone()),
            }
        }
        Some(absolute)
    }

    /// The module `path` (from the root) names: the longest known module it starts with,
    /// after following imports (`crate::run::PollTuning` is `run::polling`'s, re-exported).
    fn resolve(
        &self,
        imports: &BTreeMap<(ModPath, String), ModPath>,
        mut path: ModPath,
    ) -> ModPath {
        let known = |path: &ModPath| {
            (0..=path.len())
                .rev()
                .find(|&n| self.modules.contains(&path[..n]))
        };
        // Bounded, for imports that lead back to themselves.
        for _ in 0..8 {
            let n = known(&path).unwrap_or(0);
            match path
                .get(n)
                .and_then(|next| imports.get(&(path[..n].to_vec(), next.clone())))
            {
                Some(target) => path = [&target[..], &path[n + 1..]].concat(),
                None => break,
            }
        }
        path.truncate(known(&path).unwrap_or(0));
        path
    }
}

/// One graph per level, keyed by the module whose children it links (`[]`: the top level).
/// A reference from `a::x` to `a::y::..` is the edge `a::x -> a::y` of `a`'s graph; one to
/// an item of `a` itself (its `mod.rs`) is `a::x -> a`. A module's references to itself and
/// to its own descendants are how it is put together, not layering, and are not edges.
fn graphs(source: &Source) -> BTreeMap<ModPath, Graph> {
    let imports: BTreeMap<(ModPath, String), ModPath> = source
        .written
        .iter()
        .filter_map(|w| {
            Some((
                (w.module.clone(), w.name.clone()?),
                source.absolute(&w.module, &w.path)?,
            ))
        })
        .collect();
    let mut graphs: BTreeMap<ModPath, Graph> = BTreeMap::new();
    for written in &source.written {
        let Some(path) = source.absolute(&written.module, &written.path) else {
            continue;
        };
        let (from, to) = (&written.module, source.resolve(&imports, path));
        let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
        let (level, source) = (
            from[..common].to_vec(),
            name(&from[..(common + 1).min(from.len())]),
        );
        let target = match to.get(common) {
            _ if common == from.len() => continue,
            Some(_) => name(&to[..=common]),
            // Items of lib.rs itself: it holds only declarations and re-exports, followed above.
            None if level.is_empty() => continue,
            None => name(&level),
        };
        let sites = graphs
            .entry(level)
            .or_default()
            .entry((source, target))
            .or_default();
        sites.push(written.site.clone());
    }
    for sites in graphs.values_mut().flat_map(BTreeMap::values_mut) {
        sites.sort();
        sites.dedup();
    }
    graphs
}

/// The elementary cycles of `graph`, each once, starting from its smallest module.
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (from, to) in graph.keys() {
        next.entry(from).or_default().push(to);
    }
    let mut found = Vec::new();
    for start in next.keys() {
        walk(&next, &mut vec![start], &mut found);
    }
    found
}

fn walk<'a>(
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    path: &mut Vec<&'a str>,
    found: &mut Vec<Vec<String>>,
) {
    let (start, last) = (path[0], path[path.len() - 1]);
    for &to in next.get(last).into_iter().flatten() {
        if found.len() >= MAX_CYCLES {
            return;
        } else if to == start {
            found.push(path.iter().map(|module| module.to_string()).collect());
        } else if to > start && !path.contains(&to) {
            path.push(to);
            walk(next, path, found);
            path.pop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A source tree in a temporary folder: (path under `src`, text) per file.
    fn tree(files: &[(&str, &str)]) -> tempfile::TempDir {
        let folder = tempfile::tempdir().expect("a temporary folder");
        for (path, text) in files {
            let path = folder.path().join(path);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("a folder for the file");
            }
            std::fs::write(path, text).expect("the file written");
        }
        folder
    }

    fn layering(block: &str) -> String {
        format!("# Architecture\n\n{SECTION}\n\nWhy.\n\n```text\n{block}\n```\n\n## Next\n")
    }

    /// Every edge of every level, as `level: from -> to @ file:line, ..` (file names only).
    fn edges(src: &Path) -> Vec<String> {
        let source = scan(src).expect("the tree scans");
        let mut found = Vec::new();
        for (level, graph) in graphs(&source) {
            for ((from, to), at) in graph {
                let short = |Site(file, line): &Site| {
                    format!(
                        "{}:{line}",
                        file.strip_prefix(src).unwrap_or(file).display()
                    )
                };
                let at: Vec<String> = at.iter().map(short).collect();
                found.push(format!(
                    "{}: {from} -> {to} @ {}",
                    name(&level),
                    at.join(", ")
                ));
            }
        }
        found
    }

    const LIB: &str = "//! The root.\npub mod a;\npub mod b;\npub mod c;\n";

    #[test]
    fn layering_that_follows_the_block_passes() {
        let src = tree(&[
            ("lib.rs", LIB),
            (
                "a.rs",
                "use crate::b::Thing;\npub fn f() -> crate::c::Other { todo!() }\n",
            ),
            ("b.rs", "pub struct Thing;\nuse crate::c;\n"),
            ("c.rs", "pub struct Other;\n"),
        ]);
        let result = check(
            src.path(),
            &layering("a -> b, c\nb -> `c`\n\nc -> (nothing)"),
        );
        assert_eq!(
            result,
            Ok(
                "module layering holds: 3 top-level modules, 3 edges between them, no cycles\n"
                    .to_owned()
            )
        );
    }

    #[test]
    fn a_cycle_fails_naming_it_and_the_lines_that_make_it() {
        let src = tree(&[
            ("lib.rs", LIB),
            ("a.rs", "use crate::b::Thing;\n"),
            ("b.rs", "pub struct Thing;\n\nfn f() { crate::c::g() }\n"),
            (
                "c.rs",
                "pub fn g() {}\n// crate::a is only prose\n\nuse crate::a::*;\n",
            ),
        ]);
        let error = check(src.path(), &layering("a -> b\nb -> c\nc -> a")).expect_err("a cycle");
        assert!(
            error.contains("cycle among the engine's top-level modules: a -> b -> c -> a"),
            "{error}"
        );
        assert!(
            error.contains("a -> b at ") && error.contains("a.rs:1"),
            "{error}"
        );
        assert!(
            error.contains("b.rs:3") && error.contains("c.rs:4"),
            "{error}"
        );
        assert!(error.contains("1 problems"), "{error}");
    }

    #[test]
    fn a_cycle_among_a_modules_children_fails() {
        let src = tree(&[
            ("lib.rs", "pub mod run;\n"),
            (
                "run/mod.rs",
                "mod state;\nmod coordinator;\npub struct RunJob;\n",
            ),
            (
                "run/coordinator.rs",
                "use super::state::State;\nfn f(_: super::RunJob) {}\n",
            ),
            (
                "run/state.rs",
                "pub struct State;\nfn f() { super::coordinator::go() }\n",
            ),
        ]);
        let error = check(src.path(), &layering("run -> (nothing)")).expect_err("a cycle");
        assert!(error.contains("cycle among the modules of `run`: run::coordinator -> run::state -> run::coordinator"), "{error}");
        assert!(
            !error.contains("-> run ->") && !error.contains("-> run\n"),
            "run/mod.rs is no part of the cycle: {error}"
        );
    }

    #[test]
    fn an_edge_the_block_does_not_list_fails() {
        let src = tree(&[
            ("lib.rs", LIB),
            (
                "a.rs",
                "use crate::b::Thing;\n\nfn f() -> crate::c::Other { todo!() }\n",
            ),
            ("b.rs", "pub struct Thing;\n"),
            ("c.rs", "pub struct Other;\n"),
        ]);
        let error = check(
            src.path(),
            &layering("a -> b\nb -> (nothing)\nc -> (nothing)\ngone -> a"),
        )
        .expect_err("an edge not allowed");
        assert!(
            error.contains("edge not allowed by ARCHITECTURE.md: a -> c\n      at "),
            "{error}"
        );
        assert!(error.contains("a.rs:3"), "{error}");
        assert!(
            error.contains("a line for `gone`, which is not a top-level module"),
            "{error}"
        );
        assert!(!error.contains("a -> b\n"), "{error}");
        let error =
            check(src.path(), &layering("a -> b, c\nb -> (nothing)")).expect_err("c has no line");
        assert!(error.contains("has no line for `c`"), "{error}");
        assert!(
            !error.contains("edge not allowed"),
            "c has no edges: {error}"
        );
        let error = check(src.path(), &layering("b -> (nothing)")).expect_err("a has no line");
        assert!(
            error.contains("edge not allowed by ARCHITECTURE.md: a -> b"),
            "{error}"
        );
        assert!(error.contains("has no line for `a`"), "{error}");
    }

    #[test]
    fn tests_comments_and_strings_make_no_edges() {
        let src = tree(&[
            ("lib.rs", LIB),
            (
                "a.rs",
                r####"//! Links to [`crate::b::Thing`] are prose.
/// So is crate::b::Thing here, /* and */ here.
/* A block comment /* nested */ crate::b::Thing */
const QUOTE: char = '"';
const BRACE: char = '{';
const TEXT: &str = "crate::b::Thing \" crate::c::Other";
const RAW: &str = r#"crate::b::Thing " crate::c"#;
const RAW_IDENTIFIER: u8 = r#use::r#crate;
const BYTES: &[u8] = b"crate::b";
fn f<'a>(x: &'a str) -> &'a str { x }

#[cfg(test)]
mod helpers;

#[cfg(test)]
#[allow(unused)]
pub(crate) mod tests {
    use crate::b::Thing;
    fn g() -> crate::c::Other { todo!() }
    mod deeper { use crate::b::*; }
}

#[cfg(test)]
fn only_in_tests() -> crate::c::Other { todo!() }
"####,
            ),
            ("a/helpers.rs", "use crate::b::Thing;\n"),
            ("b.rs", "pub struct Thing;\n"),
            ("c.rs", "#![cfg(test)]\nuse crate::a::*;\n"),
        ]);
        assert_eq!(edges(src.path()), Vec::<String>::new());
        let source = scan(src.path()).expect("the tree scans");
        let helpers = vec!["a".to_owned(), "helpers".to_owned()];
        assert!(
            !source.modules.contains(&helpers) && !source.modules.contains(&vec!["c".to_owned()])
        );
        let result = check(src.path(), &layering("a -> (nothing)\nb -> (nothing)"));
        assert!(result.is_ok(), "{result:?}");
    }

    #[test]
    fn grouped_uses_super_paths_and_re_exports_resolve_to_modules() {
        let src = tree(&[
            (
                "lib.rs",
                "pub mod a;\npub mod b;\npub mod c;\npub mod run;\npub use c::d::Thing;\n",
            ),
            (
                "a.rs",
                "use crate::{b, c::{d::{self, Deep}, e as f}};\nuse crate::Thing;\n",
            ),
            ("b.rs", "pub struct B;\n"),
            ("c/mod.rs", "pub mod d;\npub mod e;\n"),
            ("c/d.rs", "pub struct Deep;\npub struct Thing;\n"),
            (
                "c/e.rs",
                "fn f<'a>(x: &'a str) -> &'a str { let _ = super::d::Deep; x }\n",
            ),
            (
                "run/mod.rs",
                "mod coordinator;\nmod state;\npub use state::State;\npub struct RunJob;\nuse crate::b::B as Bee;\n",
            ),
            (
                "run/coordinator.rs",
                "use super::{RunJob, state};\n\nfn f(_: super::State, _: super::Bee) -> self::inner::X { todo!() }\nstruct Local;\nmod inner {\n    pub struct X(super::super::super::b::B, super::Local);\n}\n",
            ),
            ("run/state.rs", "pub struct State;\n"),
        ]);
        assert_eq!(
            edges(src.path()),
            [
                "crate: a -> b @ a.rs:1",
                "crate: a -> c @ a.rs:1, a.rs:2",
                "crate: run -> b @ run/coordinator.rs:3, run/coordinator.rs:6, run/mod.rs:5",
                "c: c::e -> c::d @ c/e.rs:1",
                "run: run::coordinator -> run @ run/coordinator.rs:1",
                "run: run::coordinator -> run::state @ run/coordinator.rs:1, run/coordinator.rs:3",
                "run::coordinator: run::coordinator::inner -> run::coordinator @ run/coordinator.rs:6",
            ]
        );
    }

    #[test]
    fn the_printed_block_is_what_the_check_reads() {
        let src = tree(&[
            ("lib.rs", LIB),
            ("a.rs", "use crate::b::Thing;\nuse crate::c::Other;\n"),
            ("b.rs", "pub struct Thing;\n"),
            ("c.rs", "pub struct Other;\n"),
        ]);
        let source = scan(src.path()).expect("the tree scans");
        let block = block(&source, &graphs(&source));
        assert_eq!(
            block,
            "```text\na -> b, c\nb -> (nothing)\nc -> (nothing)\n```\n"
        );
        let architecture = format!("{SECTION}\n\n{block}");
        assert!(check(src.path(), &architecture).is_ok());
    }

    #[test]
    fn a_missing_section_says_where_to_add_it() {
        let src = tree(&[("lib.rs", "pub mod a;\n"), ("a.rs", "")]);
        let error = check(src.path(), "# Architecture\n\n## Crates\n").expect_err("no section");
        assert!(
            error.contains("no `## Module layering` section. Add one (after `## Crates`)"),
            "{error}"
        );
        let error = check(src.path(), "## Module layering\n\nNo block.\n\n## Next\n")
            .expect_err("no block");
        assert!(error.contains("has no ```text block"), "{error}");
        let error = check(
            src.path(),
            "## Module layering\n```text\na depends on b\n```\n",
        )
        .expect_err("bad line");
        assert!(
            error.contains("ARCHITECTURE.md:3: `a depends on b` is not `module -> dep1, dep2`"),
            "{error}"
        );
    }

    #[test]
    fn a_file_over_the_line_limit_is_a_problem() {
        let tree = tempfile::tempdir().expect("temp dir");
        let long = "// a line\n".repeat(MAX_FILE_LINES + 1);
        std::fs::write(tree.path().join("lib.rs"), "//! root\n").expect("writes");
        std::fs::write(tree.path().join("big.rs"), long).expect("writes");
        let found = files_too_long(tree.path()).expect("scans");
        assert_eq!(found.len(), 1, "{found:?}");
        assert!(found[0].contains("big.rs has 601 lines"), "{found:?}");
    }

    #[test]
    fn the_engine_keeps_its_module_layering() {
        let root = crate::workspace::root();
        let architecture = root.join("ARCHITECTURE.md");
        let result = std::fs::read_to_string(&architecture)
            .map_err(|e| format!("could not read {}: {e}", architecture.display()))
            .and_then(|text| check(&root.join("crates/engine/src"), &text));
        assert!(result.is_ok(), "{}", result.unwrap_or_else(|error| error));
    }
}
