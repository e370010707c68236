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
