//! Several accounts from a TOML file (`stk serve --config stk.toml`): a merchant's shops, or
//! one shop's shortcodes side by side. Each account has its own API key (stored as its
//! SHA-256), database, providers, webhook and rate limit.
//!
//! ```toml
//! [accounts.duka]
//! api_key_sha256 = "…"                           # printf %s "$KEY" | sha256sum
//! database = "duka.db"                           # relative to this file, or a URL
//! webhook_url = "https://duka.example/stk"
//! webhook_secret = { env = "DUKA_WEBHOOK_SECRET" }
//! payments_per_second = 20                       # default 20
//! time_zone = "Africa/Nairobi"                   # the dashboard's; default Africa/Nairobi
//!
//! [accounts.duka.providers.daraja]               # the provider's variables, lowercase,
//! shortcode = "174379"                           # without their DARAJA_ prefix
//! passkey = { env = "DUKA_DARAJA_PASSKEY" }
//! ```
//!
//! Any value may be `{ env = "NAME" }` (read from the environment when the file is read) so
//! secrets need not be in the file. A key the service does not read, a missing value or a bad
//! one stops the start with the file, the key and the reason.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use secrecy::{ExposeSecret, SecretString};
use stk::ProviderKind;
use stk::mock::{MockConfig, MockProvider};
use toml::{Table, Value};

use crate::account::check_name;
use crate::config::{
    AccountConfig, ConfigError, WebhookTarget, payments_per_second, refuse, time_zone,
};

/// The largest configuration file read.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The accounts a file configures, in the file's order.
#[derive(Debug)]
#[non_exhaustive]
pub struct AccountsFile {
    /// The file.
    pub path: PathBuf,
    /// Its accounts.
    pub accounts: Vec<AccountSpec>,
}

/// One account as the file configures it.
#[non_exhaustive]
pub struct AccountSpec {
    /// Its name (`[accounts.<name>]`).
    pub name: String,
    /// Its key, webhook and rate limit.
    pub config: AccountConfig,
    /// Its database: a SQLite path (relative ones taken from the file's directory) or a
    /// `sqlite:`/`postgres://` URL.
    pub database: String,
    /// Its providers; the first is used when a payment names none.
    pub providers: Vec<ProviderSpec>,
}

impl fmt::Debug for AccountSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // A database URL may carry a password.
        let database = match url::Url::parse(&self.database) {
            Ok(mut u) if !u.username().is_empty() || u.password().is_some() => {
                let _ = u.set_username("");
                let _ = u.set_password(None);
                u.to_string()
            }
            _ => self.database.clone(),
        };
        f.debug_struct("AccountSpec")
            .field("name", &self.name)
            .field("config", &self.config)
            .field("database", &database)
            .field("providers", &self.providers)
            .finish()
    }
}

/// One provider's settings within an account.
pub struct ProviderSpec {
    /// Which provider.
    pub kind: ProviderKind,
    /// Where in the file (`accounts.duka.providers.daraja`).
    key: String,
    settings: BTreeMap<String, SecretString>,
}

impl fmt::Debug for ProviderSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Values may be secrets: only the keys.
        f.debug_struct("ProviderSpec")
            .field("kind", &self.kind)
            .field("settings", &self.settings.keys().collect::<Vec<_>>())
            .finish()
    }
}

/// A built provider, and the fake provider's handle when it is the fake one (its results are
/// forwarded to the tracker as callbacks).
pub type BuiltProvider = (Box<dyn stk::StkProvider>, Option<MockProvider>);

