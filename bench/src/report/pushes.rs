//! The push sections: the client against the static server (SDK, reqwest, Python, Node) and
//! many pushes in flight.

use std::fmt::Write as _;

use super::Sizes;
use super::processes::{Peers, Server, bench, measured};
use crate::providers::{PROVIDERS, raw_push};
use crate::stats::Run;

fn fmt_rps(run: &Result<Run, String>) -> String {
    match run {
        Ok(r) if r.errors == 0 => format!("{:.0}", r.rps),
        Ok(r) => format!("{:.0} ({} errors)", r.rps, r.errors),
        Err(_) => "n/a".into(),
    }
}

fn ratio(a: &Result<Run, String>, b: &Result<Run, String>) -> String {
    match (a, b) {
        (Ok(a), Ok(b)) if b.rps > 0.0 => format!("{:.2}", a.rps / b.rps),
        _ => "n/a".into(),
    }
}

fn latency(run: &Result<Run, String>) -> String {
    match run {
        Ok(r) => format!("{:.2} / {:.2}", r.p50_ms, r.p99_ms),
        Err(_) => "n/a".into(),
    }
}

fn memory(run: &Result<Run, String>) -> String {
    match run {
        Ok(r) => format!("{:.1}", r.peak_rss_kb as f64 / 1024.0),
        Err(_) => "n/a".into(),
    }
}

/// The better of several rounds (highest throughput).
fn best(runs: Vec<Result<Run, String>>) -> Result<Run, String> {
    let mut best: Result<Run, String> = Err("no run".into());
    for run in runs {
        best = match (best, run) {
            (Ok(b), Ok(r)) => Ok(if r.rps > b.rps { r } else { b }),
            (Err(_), r) | (r @ Ok(_), Err(_)) => r,
        };
    }
    best
}

