//! Every Rust example of README.md and of the guide (`moesif-lambda/docs/guide.md`, the crate docs)
//! compiles in a new crate that has exactly the dependencies the README's install block lists (doctests
//! build with the dev-dependencies, which hide a missing line), and the guide lists the same ones.
//!
//! The crate is written under `target/readme-check/` (the path to `moesif-lambda` pointed at this
//! repository, the workspace's `Cargo.lock` copied so versions match) and built with its own target
//! directory: the outer `cargo test` holds the workspace's.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The fenced blocks of `markdown`: (info string, text).
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_owned(), String::new())),
            (Some(_), Some(_)) => blocks.extend(open.take()),
            (Some((_, text)), None) => {
                text.push_str(line);
                text.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The `[dependencies]` of the README's install block, `moesif-lambda` pointed at this repository.
fn install_dependencies(blocks: &[(String, String)], repo: &Path) -> String {
    let install = blocks
        .iter()
        .find(|(info, text)| info == "toml" && text.contains("[dependencies]"))
        .map(|(_, text)| text.clone())
        .expect("README.md has a ```toml install block with [dependencies]");
    install
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("moesif-lambda") {
                let path = repo.join("moesif-lambda");
                // The features the block turns on, kept.
                let features = line
                    .split_once("features = [")
                    .and_then(|(_, rest)| rest.split_once(']'))
                    .map(|(list, _)| format!(", features = [{list}]"))
                    .unwrap_or_default();
                format!(
                    "moesif-lambda = {{ path = {:?}{features} }}",
                    path.display().to_string()
                )
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A README block as a compilable example: hidden lines (`# `) shown, and wrapped in `fn main` when it
/// has none (as rustdoc does).
fn example_source(text: &str) -> String {
    let shown: String = text
        .lines()
        .map(|line| match line.trim_start().strip_prefix("# ") {
            Some(rest) => rest.to_owned(),
            None if line.trim() == "#" => String::new(),
            None => line.to_owned(),
        })
        .collect::<Vec<_>>()
        .join("\n");
    let header = "#![allow(unused, dead_code, clippy::all)]\n";
    if shown.contains("fn main(") {
        format!("{header}{shown}\n")
    } else {
        format!("{header}fn main() {{\n    let _ = (|| {{\n{shown}\n    }})();\n}}\n")
    }
}

#[test]
fn readme_examples_compile_with_the_install_block_alone() {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("README.md");
    let guide = std::fs::read_to_string(repo.join("moesif-lambda/docs/guide.md")).expect("the guide");
    let blocks = fenced_blocks(&readme);
    let dependencies = install_dependencies(&blocks, &repo);
    let guide_blocks = fenced_blocks(&guide);
    assert_eq!(
        install_dependencies(&guide_blocks, &repo),
        dependencies,
        "the guide's install block is the README's"
    );
    let examples: Vec<String> = blocks
        .iter()
        .chain(&guide_blocks)
        .filter(|(info, _)| {
            let mut parts = info.split(',').map(str::trim);
            parts.next() == Some("rust") && !parts.any(|p| p == "ignore" || p == "compile_fail")
        })
        .map(|(_, text)| example_source(text))
        .collect();
    assert!(
        examples.len() >= 10,
        "the README's and the guide's Rust examples were found"
    );

    let scratch = repo.join("target/readme-check");
    let _ = std::fs::remove_dir_all(scratch.join("examples"));
    std::fs::create_dir_all(scratch.join("examples")).expect("scratch crate folder");
    std::fs::create_dir_all(scratch.join("src")).expect("scratch crate folder");
    let manifest = format!(
        "[package]\nname = \"readme-check\"\nversion = \"0.0.0\"\nedition = \"2021\"\npublish = false\n\n\
         [workspace]\n\n{dependencies}\n"
    );
    std::fs::write(scratch.join("Cargo.toml"), manifest).expect("write Cargo.toml");
    std::fs::write(scratch.join("src/lib.rs"), "").expect("write lib.rs");
    let _ = std::fs::copy(repo.join("Cargo.lock"), scratch.join("Cargo.lock"));
    for (n, source) in examples.iter().enumerate() {
        std::fs::write(scratch.join(format!("examples/readme_{n:02}.rs")), source).expect("write example");
    }

    let output = Command::new(env!("CARGO"))
        .args(["build", "--examples", "--quiet"])
        .current_dir(&scratch)
        .env("CARGO_TARGET_DIR", scratch.join("target"))
        .env_remove("RUSTFLAGS")
        .output()
        .expect("run cargo");
    assert!(
        output.status.success(),
        "the README's examples do not build with its install block alone:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
