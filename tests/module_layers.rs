//! The module dependency check (issue 13, "a dependency check in CI").
//!
//! Reads `src/**/*.rs` as text, strips comments and string/char literals,
//! maps every file to its top-level module (`src/foo.rs` and `src/foo/**` are
//! `foo`), collects the `crate::x` and `super::`-resolved paths that leave the
//! module, and fails when
//!
//! - the graph between top-level modules has a cycle that is not closed by an
//!   edge in [`KNOWN_DEBT`], or
//! - a module imports one in a higher layer of [`LAYERS`] (again unless the
//!   edge is listed debt), or
//! - a top-level module is in no layer (a new module must be placed), or
//! - a debt entry no longer exists (the list only shrinks).
//!
//! `ARCHITECTURE.md` ("Layers") draws the same order; keep them together.
//! Test code inside `src/` counts too: a `#[cfg(test)]` import is still an
//! arrow a reader has to follow.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The layers, lowest first. A module may import modules in its own layer
/// (cycles are checked separately) and in lower ones, never a higher one.
const LAYERS: &[&[&str]] = &[
    // Leaves: the state dir's files, the metrics exporter and the clock.
    &["statedir", "metrics", "clock"],
    // The file model, and process plumbing that reads only it.
    &["config", "logging", "privileges"],
    // Data read from files.
    &["zone", "geo"],
    // Plan, state and the pure policy.
    &["traffic"],
    // Inputs that change at run time.
    &["overrides", "health"],
    // Online signing: keys, signatures made at load and publish.
    &["dnssec"],
    // The query path: reads a borrowed view of the tables (answer::View),
    // never the snapshot that holds them.
    &["answer", "querylog"],
    // What `check`, start-up and reloads run: config and zones validated
    // and compiled (the fast table from zones and plan).
    &["load"],
    // The immutable routing table: a pure build from loaded inputs,
    // health and overrides.
    &["snapshot"],
    &["server"],
    // Control-plane settings: one generation per load, written by the
    // publisher, read by the API, health checker, drills and cluster.
    &["control"],
    // The control plane: the single writer, shared state, drills, explain.
    &["publisher", "cluster", "drills", "explain"],
    // The API's request and response types, shared by `api` and `ctl`.
    &["contract"],
    // Surfaces: HTTP API, CLI client, demo, start-up wiring.
    &["api", "ctl", "demo", "app"],
];

/// Edges that close a cycle or point up today, each with why and the plan.
/// Every entry is one edge `(from, to, reason)`; removing the cause must
/// remove the entry (a stale entry fails the check).
const KNOWN_DEBT: &[(&str, &str, &str)] = &[];

/// A top-level module dependency graph: module -> modules it references.
type Graph = BTreeMap<String, BTreeSet<String>>;

/// Replaces comments, string literals and char literals with spaces so that
/// paths inside them are not counted. Lifetimes (`'a`) are kept.
fn strip(src: &str) -> String {
    let c: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let mut i = 0;
    while i < c.len() {
        let at = |k: usize| c.get(k).copied().unwrap_or('\0');
        if c[i] == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if c[i] == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    i += 1;
                }
            }
            out.push(' ');
        } else if c[i] == 'r'
            && (at(i + 1) == '"' || (at(i + 1) == '#' && matches!(at(i + 2), '"' | '#')))
            && !(i > 0 && (c[i - 1].is_alphanumeric() || c[i - 1] == '_'))
        {
            // Raw string r"..." / r#"..."#.
            let mut j = i + 1;
            let mut hashes = 0;
            while at(j) == '#' {
                hashes += 1;
                j += 1;
            }
            j += 1; // opening quote
            loop {
                if j >= c.len() {
                    break;
                }
                if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                    j += 1 + hashes;
                    break;
                }
                j += 1;
            }
            i = j;
            out.push_str("\"\"");
        } else if c[i] == '"' {
            i += 1;
            while i < c.len() && c[i] != '"' {
                if c[i] == '\\' {
                    i += 1;
                }
                i += 1;
            }
            i += 1;
            out.push_str("\"\"");
        } else if c[i] == '\'' && at(i + 1) == '\\' {
            // Escaped char literal: '\n', '\'', '\u{..}'.
            i += 2;
            while i < c.len() && c[i] != '\'' {
                i += 1;
            }
            i += 1;
            out.push_str("' '");
        } else if c[i] == '\'' && at(i + 2) == '\'' {
            i += 3;
            out.push_str("' '");
        } else {
            out.push(c[i]);
            i += 1;
        }
    }
    out
}