pub(crate) fn client(out: &mut String, sizes: &Sizes, peers: &Peers) -> Result<(), String> {
    let server = Server::start(bench(&["static-server", "--workers", "1"])?, None)?;
    let base = server.base();
    let _ = writeln!(
        out,
        "## Client: `initiate` against a static loopback server\n\n\
         {} pushes per cell after a warm-up, concurrency c; requests/s (higher is better), latency p50 / p99 in ms, peak RSS of the client process in MiB. \
         `stk` = the SDK through `StkProvider::initiate` (request built and validated per call); `reqwest` = plain reqwest posting the same pre-built JSON (the floor); \
         `python` = the documented Python `requests` sample looped in threads (a new connection per call, as the sample does); `node` = the documented Node `fetch` sample looped in async workers. \
         stk and reqwest alternate for {} round(s), best kept. The server is one process with one runtime thread.\n",
        sizes.client_requests, sizes.client_rounds
    );
    let _ = writeln!(
        out,
        "| provider | c | stk req/s | reqwest req/s | **stk/reqwest** | python req/s | node req/s | stk/python | stk/node | stk p50/p99 | reqwest p50/p99 | python p50/p99 | node p50/p99 | stk MiB | reqwest MiB | python MiB | node MiB |"
    );
    let _ = writeln!(
        out,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    let mut ours_failed = Vec::new();
    for provider in PROVIDERS {
        let url = raw_push(provider, &base)?.url;
        for &c in sizes.concurrency {
            let run = |variant: &str| -> Result<Run, String> {
                measured(bench(&[
                    "client",
                    "--variant",
                    variant,
                    "--provider",
                    provider,
                    "--base-url",
                    &base,
                    "--concurrency",
                    &c.to_string(),
                    "--requests",
                    &sizes.client_requests.to_string(),
                    "--warmup",
                    &(sizes.client_requests / 10).max(5).to_string(),
                ])?)
            };
            let (mut stk, mut raw) = (Vec::new(), Vec::new());
            for _ in 0..sizes.client_rounds {
                stk.push(run("stk"));
                raw.push(run("reqwest"));
            }
            let (stk, raw) = (best(stk), best(raw));
            let python = peers.client("python-requests", provider, &url, c, sizes.client_requests);
            let node = peers.client("node-fetch", provider, &url, c, sizes.client_requests);
            for (name, r) in [
                ("stk", &stk),
                ("reqwest", &raw),
                ("python", &python),
                ("node", &node),
            ] {
                if let Err(e) = r {
                    eprintln!("stk-bench: client {provider} c={c} {name}: {e}");
                }
            }
            for r in [&stk, &raw] {
                match r {
                    Ok(run) if run.errors > 0 => {
                        ours_failed.push(format!(
                            "{provider} c={c} {}: {} errors",
                            run.tool, run.errors
                        ));
                    }
                    Err(e) => ours_failed.push(format!("{provider} c={c}: {e}")),
                    Ok(_) => {}
                }
            }
            let _ = writeln!(
                out,
                "| {provider} | {c} | {} | {} | **{}** | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                fmt_rps(&stk),
                fmt_rps(&raw),
                ratio(&stk, &raw),
                fmt_rps(&python),
                fmt_rps(&node),
                ratio(&stk, &python),
                ratio(&stk, &node),
                latency(&stk),
                latency(&raw),
                latency(&python),
                latency(&node),
                memory(&stk),
                memory(&raw),
                memory(&python),
                memory(&node)
            );
        }
    }
    out.push('\n');
    if ours_failed.is_empty() {
        Ok(())
    } else {
        Err(ours_failed.join("; "))
    }
}

pub(crate) fn inflight(out: &mut String, sizes: &Sizes) -> Result<(), String> {
    let server = Server::start(
        bench(&["static-server", "--delay-ms", "200", "--workers", "2"])?,
        None,
    )?;
    let pushes = sizes.inflight.to_string();
    let stk = measured(bench(&[
        "inflight",
        "--provider",
        "lipia",
        "--base-url",
        &server.base(),
        "--pushes",
        &pushes,
    ])?)?;
    // The floor: plain reqwest with the same number in flight against the same server.
    let raw = measured(bench(&[
        "client",
        "--variant",
        "reqwest",
        "--provider",
        "lipia",
        "--base-url",
        &server.base(),
        "--concurrency",
        &pushes,
        "--requests",
        &pushes,
        "--warmup",
        "0",
        "--workers",
        "2",
    ])?);
    let per_push = stk
        .extra
        .get("bytes_per_inflight_push")
        .and_then(serde_json::Value::as_f64)
        .unwrap_or(0.0);
    let _ = writeln!(
        out,
        "## In flight: {} pushes at once, server answers after 200 ms\n\n\
         All pushes started together (Lipia's wire format), through one SDK client and, as the floor, through plain reqwest with as many in flight. \
         The server is one process with two runtime threads; every in-flight request holds its own connection (HTTP/1.1). Target: SDK wall time within 3x one latency (600 ms).\n\n\
         | client | ok | errors | wall (ms) | wall / 200 ms | p50 / p99 (ms) | peak RSS (MiB) | memory per in-flight push |\n|---|---|---|---|---|---|---|---|",
        sizes.inflight
    );
    let row = |out: &mut String, name: &str, run: &Run, per_push: Option<f64>| {
        let _ = writeln!(
            out,
            "| {name} | {} | {} | {:.0} | {:.2}x | {:.0} / {:.0} | {:.1} | {} |",
            run.ok,
            run.errors,
            run.seconds * 1000.0,
            run.seconds / 0.2,
            run.p50_ms,
            run.p99_ms,
            run.peak_rss_kb as f64 / 1024.0,
            per_push.map_or("-".into(), |b| format!("{:.1} KiB", b / 1024.0))
        );
    };
    row(out, "stk", &stk, Some(per_push));
    match &raw {
        Ok(raw) => row(out, "reqwest", raw, None),
        Err(e) => {
            let _ = writeln!(out, "| reqwest | n/a ({e}) | | | | | | |");
        }
    }
    out.push('\n');
    if stk.errors > 0 {
        return Err(format!("{} of the in-flight pushes failed", stk.errors));
    }
    Ok(())
}
