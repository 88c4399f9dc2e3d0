//! The sections without a network: polling on the paused clock, the fake provider,
//! criterion's micro benchmarks and build cost.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::Sizes;
use super::processes::{bench, measured, output, root};

pub(crate) fn polling(out: &mut String, sizes: &Sizes) -> Result<(), String> {
    let run = measured(bench(&[
        "polling",
        "--payments",
        &sizes.polling.to_string(),
    ])?)?;
    let get = |k: &str| {
        run.extra.get(k).map_or("?".into(), |v| match v.as_f64() {
            Some(f) => format!("{f:.2}"),
            None => v.to_string(),
        })
    };
    let _ = writeln!(
        out,
        "## Polling: status calls per payment\n\n\
         {} fake-provider payments finishing at random times within 60 s, on tokio's paused clock (virtual time; the wall time is not the point). Fewer calls is better: providers rate-limit and ban.\n\n\
         | poller | status calls per payment (mean) | max | seen after the final time, p99 (s) |\n|---|---|---|---|\n\
         | `wait_for_final` (PollPolicy::default) | {} | {} | {} |\n\
         | tracker sweeper | {} | {} | {} |\n",
        run.requests,
        get("wait_for_final_calls_per_payment"),
        get("wait_for_final_max_calls"),
        get("wait_for_final_lag_p99_s"),
        get("sweeper_calls_per_payment"),
        get("sweeper_max_calls"),
        get("sweeper_lag_p99_s"),
    );
    Ok(())
}

pub(crate) fn fake(out: &mut String, sizes: &Sizes) -> Result<(), String> {
    let run = measured(bench(&["fake", "--payments", &sizes.fake.to_string()])?)?;
    let per = run
        .extra
        .get("bytes_per_payment")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0)
        .round();
    let _ = writeln!(
        out,
        "## Fake provider: {} payments to a final state (paused clock)\n\n\
         | payments | final | wall (s) | payments/s | peak RSS (MiB) | bytes per payment |\n|---|---|---|---|---|---|\n\
         | {} | {} | {:.2} | {:.0} | {:.1} | {per} |\n",
        run.requests,
        run.requests,
        run.ok,
        run.seconds,
        run.rps,
        run.peak_rss_kb as f64 / 1024.0
    );
    Ok(())
}

/// Criterion's estimates (mean ns) for every benchmark under `dir`.
pub(crate) fn micro(out: &mut String, dir: &Path) -> Result<(), String> {
    let mut rows = Vec::new();
    collect_estimates(dir, dir, &mut rows);
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let _ = writeln!(
        out,
        "## Micro (criterion): ns per operation\n\n\
         Mean of criterion's estimate (`cargo bench -p stk-bench --bench micro`). Targets: phone parsing < 100 ns; callback parse + verify < 5 µs.\n\n\
         | benchmark | ns/op |\n|---|---|"
    );
    if rows.is_empty() {
        let _ = writeln!(out, "| (no criterion results under {}) | |", dir.display());
    }
    for (name, ns) in rows {
        let _ = writeln!(out, "| {name} | {ns:.0} |");
    }
    out.push('\n');
    Ok(())
}

fn collect_estimates(root: &Path, dir: &Path, rows: &mut Vec<(String, f64)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if !path.is_dir()
            || path
                .file_name()
                .is_some_and(|n| n == "report" || n == "base" || n == "change")
        {
            continue;
        }
        let estimates = path.join("new/estimates.json");
        if let Some(ns) = std::fs::read_to_string(&estimates)
            .ok()
            .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
            .and_then(|v| {
                v.pointer("/mean/point_estimate")
                    .and_then(serde_json::Value::as_f64)
            })
        {
            let name = path
                .strip_prefix(root)
                .map_or_else(|_| path.display().to_string(), |p| p.display().to_string());
            rows.push((name, ns));
        } else {
            collect_estimates(root, &path, rows);
        }
    }
}

pub(crate) fn build_cost(out: &mut String, quick: bool) -> Result<(), String> {
    let crates = |args: &[&str]| -> Result<usize, String> {
        let tree = output(
            "cargo",
            &[
                &[
                    "tree", "--edges", "normal", "--prefix", "none", "--format", "{p}",
                ],
                args,
            ]
            .concat(),
        )?;
        let mut names: Vec<&str> = tree
            .lines()
            .map(|l| l.trim_end_matches(" (*)"))
            .filter(|l| !l.is_empty())
            .collect();
        names.sort_unstable();
        names.dedup();
        Ok(names.len())
    };
    let time_build = |args: &[&str], dir: &str| -> Result<f64, String> {
        let target = root().join("target").join(dir);
        let _ = std::fs::remove_dir_all(&target);
        let started = Instant::now();
        let status = Command::new("cargo")
            .args(["build", "--quiet"])
            .args(args)
            .env("CARGO_TARGET_DIR", &target)
            .status()
            .map_err(|e| e.to_string())?;
        let seconds = started.elapsed().as_secs_f64();
        let _ = std::fs::remove_dir_all(&target);
        if status.success() {
            Ok(seconds)
        } else {
            Err(format!("cargo build {args:?} failed"))
        }
    };
    let one = crates(&["-p", "stk-lipia"])?;
    let all = crates(&["--workspace"])?;
    let (one_s, all_s) = if quick {
        (
            "not timed (--quick)".to_owned(),
            "not timed (--quick)".to_owned(),
        )
    } else {
        let show = |r: Result<f64, String>| {
            r.map_or_else(|e| format!("n/a: {e}"), |s| format!("{s:.0} s"))
        };
        (
            show(time_build(&["-p", "stk-lipia"], "bench-build-one")),
            show(time_build(&["--workspace"], "bench-build-all")),
        )
    };
    let _ = writeln!(
        out,
        "## Build cost\n\n\
         A consumer depending on one adapter crate (`stk-lipia`) next to the whole workspace: crates in the normal dependency tree (including itself) and a clean debug build (`cargo build`, empty target directory, {} cores).\n\n\
         | what | crates | clean build |\n|---|---|---|\n| `stk-lipia` alone | {one} | {one_s} |\n| whole workspace | {all} | {all_s} |\n",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(())
}
