//! `stk-bench run`: every section side by side in one run, printed as the markdown of
//! `BENCHMARKS.md`. Servers, clients and receivers run as separate processes (this binary's
//! subcommands, Python, Node), so each has its own peak memory and nobody shares a runtime.

use std::fmt::Write as _;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Instant;

use crate::providers::{PROVIDERS, callback, raw_push};
use crate::stats::Run;

/// `stk-bench run`.
#[derive(clap::Args)]
pub(crate) struct Options {
    /// Tiny counts: proves every section still runs (CI), measures nothing.
    #[arg(long)]
    quick: bool,
    /// Write the report here as well as to stdout.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Criterion's output directory, read for the micro-benchmark table.
    #[arg(long, default_value = "target/criterion")]
    criterion: PathBuf,
    /// PostgreSQL for the tracker receiver (else `STK_BENCH_POSTGRES_URL`,
    /// `STK_TEST_POSTGRES_URL`; the section is skipped without one).
    #[arg(long)]
    postgres: Option<String>,
    /// Sections to run (default: all): client, inflight, callbacks, polling, micro, fake, build.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One section of the report: appends its table.
type Section<'a> = dyn Fn(&mut String) -> Result<(), String> + 'a;

/// A receiver to start: its command and, for uvicorn, the fixed port it was given.
type Starter = Result<(Command, Option<u16>), String>;

/// The counts of one run mode.
struct Sizes {
    client_requests: u64,
    client_rounds: usize,
    concurrency: &'static [u64],
    inflight: u64,
    callbacks: u64,
    polling: u64,
    fake: u64,
}

const FULL: Sizes = Sizes {
    client_requests: 3000,
    client_rounds: 2,
    concurrency: &[1, 16, 64],
    inflight: 10_000,
    callbacks: 5000,
    polling: 1000,
    fake: 1_000_000,
};

const QUICK: Sizes = Sizes {
    client_requests: 40,
    client_rounds: 1,
    concurrency: &[1, 16],
    inflight: 200,
    callbacks: 200,
    polling: 50,
    fake: 1000,
};

/// Runs the sections and prints the report.
pub(crate) fn run(options: Options) -> Result<(), String> {
    let sizes = if options.quick { QUICK } else { FULL };
    let wanted = |s: &str| options.only.is_empty() || options.only.iter().any(|o| o == s);
    let mut out = header(&options)?;
    let peers = Peers::set_up();
    if let Err(e) = &peers.python {
        eprintln!("stk-bench: Python peers unavailable: {e}");
    }
    let sections: [(&str, &Section<'_>); 7] = [
        ("client", &|out| client(out, &sizes, &peers)),
        ("inflight", &|out| inflight(out, &sizes)),
        ("callbacks", &|out| {
            callbacks(out, &sizes, &peers, postgres_url(&options))
        }),
        ("polling", &|out| polling(out, &sizes)),
        ("micro", &|out| micro(out, &options.criterion)),
        ("fake", &|out| fake(out, &sizes)),
        ("build", &|out| build_cost(out, options.quick)),
    ];
    let mut failed = Vec::new();
    for (name, section) in sections {
        if !wanted(name) {
            continue;
        }
        eprintln!("stk-bench: {name}…");
        let started = Instant::now();
        if let Err(e) = section(&mut out) {
            let _ = writeln!(out, "\n**{name}: failed to run: {e}**\n");
            eprintln!("stk-bench: {name} failed: {e}");
            failed.push(name);
        }
        eprintln!(
            "stk-bench: {name} took {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    print!("{out}");
    if let Some(path) = options.out {
        std::fs::write(&path, &out).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    }
    // A section that cannot run fails the command (the CI smoke exists to catch that); a peer
    // that cannot be installed here only shows as n/a.
    if failed.is_empty() {
        Ok(())
    } else {
        Err(format!("sections failed: {}", failed.join(", ")))
    }
}

fn postgres_url(options: &Options) -> Option<String> {
    options
        .postgres
        .clone()
        .or_else(|| std::env::var("STK_BENCH_POSTGRES_URL").ok())
        .or_else(|| std::env::var("STK_TEST_POSTGRES_URL").ok())
        .filter(|u| !u.is_empty())
}

fn header(options: &Options) -> Result<String, String> {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines().find_map(|l| {
                l.strip_prefix("model name")
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
            })
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()
                .map(|l| l.split_whitespace().nth(1).unwrap_or("0").to_owned())
        })
        .and_then(|kb| kb.parse::<u64>().ok())
        .map_or("?".into(), |kb| format!("{} GiB", kb / 1024 / 1024));
    let rustc = output("rustc", &["--version"]).unwrap_or_else(|_| "rustc ?".into());
    let python = output("python3", &["--version"]).unwrap_or_else(|_| "no python3".into());
    let node = output("node", &["--version"]).unwrap_or_else(|_| "no node".into());
    let mut out = String::new();
    let _ = writeln!(out, "# Benchmarks\n");
    let _ = writeln!(
        out,
        "Machine: {cpu}, {cores} cores, {memory}; {rustc}; {python}; Node {node}.  \nCommand: `cargo xtask bench{}` ({}), one run; every table below comes from it.  \nServers, clients and receivers are separate processes on 127.0.0.1 sharing the {cores} cores, so the figures are relative, not capacity claims. Nothing here is asserted by a test.\n",
        if options.quick { " --quick" } else { "" },
        if options.quick {
            "debug build, tiny counts: a smoke, not figures"
        } else {
            "release build"
        }
    );
    Ok(out)
}

fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text.is_empty() {
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    } else {
        Ok(text)
    }
}

/// This binary, to start its subcommands.
fn me() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| e.to_string())
}

