//! [`ClientOptions`]: the HTTP settings every adapter config embeds (base URL, timeouts,
//! user agent), their builder setters and their environment variables, written once.

use std::time::Duration;

use stk_core::Error;
use url::Url;

/// What an adapter tells [`ClientOptionsBuilder::build`] about itself.
#[derive(Debug, Clone, Copy)]
pub struct ProviderInfo {
    /// The provider name, e.g. `lipia`.
    pub name: &'static str,
    /// The prefix of its environment variables, e.g. `LIPIA` for `LIPIA_BASE_URL`.
    pub env_prefix: &'static str,
    /// A base URL to show in error messages.
    pub example_base_url: &'static str,
}

/// Base URL, timeouts and user agent of an adapter's HTTP client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientOptions {
    /// The API base URL, ending in `/`, without query or fragment.
    pub base_url: Url,
    /// Whole-request timeout (connect, send, response).
    pub timeout: Duration,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// The `User-Agent` header.
    pub user_agent: String,
    /// Retries of what was certainly not processed (`None`, the default: never retry).
    pub retry: Option<crate::RetryPolicy>,
}

/// Default whole-request timeout.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// Collects [`ClientOptions`]; adapter config builders embed one and expose its setters with
/// [`client_options_setters!`](crate::client_options_setters).
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ClientOptionsBuilder {
    /// The base URL as given.
    pub base_url: Option<String>,
    /// The whole-request timeout.
    pub timeout: Option<Duration>,
    /// The connect timeout.
    pub connect_timeout: Option<Duration>,
    /// The `User-Agent`.
    pub user_agent: Option<String>,
    /// Accept a plain `http://` base URL to a host other than this machine (test rigs only:
    /// the API key would travel in clear).
    pub danger_accept_insecure_http: bool,
    /// Retries of what was certainly not processed (off by default).
    pub retry: Option<crate::RetryPolicy>,
}

impl ClientOptionsBuilder {
    /// Reads `<PREFIX>_BASE_URL` through `lookup` (empty counts as unset).
    pub fn read_env(&mut self, info: &ProviderInfo, lookup: &dyn Fn(&str) -> Option<String>) {
        if let Some(url) =
            lookup(&format!("{}_BASE_URL", info.env_prefix)).filter(|v| !v.trim().is_empty())
        {
            self.base_url = Some(url.trim().to_owned());
        }
    }

    /// Checks the settings: the base URL must be an absolute `http(s)` URL; it gets a
    /// trailing `/` and loses any query or fragment. `default_base_url` is used when none
    /// was set.
    pub fn build(
        self,
        info: &ProviderInfo,
        default_base_url: impl FnOnce() -> Result<String, Error>,
    ) -> Result<ClientOptions, Error> {
        let var = format!("{}_BASE_URL", info.env_prefix);
        let example = info.example_base_url;
        let base = match self.base_url {
            Some(url) => url,
            None => default_base_url()?,
        };
        let mut base_url = Url::parse(base.trim()).map_err(|e| {
            Error::config(
                info.name,
                format!("{var} is not a valid URL ({e}): use e.g. {example}"),
            )
        })?;
        if !matches!(base_url.scheme(), "http" | "https") || base_url.cannot_be_a_base() {
            return Err(Error::config(
                info.name,
                format!("{var} must be an http(s) URL, e.g. {example}"),
            ));
        }
        if !base_url.username().is_empty() || base_url.password().is_some() {
            return Err(Error::config(
                info.name,
                format!(
                    "{var} must not carry a user name or password: set the credentials with \
                     their own settings, e.g. {example}"
                ),
            ));
        }
        if base_url.scheme() == "http"
            && !stk_core::is_loopback(&base_url)
            && !self.danger_accept_insecure_http
        {
            return Err(Error::config(
                info.name,
                format!(
                    "{var} uses http:// to another host, so the credentials would travel in \
                     clear: use https (plain http is accepted on 127.0.0.1/localhost; test rigs \
                     elsewhere can opt in with danger_accept_insecure_http)"
                ),
            ));
        }
        if !base_url.path().ends_with('/') {
            let path = format!("{}/", base_url.path());
            base_url.set_path(&path);
        }
        base_url.set_query(None);
        base_url.set_fragment(None);
        Ok(ClientOptions {
            base_url,
            timeout: self.timeout.unwrap_or(DEFAULT_TIMEOUT),
            connect_timeout: self.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT),
            user_agent: self
                .user_agent
                .unwrap_or_else(|| format!("stk-{}/{}", info.name, env!("CARGO_PKG_VERSION"))),
            retry: self.retry,
        })
    }
}