/// Splits stripped source into identifiers and the punctuation that paths
/// are made of (`::`, `{`, `}`, `,`); everything else is a separator token.
fn tokens(src: &str) -> Vec<String> {
    let c: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < c.len() {
        if c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$' {
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_' || c[i] == '$') {
                i += 1;
            }
            out.push(c[s..i].iter().collect());
        } else if c[i] == ':' && c.get(i + 1) == Some(&':') {
            out.push("::".into());
            i += 2;
        } else if c[i].is_whitespace() {
            i += 1;
        } else {
            out.push(c[i].to_string());
            i += 1;
        }
    }
    out
}

/// The first path segments reached from `t[i]` (the token after `::`):
/// `x` gives `[x]`, `{a, b::c, d}` gives `[a, b, d]`.
fn heads(t: &[String], i: usize) -> Vec<String> {
    match t.get(i).map(String::as_str) {
        Some("{") => {
            let mut out = Vec::new();
            let mut depth = 0;
            let mut expect = true;
            for tok in &t[i..] {
                match tok.as_str() {
                    "{" => {
                        depth += 1;
                        expect = depth == 1;
                    }
                    "}" => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    "," if depth == 1 => expect = true,
                    s if expect && depth == 1 => {
                        out.push(s.to_string());
                        expect = false;
                    }
                    _ => {}
                }
            }
            out
        }
        Some(s) => vec![s.to_string()],
        None => vec![],
    }
}

/// The top-level modules that one file (at `depth`: 1 for `src/foo.rs` and
/// `src/foo/mod.rs`, 2 for `src/foo/bar.rs`, ...) references.
fn references(src: &str, depth: usize) -> BTreeSet<String> {
    let t = tokens(&strip(src));
    let mut out = BTreeSet::new();
    let mut i = 0;
    while i < t.len() {
        let prev_is_path = i > 0 && t[i - 1] == "::";
        if t[i] == "crate" && !prev_is_path && t.get(i + 1).map(String::as_str) == Some("::") {
            out.extend(heads(&t, i + 2));
        } else if t[i] == "super" && !prev_is_path {
            // Count the chain super::super::...; leaving the top-level
            // module takes `depth` steps.
            let mut j = i;
            let mut n = 0;
            while t.get(j).map(String::as_str) == Some("super")
                && t.get(j + 1).map(String::as_str) == Some("::")
            {
                n += 1;
                j += 2;
            }
            if n >= depth {
                out.extend(heads(&t, j));
            }
            i = j.max(i + 1);
            continue;
        }
        i += 1;
    }
    out
}

/// Reads `src/` into the graph between its top-level modules.
fn read_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read src dir") {
            let p = entry.expect("dir entry").path();
            if p.is_dir() {
                stack.push(p);
            } else if p.extension().is_some_and(|e| e == "rs") {
                files.push(p);
            }
        }
    }
    let mut modules = BTreeSet::new();
    for f in &files {
        if let Some(m) = top_module(src, f) {
            modules.insert(m.0);
        }
    }
    let mut g: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for f in &files {
        let Some((module, depth)) = top_module(src, f) else {
            continue; // lib.rs and main.rs are the roots, not layers
        };
        let text = std::fs::read_to_string(f).expect("read source file");
        for r in references(&text, depth) {
            if r != module && modules.contains(&r) {
                g.get_mut(&module).expect("module").insert(r);
            }
        }
    }
    g
}