/// The repository root (where `bench/peers` is): the current directory under cargo.
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A started server: its port; killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `command`, which prints its port (or `ready`) as its first line.
    fn start(mut command: Command, fixed_port: Option<u16>) -> Result<Self, String> {
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).map_err(|e| e.to_string())?;
        let port = match fixed_port {
            Some(port) => port,
            None => first
                .trim()
                .parse()
                .map_err(|_| format!("{command:?} printed {first:?}, not a port"))?,
        };
        // Drain the rest of its stdout so it never blocks writing.
        std::thread::spawn(move || reader.lines().map_while(Result::ok).for_each(drop));
        Ok(Self { child, port })
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to completion and reads its last stdout line as a [`Run`].
fn measured(mut command: Command) -> Result<Run, String> {
    let shown = format!("{command:?}");
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{shown} printed no result ({})", out.status))?;
    serde_json::from_str(line).map_err(|e| format!("{shown}: {e}: {line}"))
}

fn bench(args: &[&str]) -> Result<Command, String> {
    let mut command = Command::new(me()?);
    command.args(args);
    Ok(command)
}

/// The Python and Node peers, if they can be set up here.
struct Peers {
    python: Result<PathBuf, String>,
    node: Result<PathBuf, String>,
}

impl Peers {
    fn set_up() -> Self {
        let script = root().join("bench/peers/setup.sh");
        let python = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| e.to_string())
            .and_then(|out| {
                let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if out.status.success() && !path.is_empty() {
                    Ok(PathBuf::from(path))
                } else {
                    Err(format!("{} failed ({})", script.display(), out.status))
                }
            });
        let node = output("node", &["--version"]).map(|_| PathBuf::from("node"));
        Self { python, node }
    }

    fn client(
        &self,
        tool: &str,
        provider: &str,
        url: &str,
        concurrency: u64,
        requests: u64,
    ) -> Result<Run, String> {
        let (program, script) = match tool {
            "python-requests" => (self.python.clone()?, "client_requests.py"),
            _ => (self.node.clone()?, "client_fetch.mjs"),
        };
        let mut command = Command::new(program);
        command
            .arg(root().join("bench/peers").join(script))
            .args(["--provider", provider, "--url", url])
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--requests",
                &requests.to_string(),
            ])
            .args(["--warmup", &(requests / 10).max(5).to_string()]);
        measured(command)
    }
}

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

