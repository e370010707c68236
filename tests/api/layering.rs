//! The layers of docs/design.md §8, checked on the source text: each layer
//! imports only what it may, and the modules of the HTTP layer import each
//! other without a cycle. A new `use` that breaks a rule fails here.

use std::{
    collections::{BTreeMap, BTreeSet},
    fs,
    path::{Path, PathBuf},
};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

fn source_dir(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// Code lines only: `//` comments (and doc comments) may name anything.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

#[track_caller]
fn assert_never_mentions(layer: &str, forbidden: &[&str]) {
    let mut offences = Vec::new();
    for file in rust_files(&source_dir(layer)) {
        let code = code(&file);
        for needle in forbidden {
            if code.contains(needle) {
                offences.push(format!("{} mentions `{needle}`", file.display()));
            }
        }
    }
    assert!(offences.is_empty(), "{layer} breaks its layering rule:\n{}", offences.join("\n"));
}

#[test]
fn the_domain_is_pure() {
    assert_never_mentions(
        "src/domain",
        &["axum", "sea_orm", "utoipa", "serde", "entity::", "crate::http", "crate::service", "crate::store", "tokio"],
    );
}

#[test]
fn http_talks_to_services_only() {
    assert_never_mentions("src/http", &["crate::store", "sea_orm", "entity::", "store::"]);
}

#[test]
fn services_know_nothing_of_http() {
    assert_never_mentions("src/service", &["axum", "utoipa", "crate::http", "entity::"]);
}

#[test]
fn the_store_is_the_bottom_layer() {
    assert_never_mentions("src/store", &["axum", "utoipa", "crate::http", "crate::service"]);
}

#[test]
fn migrations_never_import_the_entities() {
    assert_never_mentions("migration/src", &["entity::", "use entity"]);
}

/// The top-level names of a `use` group body such as `a, b::{c, d}, e::f`.
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut item = String::new();
    for ch in group.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => heads.push(std::mem::take(&mut item)),
            _ if depth == 0 => item.push(ch),
            _ => {}
        }
    }
    heads.push(item);
    heads
        .iter()
        .filter_map(|item| {
            let head = item.trim().split("::").next()?.trim().to_owned();
            (!head.is_empty()).then_some(head)
        })
        .collect()
}

/// The modules of `src/http` that `code` names, given the path prefixes
/// that lead to `src/http` from where the code is.
fn http_modules_named(code: &str, prefixes: &[&str]) -> BTreeSet<String> {
    let mut named = BTreeSet::new();
    for prefix in prefixes {
        let mut rest = code;
        while let Some(at) = rest.find(prefix) {
            let after = &rest[at + prefix.len()..];
            if let Some(group) = after.strip_prefix('{') {
                let mut depth = 1;
                let end = group
                    .char_indices()
                    .find(|(_, c)| {
                        match c {
                            '{' => depth += 1,
                            '}' => depth -= 1,
                            _ => {}
                        }
                        depth == 0
                    })
                    .map_or(group.len(), |(i, _)| i);
                named.extend(group_heads(&group[..end]));
            } else {
                let name: String = after.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                named.insert(name);
            }
            rest = after;
        }
    }
    named.retain(|name| !name.is_empty() && name != "self" && name != "super");
    named
}

#[test]
fn the_http_modules_have_no_import_cycle() {
    let root = source_dir("src/http");
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&root) {
        let relative = file.strip_prefix(&root).expect("under src/http");
        let parts: Vec<_> = relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
        if parts == ["mod"] {
            continue; // the layer's root declares every module
        }
        let module = parts[0].clone();
        // `super::` leads to src/http from a file directly in it; from a
        // file one level down it leads to its own module.
        let prefixes: &[&str] =
            if parts.len() == 1 { &["super::", "crate::http::"] } else { &["super::super::", "crate::http::"] };
        let named = http_modules_named(&code(&file), prefixes);
        edges.entry(module.clone()).or_default().extend(named.into_iter().filter(|m| *m != module));
    }
    fn visit(
        module: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            panic!("import cycle in src/http: {} -> {module}", path[at..].join(" -> "));
        }
        if !done.insert(module.to_owned()) {
            return;
        }
        path.push(module.to_owned());
        for next in edges.get(module).into_iter().flatten() {
            visit(next, edges, path, done);
        }
        path.pop();
    }
    assert!(edges.get("precondition").is_some_and(|e| e.contains("problem")), "the scan finds imports");
    let mut done = BTreeSet::new();
    for module in edges.keys() {
        visit(module, &edges, &mut Vec::new(), &mut done);
    }
}