/// `src/foo.rs` -> (foo, 1); `src/foo/mod.rs` -> (foo, 1);
/// `src/foo/bar.rs` -> (foo, 2); `src/lib.rs` and `src/main.rs` -> None.
fn top_module(src: &Path, file: &Path) -> Option<(String, usize)> {
    let rel = file.strip_prefix(src).ok()?;
    let parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    if parts.len() == 1 {
        let stem = parts[0].strip_suffix(".rs")?;
        return (stem != "lib" && stem != "main").then(|| (stem.to_string(), 1));
    }
    let depth = if parts.last().is_some_and(|l| l == "mod.rs") {
        parts.len() - 1
    } else {
        parts.len()
    };
    Some((parts[0].clone(), depth))
}

/// Everything wrong with `g` under `layers` and `debt`, one line each.
fn problems(g: &Graph, layers: &[&[&str]], debt: &[(&str, &str, &str)]) -> Vec<String> {
    let mut out = Vec::new();
    let layer_of: BTreeMap<&str, usize> = layers
        .iter()
        .enumerate()
        .flat_map(|(n, l)| l.iter().map(move |m| (*m, n)))
        .collect();
    let is_debt = |a: &str, b: &str| debt.iter().any(|(x, y, _)| *x == a && *y == b);
    for (a, b, _) in debt {
        if !g.get(*a).is_some_and(|s| s.contains(*b)) {
            out.push(format!(
                "stale debt entry {a} -> {b}: the edge is gone, remove it"
            ));
        }
    }
    for m in g.keys() {
        if !layer_of.contains_key(m.as_str()) {
            out.push(format!(
                "module {m} is in no layer: place it in LAYERS and ARCHITECTURE.md"
            ));
        }
    }
    for (a, bs) in g {
        for b in bs {
            if is_debt(a, b) {
                continue;
            }
            if let (Some(la), Some(lb)) = (layer_of.get(a.as_str()), layer_of.get(b.as_str()))
                && la < lb
            {
                out.push(format!(
                    "{a} (layer {la}) imports {b} (layer {lb}): arrows point down"
                ));
            }
        }
    }
    // Cycles in the graph without the debt edges: strongly connected
    // components of more than one module.
    let mut pruned: Graph = Graph::new();
    for (a, bs) in g {
        let keep = bs.iter().filter(|b| !is_debt(a, b)).cloned().collect();
        pruned.insert(a.clone(), keep);
    }
    for scc in components(&pruned) {
        if scc.len() > 1 {
            out.push(format!("dependency cycle between {}", scc.join(", ")));
        }
    }
    out
}

/// Strongly connected components (Kosaraju: the graph is small).
fn components(g: &Graph) -> Vec<Vec<String>> {
    fn visit(g: &Graph, n: &str, seen: &mut BTreeSet<String>, order: &mut Vec<String>) {
        if !seen.insert(n.to_string()) {
            return;
        }
        for m in g.get(n).into_iter().flatten() {
            visit(g, m, seen, order);
        }
        order.push(n.to_string());
    }
    let mut seen = BTreeSet::new();
    let mut order = Vec::new();
    for n in g.keys() {
        visit(g, n, &mut seen, &mut order);
    }
    let mut rev: Graph = g.keys().map(|k| (k.clone(), BTreeSet::new())).collect();
    for (a, bs) in g {
        for b in bs {
            rev.entry(b.clone()).or_default().insert(a.clone());
        }
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for n in order.iter().rev() {
        let mut comp = Vec::new();
        visit(&rev, n, &mut seen, &mut comp);
        if !comp.is_empty() {
            comp.sort();
            out.push(comp);
        }
    }
    out
}

#[test]
fn modules_form_layers_without_cycles() {
    let g = read_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    let found = problems(&g, LAYERS, KNOWN_DEBT);
    if !found.is_empty() {
        let mut msg = String::from("module dependency check failed:\n");
        for p in &found {
            msg.push_str(&format!("  {p}\n"));
        }
        msg.push_str("graph:\n");
        for (a, bs) in &g {
            let list: Vec<&str> = bs.iter().map(String::as_str).collect();
            msg.push_str(&format!("  {a} -> {}\n", list.join(", ")));
        }
        panic!("{msg}");
    }
}

#[test]
fn architecture_md_draws_the_same_layers() {
    let doc =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
            .expect("read ARCHITECTURE.md");
    let section = doc
        .split("## Layers")
        .nth(1)
        .expect("ARCHITECTURE.md has a Layers section");
    let section = section.split("\n## ").next().unwrap_or(section);
    for layer in LAYERS {
        for m in *layer {
            assert!(
                section.contains(m),
                "ARCHITECTURE.md's Layers section does not place {m}"
            );
        }
    }
}

/// Writes a synthetic `src/` tree into a fresh temp dir.
fn synthetic(files: &[(&str, &str)]) -> std::path::PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "switchyard-layers-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    for (path, text) in files {
        let p = dir.join(path);
        std::fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
        std::fs::write(&p, text).expect("write");
    }
    dir
}

