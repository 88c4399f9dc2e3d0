//! Project automation, run as `cargo xtask <command>`:
//!
//! - `ci`: format check, clippy with warnings denied, every test, docs with warnings denied,
//!   and the check that `stk-core` stays free of HTTP clients.
//! - `feature-matrix`: builds each crate alone and the facade and CLI with each single
//!   provider feature, proving "depend only on what you need".
//! - `bench [--quick]`: every benchmark side by side in one run; writes `BENCHMARKS.md`.
//! - `fuzz [--smoke]`: every fuzz target for a bounded time.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

mod bench;
mod fuzz;

/// Provider features of the facade (`stk`) and CLI (`stk-cli`).
const PROVIDER_FEATURES: &[&str] = &["mock", "kulmipay", "upesipay", "lipia", "daraja"];

/// Crates that must never appear in `stk-core`'s dependency tree.
const FORBIDDEN_IN_CORE: &[&str] = &["reqwest", "hyper", "axum"];

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("ci") => ci(),
        Some("feature-matrix") => feature_matrix(),
        Some("package") => package(),
        Some("fuzz") => fuzz::run(&args[1..]),
        Some("bench") => bench::run(&args[1..]),
        _ => {
            eprintln!("usage: cargo xtask <ci | feature-matrix | bench | fuzz>");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The workspace root: the parent of xtask's manifest directory, as `cargo run` reports it
/// at run time (the compile-time path may be stale if the checkout moved).
fn root() -> PathBuf {
    let manifest_dir = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    manifest_dir
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

fn cargo(args: &[&str], env: &[(&str, &str)]) -> Result<(), String> {
    let shown = args.join(" ");
    println!("\n==> cargo {shown}");
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(args)
        .envs(env.iter().copied())
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run cargo {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`cargo {shown}` failed ({status})"))
    }
}

fn ci() -> Result<(), String> {
    cargo(&["fmt", "--all", "--check"], &[])?;
    cargo(
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--all-features",
            "--",
            "-D",
            "warnings",
        ],
        &[],
    )?;
    cargo(&["test", "--workspace", "--all-features"], &[])?;
    cargo(
        &["doc", "--workspace", "--no-deps", "--all-features"],
        &[("RUSTDOCFLAGS", "-D warnings")],
    )?;
    // The examples a newcomer runs first: built by `cargo test`, run here on the fake provider.
    for (package, example) in [
        ("stk", "push_and_wait"),
        ("stk-tracker", "track_with_handler"),
    ] {
        cargo(&["run", "-q", "-p", package, "--example", example], &[])?;
    }
    core_has_no_http_client()?;
    println!("\nxtask ci: all checks passed");
    Ok(())
}

fn core_has_no_http_client() -> Result<(), String> {
    println!("\n==> cargo tree -p stk-core (must not contain {FORBIDDEN_IN_CORE:?})");
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args([
            "tree", "-p", "stk-core", "--edges", "normal", "--prefix", "none",
        ])
        .current_dir(root())
        .output()
        .map_err(|e| format!("cannot run cargo tree: {e}"))?;
    if !out.status.success() {
        return Err("cargo tree -p stk-core failed".into());
    }
    let tree = String::from_utf8_lossy(&out.stdout);
    for line in tree.lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        if FORBIDDEN_IN_CORE.contains(&name) {
            return Err(format!(
                "stk-core depends on {name}; keep HTTP clients out of the core"
            ));
        }
    }
    println!("stk-core: no HTTP client in its dependency tree");
    Ok(())
}

/// Names of the workspace's library and binary crates under `crates/`.
fn crate_names() -> Result<Vec<String>, String> {
    let dir = root().join("crates");
    let mut names = Vec::new();
    let entries =
        std::fs::read_dir(&dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    for entry in entries.flatten() {
        let manifest = entry.path().join("Cargo.toml");
        let Ok(text) = std::fs::read_to_string(&manifest) else {
            continue;
        };
        let name = text.lines().find_map(|l| {
            l.trim()
                .strip_prefix("name = ")
                .map(|v| v.trim_matches('"').to_owned())
        });
        if let Some(name) = name {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// `cargo package` for every publishable crate, in dependency order (cargo resolves the
/// workspace's unpublished crates locally), each built from its packaged sources.
/// The packaging's own target directory (what cargo builds from registry sources is never
/// fingerprinted by their content, so it must not mix with the workspace's builds).
const PACKAGE_TARGET: &str = "target/package-check";

fn package() -> Result<(), String> {
    forget_packaged_sources()?;
    let target = root().join(PACKAGE_TARGET);
    cargo(
        &[
            "package",
            "--workspace",
            "--exclude",
            "xtask",
            "--exclude",
            "stk-bench",
            "--locked",
        ],
        &[("CARGO_TARGET_DIR", &target.to_string_lossy())],
    )?;
    println!("\nxtask package: every publishable crate packages and builds from its package");
    Ok(())
}

/// Cargo unpacks each packaged crate into `$CARGO_HOME/registry/src/…/<name>-<version>` and
/// keeps what it built from it, reusing both on the next run as if a version never changed:
/// a second run would verify against the first run's sources. Remove our crates' copies (and
/// cached `.crate` files) and the packaging's target directory first, so every run verifies
/// the sources it packaged.
fn forget_packaged_sources() -> Result<(), String> {
    let built = root().join(PACKAGE_TARGET);
    if built.exists() {
        std::fs::remove_dir_all(&built)
            .map_err(|e| format!("cannot remove {}: {e}", built.display()))?;
    }
    let home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::Path::new(&h).join(".cargo")))
        .ok_or("neither CARGO_HOME nor HOME is set")?;
    let mut ours = crate_names()?;
    ours.push("stk-contract".to_owned());
    for kind in ["src", "cache"] {
        let Ok(registries) = std::fs::read_dir(home.join("registry").join(kind)) else {
            continue;
        };
        for registry in registries.flatten() {
            let Ok(entries) = std::fs::read_dir(registry.path()) else {
                continue;
            };
            for entry in entries.flatten() {
                let file = entry.file_name().to_string_lossy().into_owned();
                // `<name>-<version>` or `<name>-<version>.crate`, the version starting with a digit.
                let packaged = ours.iter().any(|name| {
                    file.strip_prefix(name.as_str())
                        .and_then(|rest| rest.strip_prefix('-'))
                        .is_some_and(|version| version.starts_with(|c: char| c.is_ascii_digit()))
                });
                if packaged {
                    let path = entry.path();
                    let removed = if path.is_dir() {
                        std::fs::remove_dir_all(&path)
                    } else {
                        std::fs::remove_file(&path)
                    };
                    removed.map_err(|e| format!("cannot remove {}: {e}", path.display()))?;
                }
            }
        }
    }
    Ok(())
}

fn feature_matrix() -> Result<(), String> {
    for name in crate_names()? {
        cargo(&["check", "-p", &name], &[])?;
    }
    for package in ["stk", "stk-cli"] {
        for feature in PROVIDER_FEATURES {
            cargo(
                &[
                    "check",
                    "-p",
                    package,
                    "--no-default-features",
                    "--features",
                    feature,
                ],
                &[],
            )?;
        }
    }
    // With every feature on (as in `ci`), nothing exercises "provider not compiled in".
    cargo(
        &[
            "test",
            "-p",
            "stk",
            "--no-default-features",
            "--features",
            "mock",
        ],
        &[],
    )?;
    core_has_no_http_client()?;
    println!("\nxtask feature-matrix: every crate and every single-feature build compiles");
    Ok(())
}