/// The module a file of `src/` is (`service::bookings` for
/// `src/service/bookings/mod.rs` or `src/service/bookings.rs`; `lib` and
/// `main` are the root).
fn module_of(root: &Path, file: &Path) -> Vec<String> {
    let relative = file.strip_prefix(root).expect("under src");
    let mut parts: Vec<String> =
        relative.iter().map(|p| p.to_string_lossy().trim_end_matches(".rs").to_owned()).collect();
    if parts.last().is_some_and(|p| p == "mod") || parts == ["lib"] || parts == ["main"] {
        parts.pop();
    }
    parts
}

/// The paths a `use` tree names, expanded: `a::{b, c::{d, e}}` is `a::b`,
/// `a::c::d`, `a::c::e` (renames dropped).
fn expand_use(prefix: &[String], tree: &str) -> Vec<Vec<String>> {
    let mut items = Vec::new();
    let (mut depth, mut item) = (0, String::new());
    for ch in tree.chars() {
        match ch {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut item));
                continue;
            }
            _ => {}
        }
        item.push(ch);
    }
    items.push(item);
    let mut paths = Vec::new();
    for item in items.iter().map(|i| i.trim()).filter(|i| !i.is_empty()) {
        let segments = |text: &str| -> Vec<String> {
            prefix
                .iter()
                .cloned()
                .chain(text.split("::").map(str::trim).filter(|s| !s.is_empty()).map(String::from))
                .collect()
        };
        match item.find('{') {
            Some(open) if item.ends_with('}') => {
                paths.extend(expand_use(&segments(&item[..open]), &item[open + 1..item.len() - 1]));
            }
            _ => paths.push(segments(item.split(" as ").next().unwrap_or(item))),
        }
    }
    paths
}

