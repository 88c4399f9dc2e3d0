//! The CLI's tracker: where payments are recorded, and `stk payments`.

use std::sync::Arc;

use serde_json::{Value, json};
use stk::{GuardRules, GuardStore, Guarded, StkProvider};
use stk_tracker::{
    Attempt, AttemptQuery, PaymentRecord, Resolution, SqlStore, Tracker, TrackerConfig,
    TrackerError,
};

use crate::args::{PaymentsCommand, ResolveAs};
use crate::{CliError, human};

/// Where payments are recorded: `--database`/`STK_DATABASE_URL`, else
/// `<data dir>/stk/payments.db`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Database {
    /// A SQLite file, by path (any file name).
    File(std::path::PathBuf),
    /// A `sqlite:` or `postgres://` URL.
    Url(String),
}

impl Database {
    pub(crate) fn from_setting(explicit: Option<&str>) -> Result<Self, CliError> {
        if let Some(setting) = explicit.map(str::trim).filter(|u| !u.is_empty()) {
            let lower = setting.to_ascii_lowercase();
            if ["sqlite:", "postgres://", "postgresql://"]
                .iter()
                .any(|scheme| lower.starts_with(scheme))
            {
                return Ok(Self::Url(setting.to_owned()));
            }
            if let Some((scheme, _)) = setting.split_once("://") {
                let scheme: String = scheme.chars().take(20).collect();
                return Err(CliError::Usage(format!(
                    "unsupported database URL scheme {:?} in --database/STK_DATABASE_URL: use a file path, sqlite:PATH or postgres://…",
                    printable(&scheme)
                )));
            }
            return Ok(Self::File(setting.into()));
        }
        let dir = dirs::data_dir().ok_or_else(|| {
            CliError::Usage(
                "no data directory is known for this user: set STK_DATABASE_URL to a file path"
                    .to_owned(),
            )
        })?;
        Ok(Self::File(dir.join("stk").join("payments.db")))
    }

    async fn open(&self) -> Result<SqlStore, TrackerError> {
        Ok(match self {
            Self::File(path) => SqlStore::open_sqlite(path).await?,
            Self::Url(url) => SqlStore::connect(url).await?,
        })
    }
}

/// The abuse rules a provider documents, if any: the CLI keeps below them unless `--no-guard`.
fn documented_guard_rules(name: &str) -> Option<GuardRules> {
    name.parse::<stk::ProviderKind>()
        .ok()
        .and_then(stk::ProviderKind::guard_rules)
}

/// The configured store, and `provider` wrapped in the abuse guard (counts kept in that
/// store, so every process counts together) when its provider documents abuse rules.
pub(crate) async fn open_store(
    database: Option<&str>,
    provider: Box<dyn StkProvider>,
    guard: bool,
) -> Result<(Arc<SqlStore>, Arc<dyn StkProvider>), CliError> {
    let store = Arc::new(Database::from_setting(database)?.open().await?);
    let provider = guarded(&store, provider, guard);
    Ok((store, provider))
}

fn guarded(
    store: &Arc<SqlStore>,
    provider: Box<dyn StkProvider>,
    guard: bool,
) -> Arc<dyn StkProvider> {
    match documented_guard_rules(provider.name()) {
        Some(rules) if guard => Arc::new(Guarded::with_store(
            provider,
            rules,
            Arc::clone(store) as Arc<dyn GuardStore>,
        )),
        _ => Arc::from(provider),
    }
}

/// A tracker over the configured store for `provider` (guarded as [`open_store`] says).
pub(crate) async fn open(
    database: Option<&str>,
    provider: Box<dyn StkProvider>,
    guard: bool,
) -> Result<Tracker, CliError> {
    open_many(database, vec![provider], guard).await
}

/// A tracker over the configured store for `providers` (the first is the default), each
/// guarded as [`open_store`] says.
pub(crate) async fn open_many(
    database: Option<&str>,
    providers: Vec<Box<dyn StkProvider>>,
    guard: bool,
) -> Result<Tracker, CliError> {
    let store = Arc::new(Database::from_setting(database)?.open().await?);
    let mut builder = Tracker::builder(Arc::clone(&store) as Arc<dyn stk_tracker::Store>)
        .config(tracker_config(|name| std::env::var(name).ok())?);
    for provider in providers {
        builder = builder.provider(guarded(&store, provider, guard));
    }
    Ok(builder.build())
}

