//! The callback settings every adapter whose provider posts to a URL the push names shares:
//! a default callback URL and a secret token that URL carries.

use std::fmt;

use secrecy::{ExposeSecret, SecretString};
use stk_core::{CallbackUrl, Error, StkPushRequest};

use crate::ProviderInfo;

/// A default callback URL and a callback secret token.
#[derive(Clone, Default)]
#[non_exhaustive]
pub struct CallbackOptions {
    /// The callback URL used when a request has none of its own.
    pub url: Option<CallbackUrl>,
    /// A secret the callback URL carries; when set, callbacks without it are refused.
    pub token: Option<SecretString>,
}

impl fmt::Debug for CallbackOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackOptions")
            // The query may carry the token (a URL given with its own `token` keeps it).
            .field("url", &self.url.as_ref().map(|u| redact_query(u.as_str())))
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish()
    }
}

impl CallbackOptions {
    /// Reads `<PREFIX>_CALLBACK_URL` (`https`, or `http` on loopback) and
    /// `<PREFIX>_CALLBACK_TOKEN` through `lookup`; unset or blank values leave the settings.
    pub fn read_env(
        &mut self,
        info: &ProviderInfo,
        lookup: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), Error> {
        let prefix = info.env_prefix;
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let var = format!("{prefix}_CALLBACK_URL");
        if let Some(url) = get(&var) {
            let url = CallbackUrl::parse(&url)
                .map_err(|e| Error::config(info.name, format!("{var}: {e}")))?;
            self.url = Some(url);
        }
        if let Some(token) = get(&format!("{prefix}_CALLBACK_TOKEN")) {
            self.token = Some(SecretString::from(token.trim().to_owned()));
        }
        Ok(())
    }

    /// Checks the settings: a token, when set, is not blank.
    pub fn check(&self, info: &ProviderInfo) -> Result<(), Error> {
        if self
            .token
            .as_ref()
            .is_some_and(|t| t.expose_secret().trim().is_empty())
        {
            return Err(Error::config(
                info.name,
                format!(
                    "{}_CALLBACK_TOKEN is empty: unset it, or set a long random secret",
                    info.env_prefix
                ),
            ));
        }
        Ok(())
    }

    /// The URL a push for `request` names: its own, else the default.
    pub fn url_for<'a>(&'a self, request: &'a StkPushRequest) -> Option<&'a CallbackUrl> {
        request.callback_url().or(self.url.as_ref())
    }

    /// `url` with the token as the query parameter `param` (unless the URL has one already).
    pub fn with_query_token(&self, url: &CallbackUrl, param: &str) -> String {
        match &self.token {
            Some(token) => url.with_query_token(param, token.expose_secret()).into(),
            None => url.as_str().to_owned(),
        }
    }
}

/// `url` with its query (which may carry a token) and fragment hidden, for messages and
/// `Debug`.
pub fn redact_query(url: &str) -> String {
    let url = url.split_once('#').map_or(url, |(head, _)| head);
    match url.split_once('?') {
        Some((head, _)) => format!("{head}?[redacted]"),
        None => url.to_owned(),
    }
}

/// The builder methods for an adapter config builder's [`CallbackOptions`] field.
#[macro_export]
macro_rules! callback_options_setters {
    ($field:ident) => {
        /// The callback URL used when a request has none of its own.
        pub fn callback_url(mut self, url: ::stk_core::CallbackUrl) -> Self {
            self.$field.url = Some(url);
            self
        }

        /// A callback secret token: added to every callback URL sent (as `?token=…` unless
        /// the URL already has a `token` parameter) and required, compared in constant time,
        /// of every callback parsed.
        pub fn callback_token(mut self, token: impl Into<String>) -> Self {
            self.$field.token = Some(::secrecy::SecretString::from(token.into()));
            self
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    const INFO: ProviderInfo = ProviderInfo {
        name: "lipia",
        env_prefix: "LIPIA",
        example_base_url: "https://lipia.example/api",
    };

    #[test]
    fn reads_checks_and_hides_the_token() {
        let mut options = CallbackOptions::default();
        let lookup = |name: &str| match name {
            "LIPIA_CALLBACK_URL" => Some("https://shop.example/cb?order=1".to_owned()),
            "LIPIA_CALLBACK_TOKEN" => Some(" hush-s3cret ".to_owned()),
            _ => None,
        };
        options.read_env(&INFO, &lookup).unwrap();
        options.check(&INFO).unwrap();
        let url = options.url.clone().unwrap();
        assert_eq!(
            options.with_query_token(&url, "token"),
            "https://shop.example/cb?order=1&token=hush-s3cret"
        );
        let shown = format!("{options:?}");
        assert!(!shown.contains("hush"), "{shown}");
        assert!(!shown.contains("order=1"), "{shown}");

        let err = options
            .read_env(&INFO, &|name: &str| {
                (name == "LIPIA_CALLBACK_URL").then(|| "http://shop.example/cb".to_owned())
            })
            .unwrap_err();
        assert!(err.to_string().contains("LIPIA_CALLBACK_URL"), "{err}");
        options.token = Some(SecretString::from(" ".to_owned()));
        assert!(options.check(&INFO).is_err());
    }

    #[test]
    fn queries_and_fragments_are_hidden() {
        assert_eq!(
            redact_query("https://a.example/cb?token=x#f"),
            "https://a.example/cb?[redacted]"
        );
        assert_eq!(
            redact_query("https://a.example/cb#t"),
            "https://a.example/cb"
        );
        assert_eq!(redact_query("https://a.example/cb"), "https://a.example/cb");
    }
}