impl ProviderSpec {
    /// Builds the provider from its settings. A key the provider did not read is refused
    /// (a typo would otherwise silently fall back to a default).
    pub fn build(&self) -> Result<BuiltProvider, ConfigError> {
        let prefix = format!("{}_", self.kind.as_str().to_ascii_uppercase());
        let asked = Mutex::new(BTreeMap::<String, String>::new());
        let lookup = |variable: &str| {
            let key = variable.strip_prefix("STK_").unwrap_or(variable);
            let key = key.strip_prefix(&prefix)?.to_ascii_lowercase();
            let value = self
                .settings
                .get(&key)
                .map(|v| v.expose_secret().to_owned());
            asked
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(variable.to_owned(), key);
            value
        };
        let built = if self.kind == ProviderKind::Mock {
            MockConfig::from_lookup(lookup)
                .and_then(MockProvider::from_config)
                .map(|mock| {
                    (
                        Box::new(mock.clone()) as Box<dyn stk::StkProvider>,
                        Some(mock),
                    )
                })
        } else {
            stk::ProviderConfig::for_provider(self.kind, lookup)
                .and_then(|config| config.build())
                .map(|provider| (provider, None))
        };
        let asked = asked.into_inner().unwrap_or_else(|e| e.into_inner());
        let built = built.map_err(|e| {
            // Say the file's keys, not the environment variables the provider names.
            let mut reason = e.to_string();
            // Longest first: DARAJA_CALLBACK_TOKEN_IN before DARAJA_CALLBACK_TOKEN.
            let mut names: Vec<(&String, &String)> = asked.iter().collect();
            names.sort_by_key(|(variable, _)| std::cmp::Reverse(variable.len()));
            for (variable, key) in names {
                reason = reason.replace(variable.as_str(), key);
            }
            refuse(&self.key, reason)
        })?;
        let read: BTreeSet<&String> = asked.values().collect();
        if let Some(unread) = self.settings.keys().find(|k| !read.contains(k)) {
            let known: Vec<&str> = read.iter().map(|k| k.as_str()).collect();
            return Err(refuse(
                format!("{}.{unread}", self.key),
                format!(
                    "{} does not read this setting; it reads: {}",
                    self.kind,
                    known.join(", ")
                ),
            ));
        }
        Ok(built)
    }
}

impl AccountsFile {
    /// Reads and checks `path`; `env` answers `{ env = "NAME" }` values.
    pub fn read(path: &Path, env: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let in_file = |key: &str, reason: String| ConfigError {
            file: Some(path.to_owned()),
            key: key.to_owned(),
            reason,
        };
        let size = std::fs::metadata(path)
            .map_err(|e| in_file("", format!("cannot read it ({e})")))?
            .len();
        if size > MAX_FILE_BYTES {
            return Err(in_file(
                "",
                format!("is {size} bytes; a configuration file is at most {MAX_FILE_BYTES}"),
            ));
        }
        let text = std::fs::read_to_string(path)
            .map_err(|e| in_file("", format!("cannot read it ({e})")))?;
        let dir = path.parent().unwrap_or(Path::new("."));
        Self::parse(&text, dir, env)
            .map(|accounts| Self {
                path: path.to_owned(),
                accounts,
            })
            .map_err(|mut e| {
                e.file = Some(path.to_owned());
                e
            })
    }

