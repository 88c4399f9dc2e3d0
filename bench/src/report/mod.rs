//! `stk-bench run`: every section side by side in one run, printed as the markdown of
//! `BENCHMARKS.md`. Servers, clients and receivers run as separate processes (this binary's
//! subcommands, Python, Node), so each has its own peak memory and nobody shares a runtime.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

mod abuse;
mod callbacks;
mod gateway;
mod offline;
mod processes;
mod pushes;

use processes::{Peers, output};

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
    /// Sections to run (default: all): client, inflight, callbacks, gateway, abuse, polling,
    /// micro, fake, build.
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// One section of the report: appends its table.
type Section<'a> = dyn Fn(&mut String) -> Result<(), String> + 'a;

/// The counts of one run mode.
pub(crate) struct Sizes {
    pub(crate) client_requests: u64,
    pub(crate) client_rounds: usize,
    pub(crate) concurrency: &'static [u64],
    pub(crate) inflight: u64,
    pub(crate) callbacks: u64,
    pub(crate) polling: u64,
    pub(crate) fake: u64,
    /// Forged callbacks in the flood, and the live payments they name.
    pub(crate) flood: usize,
    pub(crate) flood_live: usize,
    /// Forged callbacks a second (0: as fast as they are answered).
    pub(crate) flood_rate: u64,
    /// Status lags (s) and payments per lag.
    pub(crate) lags: &'static [u64],
    pub(crate) lag_payments: usize,
    /// Garbage requests.
    pub(crate) garbage: usize,
    /// Payments per instance count on PostgreSQL.
    pub(crate) instance_payments: usize,
    /// Payments through each gateway.
    pub(crate) gateway_payments: usize,
}

const FULL: Sizes = Sizes {
    client_requests: 3000,
    client_rounds: 3,
    concurrency: &[1, 16, 64],
    inflight: 10_000,
    callbacks: 5000,
    polling: 1000,
    fake: 1_000_000,
    flood: 20_000,
    flood_live: 50,
    flood_rate: 1_000,
    lags: &[0, 2, 10, 30, 60],
    lag_payments: 20,
    garbage: 4_000,
    instance_payments: 100,
    gateway_payments: 3000,
};

const QUICK: Sizes = Sizes {
    client_requests: 40,
    client_rounds: 1,
    concurrency: &[1, 16],
    inflight: 200,
    callbacks: 200,
    polling: 50,
    fake: 1000,
    flood: 400,
    flood_live: 5,
    flood_rate: 0,
    lags: &[0, 1],
    lag_payments: 3,
    garbage: 100,
    instance_payments: 6,
    gateway_payments: 30,
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
    let sections: [(&str, &Section<'_>); 9] = [
        ("client", &|out| pushes::client(out, &sizes, &peers)),
        ("inflight", &|out| pushes::inflight(out, &sizes)),
        ("callbacks", &|out| {
            callbacks::callbacks(out, &sizes, &peers, postgres_url(&options))
        }),
        ("gateway", &|out| {
            gateway::gateway(out, &sizes, &peers, postgres_url(&options))
        }),
        ("abuse", &|out| {
            abuse::abuse(out, &sizes, postgres_url(&options))
        }),
        ("polling", &|out| offline::polling(out, &sizes)),
        ("micro", &|out| offline::micro(out, &options.criterion)),
        ("fake", &|out| offline::fake(out, &sizes)),
        ("build", &|out| offline::build_cost(out, options.quick)),
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