fn client(out: &mut String, sizes: &Sizes, peers: &Peers) -> Result<(), String> {
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

fn inflight(out: &mut String, sizes: &Sizes) -> Result<(), String> {
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

/// Posts `total` documented callbacks (the four providers in turn) at `concurrency`.
fn load_callbacks(base: &str, total: u64, concurrency: u64) -> Result<Run, String> {
    let runtime = crate::runtime(1)?;
    let bodies: Vec<(String, Vec<u8>)> = (0..total)
        .map(|i| {
            callback(PROVIDERS[(i % 4) as usize], i)
                .map(|(target, body)| (format!("{base}{target}"), body))
        })
        .collect::<Result<_, _>>()?;
    let bodies = Arc::new(bodies);
    runtime.block_on(async move {
        let http = reqwest::Client::new();
        let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let started = Instant::now();
        let workers: Vec<_> = (0..concurrency)
            .map(|_| {
                let (http, next, bodies) = (http.clone(), Arc::clone(&next), Arc::clone(&bodies));
                tokio::spawn(async move {
                    let (mut latencies, mut errors) = (Vec::new(), 0u64);
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some((url, body)) = bodies.get(i) else {
                            break;
                        };
                        let at = Instant::now();
                        let sent = http
                            .post(url)
                            .header("content-type", "application/json")
                            .body(body.clone())
                            .send()
                            .await;
                        let ok = match sent {
                            Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                            Err(_) => false,
                        };
                        if ok {
                            latencies.push(at.elapsed());
                        } else {
                            errors += 1;
                        }
                    }
                    (latencies, errors)
                })
            })
            .collect();
        let (mut latencies, mut errors) = (Vec::new(), 0);
        for w in workers {
            if let Ok((l, e)) = w.await {
                latencies.extend(l);
                errors += e;
            }
        }
        Ok(Run::from_latencies(
            "load",
            latencies,
            errors,
            started.elapsed(),
        ))
    })
}

fn callbacks(
    out: &mut String,
    sizes: &Sizes,
    peers: &Peers,
    postgres: Option<String>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("stk-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let concurrency = 64;
    let mut rows = Vec::new();
    let tracker_db = dir.join("tracker.db");
    let fastapi_db = dir.join("fastapi.db");
    let mut receivers: Vec<(&str, Starter)> = vec![
        (
            "ceiling: static answer, no parsing",
            bench(&["static-server"]).map(|c| (c, None)),
        ),
        (
            "stk parse + ack",
            bench(&["receiver", "--mode", "parse"]).map(|c| (c, None)),
        ),
        (
            "stk tracker, SQLite",
            bench(&[
                "receiver",
                "--mode",
                "sqlite",
                "--database",
                &tracker_db.to_string_lossy(),
            ])
            .map(|c| (c, None)),
        ),
    ];
    if let Some(url) = &postgres {
        receivers.push((
            "stk tracker, PostgreSQL",
            bench(&["receiver", "--mode", "postgres", "--database", url]).map(|c| (c, None)),
        ));
    }
    // uvicorn takes a fixed port and prints `ready`.
    let fastapi = |sqlite: Option<&Path>| -> Starter {
        let port = free_port()?;
        let mut c = Command::new(peers.python.clone()?);
        c.arg(root().join("bench/peers/receiver_fastapi.py")).args([
            "--port",
            &port.to_string(),
            "--kulmipay-challenge",
            crate::providers::CALLBACK_SECRET,
        ]);
        if let Some(path) = sqlite {
            c.arg("--sqlite").arg(path);
        }
        Ok((c, Some(port)))
    };
    receivers.push(("FastAPI parse + ack", fastapi(None)));
    receivers.push(("FastAPI + SQLite row", fastapi(Some(&fastapi_db))));
    let stored_before_pg = postgres
        .as_deref()
        .and_then(|url| count_url(url, "SELECT COUNT(*) FROM stk_inbox"));
    for (name, command) in receivers {
        let result = command.and_then(|(command, port)| {
            let server = Server::start(command, port)?;
            let load = load_callbacks(&server.base(), sizes.callbacks, concurrency)?;
            drop(server);
            Ok(load)
        });
        if let Err(e) = &result {
            eprintln!("stk-bench: callbacks {name}: {e}");
        }
        rows.push((name, result));
    }
    let stored_fastapi = count_rows(&fastapi_db);
    let stored_tracker = count_inbox(&tracker_db);
    let stored_pg = postgres
        .as_deref()
        .and_then(|url| count_url(url, "SELECT COUNT(*) FROM stk_inbox"))
        .map(|after| after - stored_before_pg.unwrap_or(0));
    let _ = std::fs::remove_dir_all(&dir);
    let _ = writeln!(
        out,
        "## Callbacks: a burst of documented callbacks\n\n\
         {} callbacks (KulmiPay, UpesiPay, Lipia and Daraja in turn, each with its verification: challenge or URL token) from a loopback load generator at {concurrency} connections (keep-alive). \
         Receivers run as their own process with one runtime thread (uvicorn: one worker). `stk parse + ack` verifies and parses with the SDK and answers the documented acknowledgement; \
         `stk tracker` stores the raw callback durably in the tracker's inbox and acknowledges (processing happens after, as in production). The ceiling row is the same load against a server that answers without reading the body: what the load generator and loopback allow on this machine. Targets: parse + ack at least 10x FastAPI; tracker on SQLite at least 3x FastAPI + SQLite, nothing lost.\n\n\
         | receiver | callbacks/s | p50 / p99 (ms) | acknowledged | errors | stored |\n|---|---|---|---|---|---|",
        sizes.callbacks
    );
    let base_rps = |n: &str| {
        rows.iter()
            .find(|(name, _)| *name == n)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|r| r.rps)
    };
    for (name, result) in &rows {
        let stored = match *name {
            "stk tracker, SQLite" => stored_tracker.map_or("?".into(), |n| n.to_string()),
            "FastAPI + SQLite row" => stored_fastapi.map_or("?".into(), |n| n.to_string()),
            "stk tracker, PostgreSQL" => stored_pg.map_or("?".into(), |n| n.to_string()),
            _ => "-".into(),
        };
        match result {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {name} | {:.0} | {:.2} / {:.2} | {} | {} | {stored} |",
                    r.rps, r.p50_ms, r.p99_ms, r.ok, r.errors
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| {name} | n/a ({}) | | | | |",
                    e.chars().take(80).collect::<String>()
                );
            }
        }
    }
    let ratio = |a: &str, b: &str| match (base_rps(a), base_rps(b)) {
        (Some(a), Some(b)) if b > 0.0 => format!("{:.1}x", a / b),
        _ => "n/a".into(),
    };
    let _ = writeln!(
        out,
        "\nstk parse + ack / FastAPI parse + ack: **{}** (target 10x). stk tracker on SQLite / FastAPI + SQLite: **{}** (target 3x).{}\n",
        ratio("stk parse + ack", "FastAPI parse + ack"),
        ratio("stk tracker, SQLite", "FastAPI + SQLite row"),
        if postgres.is_none() {
            " PostgreSQL: skipped (no `STK_BENCH_POSTGRES_URL`)."
        } else {
            ""
        }
    );
    // Our receivers must work; the peers may be missing here.
    let ours: Vec<String> = rows
        .iter()
        .filter(|(name, _)| name.starts_with("stk"))
        .filter_map(|(name, r)| match r {
            Err(e) => Some(format!("{name}: {e}")),
            Ok(run) if run.errors > 0 => Some(format!("{name}: {} errors", run.errors)),
            Ok(_) => None,
        })
        .collect();
    if ours.is_empty() {
        Ok(())
    } else {
        Err(ours.join("; "))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}

fn sqlite_count(path: &Path, sql: &'static str) -> Option<u64> {
    count_url(&format!("sqlite://{}", path.display()), sql)
}

/// The single number `sql` selects from the database at `url`.
fn count_url(url: &str, sql: &'static str) -> Option<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.ok()?;
        let n: i64 = sqlx::query_scalar(sql).fetch_one(&pool).await.ok()?;
        u64::try_from(n).ok()
    })
}

fn count_rows(path: &Path) -> Option<u64> {
    sqlite_count(path, "SELECT COUNT(*) FROM callbacks")
}

fn count_inbox(path: &Path) -> Option<u64> {
    sqlite_count(path, "SELECT COUNT(*) FROM stk_inbox")
}

fn polling(out: &mut String, sizes: &Sizes) -> Result<(), String> {
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

fn fake(out: &mut String, sizes: &Sizes) -> Result<(), String> {
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
fn micro(out: &mut String, dir: &Path) -> Result<(), String> {
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

fn build_cost(out: &mut String, quick: bool) -> Result<(), String> {
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