/// Every path `code` names through `use` and inline `crate::`, `super::`
/// and `self::` paths (tests excluded: they may reach anywhere).
fn named_paths(code: &str) -> Vec<Vec<String>> {
    let code = code.split("#[cfg(test)]").next().unwrap_or(code);
    let mut paths = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("use ") {
        let before = rest[..at].chars().last();
        rest = &rest[at + 4..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let end = rest.find(';').unwrap_or(rest.len());
        paths.extend(expand_use(&[], &rest[..end]));
    }
    let words = regex::Regex::new(r"(?:^|[^\w:])((?:crate|super|self)(?:::\w+)+|[a-z_]\w*(?:::\w+)+)").expect("regex");
    for found in words.captures_iter(code) {
        let path = found.get(1).expect("group 1");
        // `a::b::{...}` is a `use` group, read above item by item.
        if !code[path.end()..].starts_with("::{") {
            paths.push(path.as_str().split("::").map(String::from).collect());
        }
    }
    paths
}

/// The file-level import graph of `src/`: which files each file's code
/// refers to. A path through a `pub use` re-export leads to the file the
/// item really lives in (a facade `mod.rs` is not a dependency of its own).
fn import_graph() -> BTreeMap<Vec<String>, BTreeSet<Vec<String>>> {
    let root = source_dir("src");
    let files: BTreeMap<Vec<String>, String> =
        rust_files(&root).into_iter().map(|file| (module_of(&root, &file), code(&file))).collect();
    // Re-exports: (module, name) -> the absolute path it stands for.
    let mut aliases: BTreeMap<(Vec<String>, String), Vec<String>> = BTreeMap::new();
    for (module, code) in &files {
        let mut rest = code.as_str();
        while let Some(at) = rest.find("pub use ").or_else(|| rest.find("pub(crate) use ")) {
            rest = &rest[at..];
            let start = rest.find("use ").expect("found") + 4;
            let end = rest.find(';').unwrap_or(rest.len());
            for path in expand_use(&[], &rest[start..end]) {
                if let Some(name) = path.last() {
                    aliases.insert((module.clone(), name.clone()), absolute(module, &path, &files));
                }
            }
            rest = &rest[end..];
        }
    }
    let mut graph = BTreeMap::new();
    for (module, code) in &files {
        let mut targets = BTreeSet::new();
        for path in named_paths(code) {
            if let Some(target) = resolve(module, &path, &files, &aliases, 0).filter(|t| t != module) {
                targets.insert(target);
            }
        }
        graph.insert(module.clone(), targets);
    }
    graph
}

/// `path` as written in `module`, made absolute (from the crate root);
/// paths that start elsewhere (`std::`, a crate) are returned as written.
fn absolute(module: &[String], path: &[String], files: &BTreeMap<Vec<String>, String>) -> Vec<String> {
    let mut current: Vec<String> = Vec::new();
    let mut rest = path;
    match path.first().map(String::as_str) {
        Some("crate") => rest = &path[1..],
        Some("super") => {
            current = module.to_vec();
            while rest.first().is_some_and(|s| s == "super") {
                current.pop();
                rest = &rest[1..];
            }
        }
        Some("self") => {
            current = module.to_vec();
            rest = &path[1..];
        }
        Some(first) => {
            let child: Vec<String> = module.iter().cloned().chain([first.to_owned()]).collect();
            if !files.contains_key(&child) {
                return path.to_vec();
            }
            current = module.to_vec();
        }
        None => {}
    }
    current.extend(rest.iter().cloned());
    current
}

/// The file `path` (written in `module`) leads to, following re-exports.
fn resolve(
    module: &[String],
    path: &[String],
    files: &BTreeMap<Vec<String>, String>,
    aliases: &BTreeMap<(Vec<String>, String), Vec<String>>,
    depth: usize,
) -> Option<Vec<String>> {
    let absolute = absolute(module, path, files);
    if depth > 8
        || (path.first().is_some_and(|s| !["crate", "super", "self"].contains(&s.as_str())) && absolute == path)
    {
        return None;
    }
    let mut file: Vec<String> = Vec::new();
    for (index, segment) in absolute.iter().enumerate() {
        let deeper: Vec<String> = file.iter().cloned().chain([segment.clone()]).collect();
        if files.contains_key(&deeper) {
            file = deeper;
            continue;
        }
        if let Some(target) = aliases.get(&(file.clone(), segment.clone())) {
            let mut through: Vec<String> = vec!["crate".into()];
            through.extend(target.iter().cloned());
            through.extend(absolute[index + 1..].iter().cloned());
            return resolve(&[], &through, files, aliases, depth + 1).or(Some(file));
        }
        break;
    }
    files.contains_key(&file).then_some(file)
}

#[test]
fn no_two_files_of_src_import_each_other_however_far_round() {
    let graph = import_graph();
    let node = |m: &[String]| if m.is_empty() { "lib".to_owned() } else { m.join("/") };
    assert!(
        graph.get(&vec!["service".to_owned(), "slots".to_owned()]).is_some_and(|t| t.len() > 3),
        "the scan finds imports: {:?}",
        graph.get(&vec!["service".to_owned(), "slots".to_owned()])
    );
    fn visit(
        module: &Vec<String>,
        graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
        path: &mut Vec<Vec<String>>,
        done: &mut BTreeSet<Vec<String>>,
        cycles: &mut Vec<Vec<Vec<String>>>,
    ) {
        if let Some(at) = path.iter().position(|m| m == module) {
            cycles.push(path[at..].to_vec());
            return;
        }
        if !done.insert(module.clone()) {
            return;
        }
        path.push(module.clone());
        for next in graph.get(module).into_iter().flatten() {
            visit(next, graph, path, done, cycles);
        }
        path.pop();
    }
    let mut cycles = Vec::new();
    let mut done = BTreeSet::new();
    for module in graph.keys() {
        visit(module, &graph, &mut Vec::new(), &mut done, &mut cycles);
    }
    let shown: Vec<String> = cycles
        .iter()
        .map(|c| c.iter().map(|m| node(m)).chain([node(&c[0])]).collect::<Vec<_>>().join(" -> "))
        .collect();
    assert!(shown.is_empty(), "files of src/ that import each other:\n{}", shown.join("\n"));
}
