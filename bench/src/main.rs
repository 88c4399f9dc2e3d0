//! `stk-bench`: the benchmark runner behind `cargo xtask bench`.
//!
//! `stk-bench run` measures every section side by side in one run and prints the tables of
//! `BENCHMARKS.md`; the other subcommands are the processes it starts (servers, clients,
//! receivers), each printing one JSON line ([`stats::Run`]). Nothing here asserts a timing.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod client;
mod fake;
mod gateway;
mod inflight;
mod load;
mod polling;
mod providers;
mod receiver;
mod report;
mod server;
mod stats;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "stk-bench",
    about = "stk benchmarks (run through `cargo xtask bench`)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Every section, side by side; prints the report (markdown).
    Run(report::Options),
    /// A loopback server answering each provider's documented push response.
    StaticServer(server::Options),
    /// `initiate` in a loop through the SDK or plain reqwest; one JSON line.
    Client(client::Options),
    /// Many pushes in flight at once through the SDK; one JSON line.
    Inflight(inflight::Options),
    /// A callback receiver (parse and acknowledge, or through the tracker).
    Receiver(receiver::Options),
    /// Status calls per payment: `wait_for_final` and the sweeper, paused clock.
    Polling(polling::Options),
    /// Payments through the fake provider on the paused clock.
    Fake(fake::Options),
    /// A payments gateway (`stk serve`, or a peer) under load; one JSON line.
    Gateway(gateway::Options),
}

/// A runtime with `workers` threads (at least one).
fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers.max(1))
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
}

/// A single-threaded runtime on tokio's paused clock (virtual time).
fn paused_runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(o) => report::run(o),
        Command::StaticServer(o) => server::run(o),
        Command::Client(o) => client::run(o),
        Command::Inflight(o) => inflight::run(o),
        Command::Receiver(o) => receiver::run(o),
        Command::Polling(o) => polling::run(o),
        Command::Fake(o) => fake::run(o),
        Command::Gateway(o) => gateway::run(o),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("stk-bench: {e}");
            ExitCode::FAILURE
        }
    }
}