/// The tracker's settings from the environment: `STK_TRACKER_LEASE_MS` (how long a worker's
/// claim lasts before another instance takes it over; default 60 s) and
/// `STK_TRACKER_STATUS_QUERIES_PER_SECOND` (per provider and instance; default 50) and
/// `STK_TRACKER_DEADLINE_SECONDS` (after it an unsettled payment is expired and flagged for
/// review; default 600).
fn tracker_config(lookup: impl Fn(&str) -> Option<String>) -> Result<TrackerConfig, CliError> {
    let mut config = TrackerConfig::default();
    if let Some(ms) = whole(
        &lookup,
        "STK_TRACKER_LEASE_MS",
        100,
        3_600_000,
        "milliseconds",
    )? {
        config.lease = std::time::Duration::from_millis(ms);
    }
    if let Some(rate) = whole(
        &lookup,
        "STK_TRACKER_STATUS_QUERIES_PER_SECOND",
        1,
        10_000,
        "queries a second",
    )? {
        config.status_queries_per_second = u32::try_from(rate).unwrap_or(u32::MAX);
    }
    if let Some(secs) = whole(
        &lookup,
        "STK_TRACKER_DEADLINE_SECONDS",
        1,
        86_400,
        "seconds",
    )? {
        config.deadline = std::time::Duration::from_secs(secs);
    }
    Ok(config)
}

/// A whole number from `min` to `max` in the variable `name`, if set.
fn whole(
    lookup: &impl Fn(&str) -> Option<String>,
    name: &str,
    min: u64,
    max: u64,
    unit: &str,
) -> Result<Option<u64>, CliError> {
    let Some(value) = lookup(name).filter(|v| !v.trim().is_empty()) else {
        return Ok(None);
    };
    value
        .trim()
        .parse()
        .ok()
        .filter(|n| (min..=max).contains(n))
        .map(Some)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "{name} must be a whole number of {unit} from {min} to {max}, not {:?}",
                printable(&value.chars().take(20).collect::<String>())
            ))
        })
}

/// Up to `query.limit` attempts, page after page.
async fn all_pages(tracker: &Tracker, mut query: AttemptQuery) -> Result<Vec<Attempt>, CliError> {
    let wanted = usize::try_from(query.limit).unwrap_or(0);
    let mut attempts = Vec::new();
    loop {
        query.limit = i64::try_from(wanted - attempts.len())
            .unwrap_or(0)
            .min(AttemptQuery::MAX_LIMIT);
        let page = tracker.payments(&query).await?;
        attempts.extend(page.attempts);
        match page.next {
            Some(next) if attempts.len() < wanted => query.after = Some(next),
            _ => return Ok(attempts),
        }
    }
}

