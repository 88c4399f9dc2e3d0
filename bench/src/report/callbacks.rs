//! The callback section: a burst of documented callbacks against our receivers and FastAPI.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use super::Sizes;
use super::processes::{Peers, Server, bench, free_port, root};
use crate::load::in_parallel;
use crate::providers::{CALLBACK_SECRET, PROVIDERS, callback};
use crate::stats::Run;

/// A receiver to start: its command and, for uvicorn, the fixed port it was given.
type Starter = Result<(Command, Option<u16>), String>;

/// Posts `total` documented callbacks (the four providers in turn) at `concurrency`.
fn load_callbacks(base: &str, total: u64, concurrency: u64) -> Result<Run, String> {
    let runtime = crate::runtime(1)?;
    let bodies: Vec<(String, Vec<u8>)> = (0..total)
        .map(|i| {
            callback(PROVIDERS[(i % 4) as usize], i)
                .map(|(target, body)| (format!("{base}{target}"), body))
        })
        .collect::<Result<_, _>>()?;
    runtime.block_on(async move {
        let http = reqwest::Client::new();
        let started = Instant::now();
        let (latencies, errors) = in_parallel(
            usize::try_from(concurrency).unwrap_or(1),
            &bodies,
            move |(url, body)| {
                let http = http.clone();
                async move {
                    let answer = http
                        .post(url)
                        .header("content-type", "application/json")
                        .body(body)
                        .send()
                        .await
                        .ok()?;
                    let ok = answer.status().is_success();
                    (answer.bytes().await.is_ok() && ok).then_some(())
                }
            },
        )
        .await;
        Ok(Run::from_latencies(
            "load",
            latencies,
            errors,
            started.elapsed(),
        ))
    })
}

pub(crate) fn callbacks(
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
    // A fresh database: callbacks already stored by an earlier run would all be duplicates.
    let postgres = postgres.map(|url| fresh_database(&url)).transpose()?;
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
            CALLBACK_SECRET,
        ]);
        if let Some(path) = sqlite {
            c.arg("--sqlite").arg(path);
        }
        Ok((c, Some(port)))
    };
    receivers.push(("FastAPI parse + ack", fastapi(None)));
    receivers.push(("FastAPI + SQLite row", fastapi(Some(&fastapi_db))));
    let inbox_rows = |url: &str| count_rows(url, "stk_inbox");
    let stored_before_pg = postgres.as_deref().and_then(inbox_rows);
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
    let sqlite = |path: &Path| format!("sqlite://{}", path.display());
    let stored_fastapi = count_rows(&sqlite(&fastapi_db), "callbacks");
    let stored_tracker = inbox_rows(&sqlite(&tracker_db));
    let stored_pg = postgres
        .as_deref()
        .and_then(inbox_rows)
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

/// A new, empty database on the PostgreSQL server at `url`; its URL.
pub(crate) fn fresh_database(url: &str) -> Result<String, String> {
    let runtime = crate::runtime(1)?;
    Ok(runtime.block_on(stk_tracker::conformance::fresh_postgres_database(url)))
}

/// The number of rows in `table` of the database at `url`.
fn count_rows(url: &str, table: &str) -> Option<u64> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .ok()?;
    runtime.block_on(async {
        sqlx::any::install_default_drivers();
        let pool = sqlx::AnyPool::connect(url).await.ok()?;
        let n: i64 = sqlx::query_scalar(&format!("SELECT COUNT(*) FROM {table}"))
            .fetch_one(&pool)
            .await
            .ok()?;
        u64::try_from(n).ok()
    })
}
