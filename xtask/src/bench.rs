//! `cargo xtask bench [--quick]`: the criterion micro benchmarks, then every other section
//! (`stk-bench run`, release build) in one run; writes `BENCHMARKS.md` (full run) or prints
//! (`--quick`, the CI smoke: debug build, tiny counts; proves every section still runs and
//! measures nothing).
//! Starts a throwaway PostgreSQL (`.ci/postgres.sh`) for the tracker section when none is
//! given in `STK_BENCH_POSTGRES_URL` (or `STK_TEST_POSTGRES_URL`, as in CI).

use std::process::Command;

use crate::{cargo, root};

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let quick = args.iter().any(|a| a == "--quick");
    let extra: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| *a != "--quick")
        .collect();
    // Criterion: `--quick` runs each benchmark briefly; the full run uses short but real
    // measurement windows so the whole suite stays within a couple of minutes.
    let criterion: &[&str] = if quick {
        &[
            "--warm-up-time",
            "0.1",
            "--measurement-time",
            "0.2",
            "--sample-size",
            "10",
        ]
    } else {
        &["--warm-up-time", "1", "--measurement-time", "3"]
    };
    // The smoke reuses the debug build the tests made; real figures need release.
    let profile = if quick { "dev" } else { "release" };
    let mut bench_args = vec![
        "bench",
        "-p",
        "stk-bench",
        "--bench",
        "micro",
        "--profile",
        profile,
        "--",
    ];
    bench_args.extend_from_slice(criterion);
    cargo(&bench_args, &[])?;
    cargo(&["build", "-p", "stk-bench", "--profile", profile], &[])?;

    let binary = root()
        .join("target")
        .join(if quick { "debug" } else { "release" })
        .join("stk-bench");
    let mut command = vec![binary.to_string_lossy().into_owned(), "run".into()];
    if quick {
        command.push("--quick".into());
    } else {
        command.extend(["--out".into(), "BENCHMARKS.md".into()]);
    }
    command.extend(extra.iter().map(|s| (*s).to_owned()));
    let shown = command.join(" ");
    println!("\n==> {shown}");
    // A throwaway PostgreSQL for the tracker receiver, unless one is given.
    let given = std::env::var("STK_BENCH_POSTGRES_URL")
        .or_else(|_| std::env::var("STK_TEST_POSTGRES_URL"))
        .ok()
        .filter(|url| !url.is_empty());
    let script = if let Some(url) = given {
        format!(
            "STK_BENCH_POSTGRES_URL={} exec {}",
            quote(&[url]),
            quote(&command)
        )
    } else {
        format!(
            "trap stop_postgres EXIT; STK_PG_PORT=${{STK_BENCH_PG_PORT:-55439}} source .ci/postgres.sh && STK_BENCH_POSTGRES_URL=\"$STK_TEST_POSTGRES_URL\" {}",
            quote(&command)
        )
    };
    let status = Command::new("bash")
        .args(["-c", &script])
        .current_dir(root())
        .status()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("`{shown}` failed ({status})"))
    }
}

/// Single-quotes each word for bash.
fn quote(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ")
}
