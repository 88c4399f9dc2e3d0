//! The merchant-side fields of a request: reference, description, callback URL, metadata.

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;

use url::Url;

/// Why a reference, description, callback URL or metadata entry was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FieldError {
    /// The reference was empty.
    #[error("reference is empty; give your order or invoice id, e.g. ORDER-1001")]
    EmptyReference,
    /// The reference was longer than [`Reference::MAX_LEN`].
    #[error("reference is {len} characters; at most {max} are allowed")]
    ReferenceTooLong {
        /// Its length.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// The reference had a character outside `A-Z a-z 0-9 - _ . / # :`.
    #[error("reference contains {character:?}; use letters, digits and - _ . / # :")]
    ReferenceCharacter {
        /// The offending character.
        character: char,
    },
    /// The description was empty, too long, or had control characters.
    #[error("description must be 1 to {max} printable characters")]
    Description {
        /// The maximum length.
        max: usize,
    },
    /// The callback URL did not parse.
    #[error("callback URL is not a valid URL: {reason}")]
    CallbackUrlSyntax {
        /// What the URL parser said.
        reason: String,
    },
    /// The callback URL was not `https` (only loopback hosts may use `http`).
    #[error(
        "callback URL must use https (providers refuse plain http); http is allowed only for localhost"
    )]
    CallbackUrlNotHttps,
    /// A metadata key or value broke the documented limits.
    #[error("metadata {reason}")]
    Metadata {
        /// What was wrong.
        reason: String,
    },
}

/// Your reference for a payment (order or invoice id), sent as KulmiPay's `api_ref` and
/// UpesiPay's and Lipia's `external_reference`, and echoed back in callbacks.
///
/// Rules: 1 to 64 characters from `A-Z a-z 0-9 - _ . / # :`. These fit every provider;
/// Daraja's 12-character `AccountReference` limit is checked by its adapter.
///
/// ```
/// use stk_core::Reference;
/// assert!(Reference::new("ORDER-1001").is_ok());
/// assert!(Reference::new("order 1001").is_err());
/// ```
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct Reference(String);

impl Reference {
    /// The longest reference accepted.
    pub const MAX_LEN: usize = 64;

    /// Validates a reference.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        if value.is_empty() {
            return Err(FieldError::EmptyReference);
        }
        if let Some(character) = value.chars().find(|c| {
            !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '/' | '#' | ':'))
        }) {
            return Err(FieldError::ReferenceCharacter { character });
        }
        if value.len() > Self::MAX_LEN {
            return Err(FieldError::ReferenceTooLong {
                len: value.len(),
                max: Self::MAX_LEN,
            });
        }
        Ok(Self(value))
    }

    /// The reference text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reference({:?})", self.0)
    }
}

impl TryFrom<&str> for Reference {
    type Error = FieldError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

impl TryFrom<String> for Reference {
    type Error = FieldError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// A short human description of the payment (Daraja's `TransactionDesc`; Lipia gets it in
/// `metadata`). 1 to 100 printable characters.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Description(String);

impl Description {
    /// The longest description accepted.
    pub const MAX_LEN: usize = 100;

    /// Validates a description.
    pub fn new(value: impl Into<String>) -> Result<Self, FieldError> {
        let value = value.into();
        let len = value.chars().count();
        if len == 0 || len > Self::MAX_LEN || value.chars().any(char::is_control) {
            return Err(FieldError::Description { max: Self::MAX_LEN });
        }
        Ok(Self(value))
    }

    /// The description text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<&str> for Description {
    type Error = FieldError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::new(s)
    }
}

/// Where the provider should POST the result. `https` is required, except for loopback hosts
/// (`localhost`, `127.0.0.0/8`, `::1`) used in development and tests.
///
/// ```
/// use stk_core::CallbackUrl;
/// assert!(CallbackUrl::parse("https://shop.example/mpesa/callback").is_ok());
/// assert!(CallbackUrl::parse("http://shop.example/mpesa/callback").is_err());
/// assert!(CallbackUrl::parse("http://127.0.0.1:8080/cb").is_ok());
/// ```
#[derive(Clone, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct CallbackUrl(Url);

/// The query is hidden (`?[redacted]`): it may carry a callback token.
impl fmt::Debug for CallbackUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut shown = self.0.clone();
        let had_query = shown.query().is_some();
        shown.set_query(None);
        shown.set_fragment(None);
        if had_query {
            write!(f, "CallbackUrl({shown}?[redacted])")
        } else {
            write!(f, "CallbackUrl({shown})")
        }
    }
}

impl CallbackUrl {
    /// Parses and checks a callback URL. Surrounding whitespace is trimmed.
    pub fn parse(input: &str) -> Result<Self, FieldError> {
        let url = Url::parse(input.trim()).map_err(|e| FieldError::CallbackUrlSyntax {
            reason: e.to_string(),
        })?;
        Self::new(url)
    }

    /// Checks an already parsed URL.
    pub fn new(url: Url) -> Result<Self, FieldError> {
        match url.scheme() {
            "https" => Ok(Self(url)),
            "http" if is_loopback(&url) => Ok(Self(url)),
            _ => Err(FieldError::CallbackUrlNotHttps),
        }
    }

