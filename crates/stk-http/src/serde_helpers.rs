//! Lenient readers for providers' JSON: documented types are not always what arrives.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// Parses `body` as a JSON value refusing duplicate object keys ([`strict_value`]), then as
/// `T` (whose fields may be lenient).
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    serde_json::from_value(strict_value(body)?).ok()
}

/// `body` as a JSON value, or `None` if it is not JSON or any object in it repeats a key: with
/// two `"Amount"` keys, which one a parser keeps is a guess, and money is never guessed.
pub fn strict_value(body: &[u8]) -> Option<Value> {
    serde_json::from_slice::<Strict>(body).ok().map(|s| s.0)
}

/// A JSON value whose objects have no repeated keys.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> serde::de::Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JSON without repeated object keys")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Strict::deserialize(d).map(|s| s.0)
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Strict(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let Strict(value) = map.next_value()?;
            if object.insert(key.clone(), value).is_some() {
                return Err(serde::de::Error::custom(format!("repeated key {key:?}")));
            }
        }
        Ok(Value::Object(object))
    }
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
        let t: T = from_slice(br#"{"s": null, "b": 0, "n": 7}"#).unwrap();
        assert_eq!((t.s.as_deref(), t.b, t.n), (None, Some(false), Some(7)));
        // A repeated key is refused, at any depth.
        assert!(from_slice::<T>(br#"{"s": "a", "b": 0, "s": "b"}"#).is_none());
        assert!(strict_value(br#"{"x": [{"Amount": 1, "Amount": 150000}]}"#).is_none());
        assert!(strict_value(br#"{"x": [{"Amount": 1}, {"Amount": 2}]}"#).is_some());
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