/// `stk payments …`: one JSON object (with `--json`) or lines for a person.
pub(crate) async fn payments(
    tracker: &Tracker,
    command: PaymentsCommand,
    json: bool,
) -> Result<(), CliError> {
    let out = match command {
        PaymentsCommand::List {
            limit,
            states,
            provider_name,
            reference,
            receipt,
            search,
        } => {
            let mut query = AttemptQuery::newest(limit.clamp(1, 10_000));
            query.states = states;
            query.provider = provider_name;
            query.reference = reference;
            query.receipt = receipt;
            query.text = search;
            let attempts = all_pages(tracker, query).await?;
            if !json {
                out!("{}", human::attempts(&attempts));
                return Ok(());
            }
            json!({ "attempts": attempts })
        }
        PaymentsCommand::Show { id } => {
            let PaymentRecord {
                attempt,
                timeline,
                events,
                ..
            } = tracker.payment(&id).await?;
            if !json {
                out!("{}", human::payment(&attempt, &timeline, &events));
                return Ok(());
            }
            json!({ "attempt": attempt, "timeline": timeline, "events": events })
        }
        PaymentsCommand::Reconcile { id } => {
            let (before, attempts): (Option<Attempt>, Vec<Attempt>) = match id {
                Some(id) => {
                    let before = tracker.attempt(&id).await?;
                    (Some(before), vec![tracker.check(&id).await?])
                }
                None => (None, tracker.reconcile_open(1_000).await?),
            };
            if !json {
                if before.is_none() {
                    out!(
                        "asked the providers about {} open payments; where they stand now:",
                        attempts.len()
                    );
                }
                for a in &attempts {
                    out!("{}", human::reconciled(before.as_ref(), a));
                }
                return Ok(());
            }
            json!({ "attempts": attempts })
        }
        PaymentsCommand::Prune { older_than_days } => {
            let pruned = tracker
                .prune_older_than(std::time::Duration::from_secs(
                    older_than_days.saturating_mul(24 * 3600),
                ))
                .await?;
            if !json {
                out!("pruned {pruned} processed callbacks older than {older_than_days} days");
                return Ok(());
            }
            json!({ "pruned": pruned, "older_than_days": older_than_days })
        }
        PaymentsCommand::Resolve {
            id,
            resolution,
            note,
            receipt,
        } => {
            let resolution = match resolution {
                ResolveAs::Completed => Resolution::Completed,
                ResolveAs::Failed => Resolution::Failed,
            };
            let attempt = tracker
                .resolve(&id, resolution, &note, receipt.as_deref())
                .await?;
            if !json {
                out!("{}", human::attempts(std::slice::from_ref(&attempt)));
                return Ok(());
            }
            json!({ "attempt": attempt })
        }
    };
    out!("{out}");
    Ok(())
}

/// Text safe for a terminal line: control characters escaped, so nothing a provider or a
/// callback sent can forge a line or move the cursor.
pub(crate) fn printable(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// An event's JSON line.
pub(crate) fn event_json(event: &stk_tracker::Event) -> Value {
    json!({ "event": event })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_cannot_forge_lines() {
        assert_eq!(
            printable("ok\nFAKE completed\x1b[2K"),
            "ok\\nFAKE completed\\u{1b}[2K"
        );
        assert_eq!(printable("ORDER-1 ü"), "ORDER-1 ü");
    }

    #[test]
    fn lease_from_the_environment() {
        let lease = |v: &str| tracker_config(|_| Some(v.to_owned())).map(|c| c.lease.as_millis());
        assert_eq!(lease("1500").unwrap(), 1500);
        for bad in ["0", "-5", "1e3", "99999999999", "\u{0}"] {
            assert!(lease(bad).is_err(), "{bad}");
        }
        assert_eq!(tracker_config(|_| None).unwrap().lease.as_secs(), 60);
    }

    #[test]
    fn status_query_budget_from_the_environment() {
        let rate = |v: &str| {
            tracker_config(|name| {
                (name == "STK_TRACKER_STATUS_QUERIES_PER_SECOND").then(|| v.to_owned())
            })
            .map(|c| c.status_queries_per_second)
        };
        assert_eq!(rate("5").unwrap(), 5);
        assert_eq!(rate(" 200 ").unwrap(), 200);
        assert_eq!(rate("").unwrap(), 50, "unset: the default");
        for bad in ["0", "-1", "2.5", "10001", "lots", "9\n9"] {
            let err = rate(bad).unwrap_err().to_string();
            assert!(
                err.contains("STK_TRACKER_STATUS_QUERIES_PER_SECOND"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn database_settings() {
        let file = |p: &str| Database::File(p.into());
        let url = |u: &str| Database::Url(u.to_owned());
        assert_eq!(
            Database::from_setting(Some("/tmp/x.db")).unwrap(),
            file("/tmp/x.db")
        );
        assert_eq!(
            Database::from_setting(Some(" a b?%.db ")).unwrap(),
            file("a b?%.db")
        );
        for setting in [
            "sqlite:///tmp/x.db",
            "sqlite:x.db",
            "SQLITE://x.db",
            "postgres://u@h/db",
            "postgresql://h/db",
        ] {
            assert_eq!(Database::from_setting(Some(setting)).unwrap(), url(setting));
        }
        let refused = Database::from_setting(Some("mysql://u:secret@h/db")).unwrap_err();
        assert!(!refused.to_string().contains("secret"), "{refused}");
        assert!(refused.to_string().contains("mysql"), "{refused}");
    }
}