/// Adds the [`ClientOptions`] setters (`base_url`, `timeout`, `connect_timeout`,
/// `user_agent`) to an adapter's config builder whose field `$field` is a
/// [`ClientOptionsBuilder`].
#[macro_export]
macro_rules! client_options_setters {
    ($field:ident) => {
        /// The API base URL, e.g. an emulator's `http://127.0.0.1:PORT/…` (default: the
        /// provider's documented live URL).
        pub fn base_url(mut self, url: impl Into<String>) -> Self {
            self.$field.base_url = Some(url.into());
            self
        }

        /// The whole-request timeout (default 30 s).
        pub fn timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.$field.timeout = Some(timeout);
            self
        }

        /// The connect timeout (default 10 s).
        pub fn connect_timeout(mut self, timeout: ::std::time::Duration) -> Self {
            self.$field.connect_timeout = Some(timeout);
            self
        }

        /// The `User-Agent` header (default `stk-<provider>/<version>`).
        pub fn user_agent(mut self, agent: impl Into<String>) -> Self {
            self.$field.user_agent = Some(agent.into());
            self
        }

        /// Retry what was certainly not processed (`unavailable`: nothing sent or HTTP 503;
        /// `rate_limited`, honouring `Retry-After`) with backoff and jitter within a deadline.
        /// Off by default. Never retries `outcome_unknown`: a push that may have gone out is
        /// never sent again.
        pub fn retry(mut self, policy: $crate::RetryPolicy) -> Self {
            self.$field.retry = Some(policy);
            self
        }

        /// Accept a plain `http://` base URL to a host other than this machine. For test rigs
        /// only: the API key then travels in clear. (`http` to 127.0.0.1 or localhost needs no
        /// opt-in.)
        pub fn danger_accept_insecure_http(mut self) -> Self {
            self.$field.danger_accept_insecure_http = true;
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: ProviderInfo = ProviderInfo {
        name: "p",
        env_prefix: "P",
        example_base_url: "https://p.example/api",
    };

    fn build(url: &str) -> Result<ClientOptions, Error> {
        ClientOptionsBuilder {
            base_url: Some(url.to_owned()),
            ..Default::default()
        }
        .build(&INFO, || Ok(String::new()))
    }

    #[test]
    fn base_url_is_normalised_and_checked() {
        let o = build(" http://127.0.0.1:9/api/v2?x=1#f ").unwrap();
        assert_eq!(o.base_url.as_str(), "http://127.0.0.1:9/api/v2/");
        assert_eq!(o.user_agent, format!("stk-p/{}", env!("CARGO_PKG_VERSION")));
        for bad in ["ftp://x/", "not a url", "mailto:a@b"] {
            let e = build(bad).unwrap_err();
            assert!(e.to_string().contains("P_BASE_URL"), "{e}");
        }
    }

    #[test]
    fn secrets_never_go_in_clear_or_in_the_url() {
        for bad in [
            "http://api.example.com/v1",
            "http://10.0.0.5:8080/v1",
            "https://user:pass@api.example.com/v1",
            "https://key@api.example.com/v1",
        ] {
            let e = build(bad).unwrap_err();
            assert_eq!(e.kind(), "config", "{bad}");
            assert!(!e.to_string().contains("pass@"), "{e}");
        }
        for good in [
            "https://api.example.com/v1",
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://[::1]:8/x",
        ] {
            assert!(build(good).is_ok(), "{good}");
        }
        let rig = ClientOptionsBuilder {
            base_url: Some("http://emulator.internal:8700/v1".into()),
            danger_accept_insecure_http: true,
            ..Default::default()
        };
        assert!(rig.build(&INFO, || Ok(String::new())).is_ok());
    }

    #[test]
    fn env_and_default() {
        let mut b = ClientOptionsBuilder::default();
        b.read_env(&INFO, &|n| (n == "P_BASE_URL").then(|| "  ".to_owned()));
        assert_eq!(b.base_url, None);
        let o = b
            .build(&INFO, || Ok("https://d.example/v1".into()))
            .unwrap();
        assert_eq!(o.base_url.as_str(), "https://d.example/v1/");
        assert_eq!(o.timeout, DEFAULT_TIMEOUT);
    }
}
