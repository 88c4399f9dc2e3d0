//! `stk serve`: the payment gateway (`stk-serve`) on the configured accounts.

use stk::ProviderKind;
use stk::mock::{MockConfig, MockProvider};
use stk_serve::file::AccountsFile;
use stk_serve::{Account, AccountConfig};

use crate::args::ServeArgs;
use crate::{CliError, tracking};

/// An account, and its fake provider when it has one (whose results are forwarded to the
/// tracker as callbacks, in process).
type Opened = (Account, Vec<MockProvider>);

/// Serves until Ctrl-C or SIGTERM.
pub(crate) async fn run(
    provider_name: &str,
    database: Option<&str>,
    guard: bool,
    args: ServeArgs,
) -> Result<(), CliError> {
    let usage = |e: stk_serve::ConfigError| CliError::Usage(e.to_string());
    stk_serve::check_bind(args.bind, args.behind_proxy).map_err(usage)?;
    // A claim on an event must outlast one webhook delivery, or another instance takes it
    // over mid-delivery and the app gets it twice.
    let shortest = stk_serve::DELIVERY_TIMEOUT + std::time::Duration::from_secs(5);
    if let Some(ms) = std::env::var("STK_TRACKER_LEASE_MS")
        .ok()
        .and_then(|v| v.trim().parse::<u64>().ok())
        .filter(|ms| u128::from(*ms) < shortest.as_millis())
    {
        return Err(CliError::Usage(format!(
            "STK_TRACKER_LEASE_MS={ms} is shorter than one webhook delivery may take plus a margin ({} ms): raise it",
            shortest.as_millis()
        )));
    }
    let opened = match &args.config {
        Some(path) => from_file(path, guard).await?,
        None => vec![from_env(provider_name, database, guard).await?],
    };
    let mut accounts = Vec::new();
    let mut bridges = Vec::new();
    for (account, mocks) in opened {
        for mock in mocks {
            bridges.push(stk_serve::forward_mock_callbacks(
                mock,
                account.tracker().clone(),
            ));
        }
        accounts.push(account);
    }
    let (listener, addr) = crate::listen::bind(args.bind).await?;
    say!("stk serve: payments API on http://{addr}/v1/payments");
    let several = accounts.len() > 1;
    for account in &accounts {
        for name in account.tracker().provider_names() {
            if several {
                say!(
                    "  account {}: {name} callbacks on http://{addr}/v1/callbacks/{}/{name}",
                    account.name(),
                    account.name()
                );
            } else {
                say!("  {name} callbacks on http://{addr}/v1/callbacks/{name}");
            }
        }
    }
    say!("  dashboard on http://{addr}/dashboard/ (sign in with the account's API key)");
    for account in &accounts {
        if account
            .tracker()
            .provider_names()
            .contains(&stk::mock::NAME)
        {
            say!(
                "  account {}: the FAKE provider: no money moves, payments complete by themselves",
                account.name()
            );
        }
    }
    if accounts.iter().any(|a| a.config().webhook.is_none()) {
        say!("  no webhook configured for some accounts: read their payments with GET");
    }
    let shutdown = async {
        terminated().await;
        say!("stk serve: stopping (requests in flight finish; undelivered webhooks stay stored)");
    };
    stk_serve::serve(listener, accounts, shutdown)
        .await
        .map_err(|e| CliError::Usage(e.to_string()))?;
    drop(bridges);
    Ok(())
}

/// One account, `default`, from `STK_SERVE_*` and the provider's variables.
async fn from_env(
    provider_name: &str,
    database: Option<&str>,
    guard: bool,
) -> Result<Opened, CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let config = AccountConfig::from_lookup(env).map_err(|e| CliError::Usage(e.to_string()))?;
    let kind: ProviderKind = provider_name.parse()?;
    let (provider, mocks): (Box<dyn stk::StkProvider>, Vec<MockProvider>) =
        if kind == ProviderKind::Mock {
            let mock = MockProvider::from_config(MockConfig::from_lookup(env)?)?;
            (Box::new(mock.clone()), vec![mock])
        } else {
            (
                stk::ProviderConfig::for_provider(kind, env)?.build()?,
                vec![],
            )
        };
    let tracker = tracking::open(database, provider, guard).await?;
    let account =
        Account::new("default", tracker, config).map_err(|e| CliError::Usage(e.to_string()))?;
    Ok((account, mocks))
}

/// Every account in the file, each on its own database.
async fn from_file(path: &std::path::Path, guard: bool) -> Result<Vec<Opened>, CliError> {
    let usage = |e: stk_serve::ConfigError| CliError::Usage(e.to_string());
    let file = AccountsFile::read(path, |k| std::env::var(k).ok()).map_err(usage)?;
    let in_file = |mut e: stk_serve::ConfigError| {
        e.file = Some(path.to_owned());
        CliError::Usage(e.to_string())
    };
    let mut opened = Vec::new();
    for spec in file.accounts {
        let mut providers = Vec::new();
        let mut mocks = Vec::new();
        for provider in &spec.providers {
            let (built, mock) = provider.build().map_err(in_file)?;
            providers.push(built);
            mocks.extend(mock);
        }
        let tracker = tracking::open_many(Some(&spec.database), providers, guard)
            .await
            .map_err(|e| {
                CliError::Usage(format!(
                    "{}: accounts.{}.database: {e}",
                    path.display(),
                    spec.name
                ))
            })?;
        let account = Account::new(&spec.name, tracker, spec.config).map_err(in_file)?;
        opened.push((account, mocks));
    }
    Ok(opened)
}

/// Ctrl-C, or SIGTERM (what a service manager or container runtime sends).
async fn terminated() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        return;
    }
    let _ = tokio::signal::ctrl_c().await;
}
