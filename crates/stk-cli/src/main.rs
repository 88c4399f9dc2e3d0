//! The `stk` command: send M-Pesa STK pushes and query payments from a terminal.
//!
//! Exit codes: 0 accepted or completed, 1 payment failed, 2 invalid input, usage or
//! configuration, 3 provider refused or unavailable, 4 outcome unknown.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod args;
mod listen;
mod output;
mod sandbox;

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use indicatif::{ProgressBar, ProgressStyle};
use stk::{
    Error, PaymentId, PaymentStatus, PollPolicy, ProviderConfig, ProviderKind, StkProvider,
    StkPushRequest, wait_for_final_with,
};

use args::{Cli, Command, PushArgs, WaitArgs};
use output::exit;

fn main() -> ExitCode {
    let json = std::env::args().any(|a| a == "--json");
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if json && e.use_stderr() => {
            println!("{}", output::usage_json(&e.to_string()));
            return ExitCode::from(exit::INVALID);
        }
        Err(e) => e.exit(),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(exit::INVALID);
        }
    };
    if let Command::Sandbox(args) = cli.command {
        return match runtime.block_on(sandbox::run(args)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(exit::INVALID)
            }
        };
    }
    if let Command::Listen(args) = cli.command {
        let json = cli.json;
        let listened = runtime.block_on(async move {
            let kind: ProviderKind = cli.provider.parse().map_err(|e: Error| e.to_string())?;
            let provider = ProviderConfig::for_provider(kind, |k| std::env::var(k).ok())
                .and_then(|c| c.build())
                .map_err(|e| e.to_string())?;
            listen::run(provider, args, json).await
        });
        return match listened {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::from(exit::INVALID)
            }
        };
    }
    ExitCode::from(runtime.block_on(run(cli)))
}

/// Runs a command and prints its result; returns the exit code.
async fn run(cli: Cli) -> u8 {
    let json = cli.json;
    match execute(cli).await {
        Ok((provider, id, status)) => {
            if json {
                println!("{}", output::status_json(provider, &id, &status));
            } else {
                println!("{}", output::status_line(&status));
            }
            output::status_exit_code(&status)
        }
        Err(e) => {
            if json {
                println!("{}", output::error_json(&e));
            } else {
                eprintln!("error: {e}");
                if let Some(hint) = output::error_hint(&e) {
                    eprintln!("{hint}");
                }
            }
            output::exit_code(&e)
        }
    }
}

async fn execute(cli: Cli) -> Result<(&'static str, PaymentId, PaymentStatus), Error> {
    let kind: ProviderKind = cli.provider.parse()?;
    let provider = ProviderConfig::for_provider(kind, |k| std::env::var(k).ok())?.build()?;
    match cli.command {
        Command::Push(args) => push(provider.as_ref(), args, cli.json).await,
        Command::Status(args) => {
            let id = PaymentId::new(args.id.trim());
            let status = if args.wait.wait {
                wait(provider.as_ref(), &id, &args.wait, cli.json).await?
            } else {
                provider.status(&id).await?
            };
            Ok((provider.name(), id, status))
        }
        Command::Sandbox(_) | Command::Listen(_) => unreachable!("handled in main"),
    }
}

async fn push(
    provider: &dyn StkProvider,
    args: PushArgs,
    json: bool,
) -> Result<(&'static str, PaymentId, PaymentStatus), Error> {
    let reference = args.reference.unwrap_or_else(generated_reference);
    let mut builder = StkPushRequest::builder()
        .phone(args.phone.as_str())
        .amount(args.amount.as_str())
        .reference(reference);
    if let Some(url) = &args.callback_url {
        builder = builder.callback_url(url.as_str());
    }
    if let Some(d) = &args.description {
        builder = builder.description(d.as_str());
    }
    let request = builder.build()?;
    let accepted = provider.initiate(&request).await?;
    if !json {
        eprintln!(
            "Push accepted by {}: payment {} for {} to {} (reference {})",
            accepted.provider,
            accepted.payment_id,
            request.amount(),
            request.phone().local(),
            request.reference()
        );
    }
    let status = if args.wait.wait && !accepted.status.is_final() {
        wait(provider, &accepted.payment_id, &args.wait, json).await?
    } else {
        accepted.status
    };
    Ok((accepted.provider, accepted.payment_id, status))
}

async fn wait(
    provider: &dyn StkProvider,
    id: &PaymentId,
    args: &WaitArgs,
    json: bool,
) -> Result<PaymentStatus, Error> {
    let policy = PollPolicy::default()
        .intervals(Duration::from_millis(500), Duration::from_secs(5))
        .deadline(Duration::from_secs(args.timeout));
    let spinner = if json {
        ProgressBar::hidden()
    } else {
        ProgressBar::new_spinner()
    };
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.enable_steady_tick(Duration::from_millis(100));
    spinner.set_message("waiting for the customer to enter their PIN");
    let result = wait_for_final_with(provider, id, &policy, |s| {
        spinner.set_message(s.to_string())
    })
    .await;
    spinner.finish_and_clear();
    result
}

/// A reference for pushes without one: `STK-` and the current Unix time in milliseconds.
fn generated_reference() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    format!("STK-{millis}")
}
