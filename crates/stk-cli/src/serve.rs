//! `stk serve`: the payment gateway (`stk-serve`) on the configured tracker.

use stk::ProviderKind;
use stk::mock::{MockConfig, MockProvider};
use stk_serve::ServeConfig;

use crate::args::ServeArgs;
use crate::{CliError, tracking};

/// Serves until Ctrl-C or SIGTERM.
pub(crate) async fn run(
    provider_name: &str,
    database: Option<&str>,
    guard: bool,
    args: ServeArgs,
) -> Result<(), CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let mut config = ServeConfig::from_lookup(env).map_err(|e| CliError::Usage(e.to_string()))?;
    config.behind_proxy = args.behind_proxy;
    config
        .check_bind(args.bind)
        .map_err(|e| CliError::Usage(e.to_string()))?;
    let kind: ProviderKind = provider_name.parse()?;
    // The fake provider's results reach the tracker as callbacks would, in process.
    let (provider, mock): (Box<dyn stk::StkProvider>, Option<MockProvider>) =
        if kind == ProviderKind::Mock {
            let mock = MockProvider::from_config(MockConfig::from_lookup(env)?)?;
            (Box::new(mock.clone()), Some(mock))
        } else {
            (stk::ProviderConfig::for_provider(kind, env)?.build()?, None)
        };
    let tracker = tracking::open(database, provider, guard).await?;
    let _bridge = mock.map(|mock| stk_serve::forward_mock_callbacks(mock, tracker.clone()));
    let (listener, addr) = crate::listen::bind(args.bind).await?;
    say!("stk serve: payments API on http://{addr}/v1/payments");
    for name in tracker.provider_names() {
        say!("  {name} callbacks on http://{addr}/v1/callbacks/{name}");
    }
    if config.webhook.is_none() {
        say!("  no webhook configured (STK_SERVE_WEBHOOK_URL): read payments with GET");
    }
    let shutdown = async {
        terminated().await;
        say!("stk serve: stopping (requests in flight finish; undelivered webhooks stay stored)");
    };
    stk_serve::serve(listener, tracker, config, shutdown)
        .await
        .map_err(|e| CliError::Usage(format!("cannot start the webhook client: {e}")))?;
    Ok(())
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
