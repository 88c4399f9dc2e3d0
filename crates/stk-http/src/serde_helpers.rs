//! Lenient readers for providers' JSON: documented types are not always what arrives.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Parses `body` as a JSON value first (so duplicate keys cannot fail the parse), then as `T`.
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    let value = serde_json::from_slice::<Value>(body).ok()?;
    serde_json::from_value(value).ok()
}

/// Text, from a JSON string, number or boolean; `None` for null and anything else.
pub fn loose_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        Some(Value::Bool(b)) => Some(b.to_string()),
        _ => None,
    })
}

/// A boolean, from JSON `true`/`false`, `"true"`/`"false"` (any case) or `1`/`0`; `None`
/// otherwise.
pub fn loose_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::Bool(b)) => Some(b),
        Some(Value::String(s)) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" => Some(true),
            "false" | "0" => Some(false),
            _ => None,
        },
        Some(Value::Number(n)) => n.as_i64().map(|n| n != 0),
        _ => None,
    })
}

/// `T`, or `None` if the value does not fit.
pub fn lenient<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    Ok(Option::<Value>::deserialize(d)?.and_then(|v| serde_json::from_value(v).ok()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "loose_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "loose_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "lenient")]
        n: Option<u8>,
    }

    #[test]
    fn loose_values() {
        let t: T = from_slice(br#"{"s": 12, "b": "TRUE", "n": "x"}"#).unwrap();
        assert_eq!((t.s.as_deref(), t.b, t.n), (Some("12"), Some(true), None));
        let t: T = from_slice(br#"{"s": null, "b": 0, "n": 7, "s": "dup"}"#).unwrap();
        assert_eq!(
            (t.s.as_deref(), t.b, t.n),
            (Some("dup"), Some(false), Some(7))
        );
        assert!(from_slice::<T>(b"\"text\"").is_none());
        assert!(from_slice::<T>(b"{not json").is_none());
    }

    proptest! {
        #[test]
        fn any_bytes_parse_or_not_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_slice::<T>(&body);
        }
    }
}