const TOY_LAYERS: &[&[&str]] = &[&["low"], &["mid"], &["high"]];

#[test]
fn checker_passes_a_layered_graph() {
    let dir = synthetic(&[
        ("lib.rs", "pub mod low; pub mod mid; pub mod high;"),
        ("low.rs", "pub struct L; // crate::high::H in a comment\n"),
        ("mid/mod.rs", "mod inner; use crate::low::L;\n"),
        (
            "mid/inner.rs",
            "use super::super::low; const S: &str = \"crate::high\";\n",
        ),
        (
            "high.rs",
            "use crate::{low::L, mid};\nfn f<'a>(x: &'a str) -> char { 'x' }\n",
        ),
    ]);
    let g = read_graph(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(
        g["high"],
        ["low", "mid"].iter().map(|s| s.to_string()).collect()
    );
    assert_eq!(g["mid"], ["low"].iter().map(|s| s.to_string()).collect());
    assert!(
        g["low"].is_empty(),
        "comments and strings are not references"
    );
    assert_eq!(problems(&g, TOY_LAYERS, &[]), Vec::<String>::new());
}

#[test]
fn checker_fails_on_a_cycle_and_an_upward_import() {
    // mid/inner.rs reaches up to high through `super::super`: an upward
    // edge that closes the cycle high -> mid -> high.
    let dir = synthetic(&[
        ("lib.rs", "pub mod low; pub mod mid; pub mod high;"),
        ("low.rs", "pub struct L;\n"),
        ("mid/mod.rs", "mod inner;\n"),
        ("mid/inner.rs", "use super::super::high::H;\n"),
        ("high.rs", "pub struct H; use crate::mid;\n"),
    ]);
    let g = read_graph(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let found = problems(&g, TOY_LAYERS, &[]);
    assert!(
        found.iter().any(|p| p.contains("cycle between high, mid")),
        "{found:?}"
    );
    assert!(
        found
            .iter()
            .any(|p| p.contains("mid (layer 1) imports high")),
        "{found:?}"
    );

    // Listed as debt, the same edge passes; a stale entry fails.
    let debt = [("mid", "high", "test")];
    assert_eq!(problems(&g, TOY_LAYERS, &debt), Vec::<String>::new());
    let stale = [("mid", "high", "test"), ("low", "mid", "gone")];
    let found = problems(&g, TOY_LAYERS, &stale);
    assert!(
        found
            .iter()
            .any(|p| p.contains("stale debt entry low -> mid")),
        "{found:?}"
    );

    // A module in no layer fails.
    let found = problems(&g, &[&["low"], &["mid"]], &debt);
    assert!(
        found
            .iter()
            .any(|p| p.contains("module high is in no layer")),
        "{found:?}"
    );
}