    /// The URL.
    pub fn as_url(&self) -> &Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// This URL with `param=token` added to its query, unless it already has `param` (a URL
    /// that carries its own token keeps it). The sending side of
    /// [`CallbackRequest::verify_query_token`](crate::CallbackRequest::verify_query_token),
    /// for providers that sign nothing.
    ///
    /// ```
    /// use stk_core::CallbackUrl;
    /// let url = CallbackUrl::parse("https://shop.example/cb?order=7")?;
    /// assert_eq!(url.with_query_token("token", "s3cret").as_str(), "https://shop.example/cb?order=7&token=s3cret");
    /// let own = CallbackUrl::parse("https://shop.example/cb?token=mine")?;
    /// assert_eq!(own.with_query_token("token", "s3cret").as_str(), "https://shop.example/cb?token=mine");
    /// # Ok::<(), stk_core::FieldError>(())
    /// ```
    pub fn with_query_token(&self, param: &str, token: &str) -> Url {
        let mut url = self.0.clone();
        if !url.query_pairs().any(|(k, _)| k == param) {
            url.query_pairs_mut().append_pair(param, token);
        }
        url
    }
}

/// Whether `url` points at this machine (`localhost`, `127.0.0.0/8`, `::1`): the only hosts
/// plain `http` may carry secrets or callbacks to.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => IpAddr::V4(ip).is_loopback(),
        Some(url::Host::Ipv6(ip)) => IpAddr::V6(ip).is_loopback(),
        None => false,
    }
}

impl TryFrom<&str> for CallbackUrl {
    type Error = FieldError;
    fn try_from(s: &str) -> Result<Self, Self::Error> {
        Self::parse(s)
    }
}

impl TryFrom<Url> for CallbackUrl {
    type Error = FieldError;
    fn try_from(u: Url) -> Result<Self, Self::Error> {
        Self::new(u)
    }
}

/// Key/value pairs stored with the payment (Lipia's `metadata`). Ordered, so wire payloads
/// are deterministic. At most 20 entries; keys 1 to 40 characters, values at most 500.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
#[serde(transparent)]
pub struct Metadata(BTreeMap<String, String>);

impl Metadata {
    /// Most entries allowed.
    pub const MAX_ENTRIES: usize = 20;
    /// Longest key allowed.
    pub const MAX_KEY_LEN: usize = 40;
    /// Longest value allowed.
    pub const MAX_VALUE_LEN: usize = 500;

    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry, checking the limits.
    pub fn insert(
        &mut self,
        key: impl Into<String>,
        value: impl Into<String>,
    ) -> Result<(), FieldError> {
        let (key, value) = (key.into(), value.into());
        let bad = |reason: String| Err(FieldError::Metadata { reason });
        if key.is_empty() || key.chars().count() > Self::MAX_KEY_LEN {
            return bad(format!("key must be 1 to {} characters", Self::MAX_KEY_LEN));
        }
        if value.chars().count() > Self::MAX_VALUE_LEN {
            return bad(format!(
                "value for {key:?} is longer than {} characters",
                Self::MAX_VALUE_LEN
            ));
        }
        if !self.0.contains_key(&key) && self.0.len() >= Self::MAX_ENTRIES {
            return bad(format!("has more than {} entries", Self::MAX_ENTRIES));
        }
        self.0.insert(key, value);
        Ok(())
    }

    /// The entries, in key order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether there are no entries.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many entries there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn reference_rules() {
        assert!(Reference::new("INV-009").is_ok());
        assert!(Reference::new("order_123/a#1:x.y").is_ok());
        assert_eq!(Reference::new(""), Err(FieldError::EmptyReference));
        assert_eq!(
            Reference::new("a b"),
            Err(FieldError::ReferenceCharacter { character: ' ' })
        );
        assert!(matches!(
            Reference::new("x".repeat(65)),
            Err(FieldError::ReferenceTooLong { len: 65, max: 64 })
        ));
    }

    #[test]
    fn callback_url_rules() {
        assert!(CallbackUrl::parse(" https://a.example/cb ").is_ok());
        assert!(CallbackUrl::parse("http://localhost:3000/cb").is_ok());
        assert!(CallbackUrl::parse("http://[::1]:3000/cb").is_ok());
        assert_eq!(
            CallbackUrl::parse("http://a.example/cb"),
            Err(FieldError::CallbackUrlNotHttps)
        );
        assert_eq!(
            CallbackUrl::parse("ftp://a.example/cb"),
            Err(FieldError::CallbackUrlNotHttps)
        );
        assert!(matches!(
            CallbackUrl::parse("not a url"),
            Err(FieldError::CallbackUrlSyntax { .. })
        ));
    }

    #[test]
    fn description_and_metadata_limits() {
        assert!(Description::new("Order 1001").is_ok());
        assert!(Description::new("").is_err());
        assert!(Description::new("a\nb").is_err());
        let mut m = Metadata::new();
        for i in 0..Metadata::MAX_ENTRIES {
            m.insert(format!("k{i}"), "v").unwrap();
        }
        assert!(m.insert("one-more", "v").is_err());
        assert!(m.insert("k0", "replaced").is_ok());
        assert!(m.insert("", "v").is_err());
    }

    proptest! {
        #[test]
        fn reference_accepts_exactly_its_charset(s in any::<String>()) {
            let valid = !s.is_empty()
                && s.len() <= Reference::MAX_LEN
                && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./#:".contains(c));
            prop_assert_eq!(Reference::new(s.clone()).is_ok(), valid);
        }

        #[test]
        fn callback_url_never_panics(s in any::<String>()) {
            if let Ok(u) = CallbackUrl::parse(&s) {
                prop_assert!(u.as_url().scheme() == "https" || u.as_url().scheme() == "http");
            }
        }
    }
}

#[cfg(test)]
mod callback_url_debug {
    use super::*;

    #[test]
    fn a_token_in_the_query_never_shows_in_debug() {
        let url = CallbackUrl::parse("https://shop.example/cb?token=s3cret-token").unwrap();
        let shown = format!("{url:?}");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert_eq!(shown, "CallbackUrl(https://shop.example/cb?[redacted])");
    }
}