    /// The accounts in `text`; relative database paths are taken from `dir`.
    pub(crate) fn parse(
        text: &str,
        dir: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Vec<AccountSpec>, ConfigError> {
        let mut top: Table = toml::from_str(text).map_err(|e| {
            refuse(
                "(syntax)",
                e.to_string().trim().replace('\n', " ").replace("  ", " "),
            )
        })?;
        let accounts = take_table(&mut top, "accounts", "")?.ok_or_else(|| {
            refuse(
                "accounts",
                "no [accounts.<name>] table: add one per account",
            )
        })?;
        no_other_keys(&top, "")?;
        let mut specs = Vec::new();
        for (name, table) in accounts {
            let key = format!("accounts.{name}");
            check_name(&name)?;
            let Value::Table(table) = table else {
                return Err(refuse(key, "must be a table: [accounts.<name>]"));
            };
            specs.push(account(&name, table, dir, &env)?);
        }
        for (i, a) in specs.iter().enumerate() {
            let same = |b: &&AccountSpec| same_database(&b.database, &a.database);
            if let Some(b) = specs[..i].iter().find(same) {
                return Err(refuse(
                    format!("accounts.{}.database", a.name),
                    format!(
                        "account {} uses the same database: each account needs its own (references are unique per account)",
                        b.name
                    ),
                ));
            }
        }
        Ok(specs)
    }
}

fn account(
    name: &str,
    mut table: Table,
    dir: &Path,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<AccountSpec, ConfigError> {
    let at = |k: &str| format!("accounts.{name}.{k}");
    if table.get("api_key").is_some_and(|v| !v.is_table()) {
        return Err(refuse(
            at("api_key"),
            "keys are not written in the file: store its SHA-256 as api_key_sha256 (printf %s \"$KEY\" | sha256sum) or read it with api_key = { env = \"NAME\" }",
        ));
    }
    let mut config = match (
        take_value(&mut table, "api_key_sha256", &at(""), env)?,
        take_value(&mut table, "api_key", &at(""), env)?,
    ) {
        (Some(hash), None) => AccountConfig::from_key_sha256(hash.expose_secret())
            .map_err(|e| refuse(at("api_key_sha256"), e.reason))?,
        (None, Some(key)) => {
            AccountConfig::new(key.expose_secret()).map_err(|e| refuse(at("api_key"), e.reason))?
        }
        (Some(_), Some(_)) => {
            return Err(refuse(
                at("api_key"),
                "set api_key_sha256 or api_key, not both",
            ));
        }
        (None, None) => {
            return Err(refuse(
                at("api_key_sha256"),
                "is not set: store the key's SHA-256 (printf %s \"$KEY\" | sha256sum), or read the key from the environment with api_key = { env = \"NAME\" }",
            ));
        }
    };
    if let Some(zone) = table.remove("time_zone") {
        config.time_zone = zone
            .as_str()
            .ok_or("must be an IANA time zone name, e.g. Africa/Nairobi")
            .and_then(time_zone)
            .map_err(|reason| refuse(at("time_zone"), reason))?;
    }
    if let Some(rate) = table.remove("payments_per_second") {
        config.payments_per_second = payments_per_second(rate.as_integer())
            .map_err(|reason| refuse(at("payments_per_second"), reason))?;
    }
    let webhook_url = take_value(&mut table, "webhook_url", &at(""), env)?;
    let webhook_secret = take_value(&mut table, "webhook_secret", &at(""), env)?;
    config.webhook = match (webhook_url, webhook_secret) {
        (Some(url), Some(secret)) => Some(
            WebhookTarget::new(url.expose_secret(), secret.expose_secret()).map_err(|e| {
                let key = if e.key.ends_with("URL") {
                    "webhook_url"
                } else {
                    "webhook_secret"
                };
                refuse(at(key), e.reason)
            })?,
        ),
        (None, None) => None,
        (Some(_), None) => {
            return Err(refuse(
                at("webhook_secret"),
                "is not set: webhooks are always signed (whsec_ + base64)",
            ));
        }
        (None, Some(_)) => {
            return Err(refuse(
                at("webhook_url"),
                "is not set, but a webhook secret is",
            ));
        }
    };
    let database = take_value(&mut table, "database", &at(""), env)?
        .ok_or_else(|| {
            refuse(
                at("database"),
                "is not set: give each account its own database (a SQLite file, or a postgres:// URL)",
            )
        })?
        .expose_secret()
        .trim()
        .to_owned();
    let url = database.contains("://") || database.to_ascii_lowercase().starts_with("sqlite:");
    let database = if url {
        database
    } else {
        dir.join(&database).to_string_lossy().into_owned()
    };
    let default = take_value(&mut table, "default_provider", &at(""), env)?;
    let providers_at = at("providers");
    let providers = take_table(&mut table, "providers", &at(""))?.ok_or_else(|| {
        refuse(
            &providers_at,
            "no provider: add [accounts.<name>.providers.<provider>]",
        )
    })?;
    no_other_keys(&table, &at(""))?;
    let mut specs = Vec::new();
    for (kind_name, settings) in providers {
        let key = format!("{providers_at}.{kind_name}");
        let kind = ProviderKind::ALL
            .iter()
            .copied()
            .find(|k| k.as_str() == kind_name)
            .ok_or_else(|| {
                let names: Vec<&str> = ProviderKind::ALL.iter().map(|k| k.as_str()).collect();
                refuse(
                    &key,
                    format!(
                        "no such provider (names are lowercase); known: {}",
                        names.join(", ")
                    ),
                )
            })?;
        let Value::Table(mut settings) = settings else {
            return Err(refuse(key, "must be a table of the provider's settings"));
        };
        let mut values = BTreeMap::new();
        let names: Vec<String> = settings.keys().cloned().collect();
        for setting in names {
            if let Some(v) = take_value(&mut settings, &setting, &format!("{key}."), env)? {
                values.insert(setting, v);
            }
        }
        specs.push(ProviderSpec {
            kind,
            key,
            settings: values,
        });
    }
    if let Some(default) = default {
        let wanted = default.expose_secret().trim();
        let i = specs
            .iter()
            .position(|p| p.kind.as_str() == wanted)
            .ok_or_else(|| {
                refuse(
                    at("default_provider"),
                    format!("{wanted:?} is not one of this account's providers"),
                )
            })?;
        let chosen = specs.remove(i);
        specs.insert(0, chosen);
    } else if specs.len() > 1 {
        return Err(refuse(
            at("default_provider"),
            "is not set and the account has several providers: say which one a payment without \"provider\" uses",
        ));
    }
    Ok(AccountSpec {
        name: name.to_owned(),
        config,
        database,
        providers: specs,
    })
}

/// Whether two database settings name the same database: SQLite files compared as absolute,
/// normalized paths (symbolic links resolved where the directory exists), PostgreSQL URLs by
/// host, port (default 5432) and database name.
fn same_database(a: &str, b: &str) -> bool {
    database_key(a) == database_key(b)
}

fn database_key(setting: &str) -> String {
    let lower = setting.to_ascii_lowercase();
    if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        if let Ok(u) = url::Url::parse(setting) {
            return format!(
                "postgres://{}:{}{}",
                u.host_str().unwrap_or("").to_ascii_lowercase(),
                u.port().unwrap_or(5432),
                u.path()
            );
        }
        return lower;
    }
    // A SQLite file: `sqlite:`, `sqlite://` or a path; the query (mode=…) aside.
    let path = ["sqlite://", "sqlite:"]
        .iter()
        .find_map(|p| lower.starts_with(p).then(|| &setting[p.len()..]))
        .unwrap_or(setting);
    let path = Path::new(path.split('?').next().unwrap_or(path));
    let absolute = std::path::absolute(path).unwrap_or_else(|_| path.to_owned());
    let resolved = match (absolute.parent(), absolute.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map(|d| d.join(name))
            .unwrap_or_else(|_| absolute.clone()),
        _ => absolute.clone(),
    };
    // Where the directory does not exist yet: `.` and `..` taken away by hand.
    let mut normal = PathBuf::new();
    for part in resolved.components() {
        match part {
            std::path::Component::CurDir => {}
            std::path::Component::ParentDir => {
                normal.pop();
            }
            other => normal.push(other),
        }
    }
    format!("sqlite:{}", normal.display())
}

/// Removes `name` from `table`: a string, number or boolean as text, or `{ env = "NAME" }`
/// read from the environment.
fn take_value(
    table: &mut Table,
    name: &str,
    at: &str,
    env: &impl Fn(&str) -> Option<String>,
) -> Result<Option<SecretString>, ConfigError> {
    let key = format!("{at}{name}");
    let text = match table.remove(name) {
        None => return Ok(None),
        Some(Value::String(s)) => s,
        Some(Value::Integer(i)) => i.to_string(),
        Some(Value::Boolean(b)) => b.to_string(),
        Some(Value::Table(mut t)) => {
            let Some(Value::String(variable)) = t.remove("env") else {
                return Err(refuse(key, "a table here must be { env = \"NAME\" }"));
            };
            if !t.is_empty() {
                return Err(refuse(key, "a table here must be { env = \"NAME\" } only"));
            }
            env(&variable)
                .filter(|v| !v.trim().is_empty())
                .ok_or_else(|| {
                    refuse(
                        &key,
                        format!("reads the environment variable {variable}, which is not set"),
                    )
                })?
        }
        Some(other) => {
            return Err(refuse(
                key,
                format!("a {} is not a setting: use a string", other.type_str()),
            ));
        }
    };
    Ok(Some(SecretString::from(text)))
}

fn take_table(table: &mut Table, name: &str, at: &str) -> Result<Option<Table>, ConfigError> {
    match table.remove(name) {
        None => Ok(None),
        Some(Value::Table(t)) => Ok(Some(t)),
        Some(_) => Err(refuse(format!("{at}{name}"), "must be a table")),
    }
}

fn no_other_keys(table: &Table, at: &str) -> Result<(), ConfigError> {
    match table.keys().next() {
        None => Ok(()),
        Some(key) => Err(refuse(
            format!("{at}{key}"),
            "is not a setting the service reads (a typo?)",
        )),
    }
}

#[cfg(test)]
mod tests;
