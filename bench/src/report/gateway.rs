//! The gateway section: `stk serve` on SQLite and PostgreSQL next to a FastAPI gateway on
//! SQLite, each creating payments over HTTP, then receiving each one's callback and sending
//! its webhook.

use std::fmt::Write as _;
use std::process::Command;

use super::Sizes;
use super::callbacks::fresh_database;
use super::processes::{Peers, Server, bench, free_port, measured, root};
use crate::gateway::{API_KEY, WEBHOOK_SECRET};
use crate::stats::Run;

const CONCURRENCY: usize = 32;

/// Status queries a second allowed when the budget is not what is measured.
const OPEN_BUDGET: u32 = 10_000;

pub(crate) fn gateway(
    out: &mut String,
    sizes: &Sizes,
    peers: &Peers,
    postgres: Option<String>,
) -> Result<(), String> {
    let dir = std::env::temp_dir().join(format!("stk-bench-gateway-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    let payments = sizes.gateway_payments.to_string();
    let concurrency = CONCURRENCY.to_string();
    let load = ["--payments", &payments, "--concurrency", &concurrency];
    let ours = |store: &str, database: &str, budget: u32| -> Result<Run, String> {
        let mut command = bench(&["gateway", "--store", store, "--database", database])?;
        command
            .args(load)
            .args(["--status-queries-per-second", &budget.to_string()]);
        measured(command)
    };
    let default_budget = stk_tracker::TrackerConfig::default().status_queries_per_second;
    let sqlite = |name: &str| dir.join(name).to_string_lossy().into_owned();
    let mut rows: Vec<(&str, Result<Run, String>)> = vec![
        (
            "stk serve, SQLite",
            ours("sqlite", &sqlite("stk.db"), OPEN_BUDGET),
        ),
        (
            "stk serve, SQLite, default query budget",
            ours("sqlite", &sqlite("stk-default.db"), default_budget),
        ),
    ];
    match postgres.map(|url| fresh_database(&url)).transpose() {
        Ok(Some(url)) => rows.push(("stk serve, PostgreSQL", ours("postgres", &url, OPEN_BUDGET))),
        Ok(None) => {}
        Err(e) => rows.push(("stk serve, PostgreSQL", Err(e))),
    }
    let fastapi = || -> Result<Run, String> {
        let (port, hooks) = (free_port()?, free_port()?);
        let mut command = Command::new(peers.python.clone()?);
        command
            .arg(root().join("bench/peers/gateway_fastapi.py"))
            .args(["--port", &port.to_string(), "--sqlite"])
            .arg(dir.join("fastapi.db"))
            .args(["--webhook-url", &format!("http://127.0.0.1:{hooks}/hooks")])
            .args(["--webhook-secret", WEBHOOK_SECRET, "--api-key", API_KEY]);
        let server = Server::start(command, Some(port))?;
        let mut command = bench(&["gateway", "--peer-url", &server.base()])?;
        command
            .args(["--webhook-port", &hooks.to_string()])
            .args(load);
        measured(command)
    };
    rows.push(("FastAPI + SQLite", fastapi()));
    let _ = std::fs::remove_dir_all(&dir);

    let _ = writeln!(
        out,
        "## Gateway: payments in, webhooks out\n\n\
         {} payments created over HTTP at {CONCURRENCY} connections (`POST /v1/payments`, Bearer key), then each one's callback posted over HTTP at {CONCURRENCY} connections, and the time until its signed webhook reached a loopback endpoint. \
         `stk serve` runs the stk-serve app (one account; the fake provider accepts at once and is final 1 ms later; its callbacks come over HTTP from the load, not in process): it records each attempt before pushing, pushes, stores each callback, confirms it by status query, and delivers the webhook from its durable outbox. \
         The FastAPI gateway (`bench/peers/gateway_fastapi.py`, uvicorn, one worker) inserts a row and answers; on a callback it updates the row and posts a signed webhook from a background task: no provider push, no confirmation, no outbox. \
         Every callback is confirmed by a status query, and the tracker spends at most its budget of them a second per provider (`STK_TRACKER_STATUS_QUERIES_PER_SECOND`, default {default_budget}: providers block clients that poll too fast); the rows run with a budget of {OPEN_BUDGET}/s except the one that says otherwise, where webhooks/s is that budget and the latency is the queue behind it. \
         Load, services and webhook endpoint share the machine's 2 cores.\n\n\
         | gateway | payments created/s | create p50 / p99 (ms) | webhooks delivered/s | callback→webhook p50 / p99 (ms) | webhooks | errors |\n|---|---|---|---|---|---|---|",
        sizes.gateway_payments
    );
    let number = |r: &Run, key: &str| r.extra.get(key).and_then(|v| v.as_f64()).unwrap_or(0.0);
    for (name, result) in &rows {
        match result {
            Ok(r) => {
                let _ = writeln!(
                    out,
                    "| {name} | {:.0} | {:.1} / {:.1} | {:.0} | {:.1} / {:.1} | {} | {} |",
                    r.rps,
                    r.p50_ms,
                    r.p99_ms,
                    number(r, "webhooks_per_s"),
                    number(r, "callback_to_webhook_p50_ms"),
                    number(r, "callback_to_webhook_p99_ms"),
                    number(r, "webhooks"),
                    r.errors + number(r, "callbacks_failed") as u64,
                );
            }
            Err(e) => {
                let _ = writeln!(
                    out,
                    "| {name} | n/a ({}) | | | | | |",
                    e.chars().take(80).collect::<String>()
                );
            }
        }
    }
    let rps = |n: &str| {
        rows.iter()
            .find(|(name, _)| *name == n)
            .and_then(|(_, r)| r.as_ref().ok())
            .map(|r| (r.rps, number(r, "webhooks_per_s")))
    };
    if let (Some(ours), Some(peer)) = (rps("stk serve, SQLite"), rps("FastAPI + SQLite")) {
        if peer.0 > 0.0 && peer.1 > 0.0 {
            let _ = writeln!(
                out,
                "\nOn SQLite, `stk serve` against FastAPI: {:.2}x the payments created/s, {:.2}x the webhooks delivered/s.",
                ours.0 / peer.0,
                ours.1 / peer.1
            );
        }
    }
    // Our gateway must work; the peer may be missing here.
    match &rows[0].1 {
        Ok(_) => Ok(()),
        Err(e) => Err(format!("stk serve, SQLite: {e}")),
    }
}
