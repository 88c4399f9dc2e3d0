//! Lenient readers for providers' JSON: documented types are not always what arrives.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use stk_core::Amount;

mod strict;

/// Parses `body` as a JSON value ([`strict_value`]: no repeated keys, every number exact),
/// then as `T` (whose fields may be lenient).
pub fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Option<T> {
    parse(body).ok()
}

/// [`from_slice`], with the reason when `body` is refused (for error messages).
pub fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    check(body)?;
    serde_json::from_slice(body).map_err(|e| e.to_string())
}

/// `body` as a JSON value, or `None` if it is not JSON, any object in it repeats a key (with
/// two `"Amount"` keys, which one a parser keeps is a guess), or a number in it cannot be
/// read exactly (`99.99999999999999999` is not 100). Money is never guessed.
pub fn strict_value(body: &[u8]) -> Option<Value> {
    parse(body).ok()
}

/// Refuses what [`strict_value`] refuses, in one pass over the text, building nothing.
fn check(body: &[u8]) -> Result<(), String> {
    strict::scan(body, true).map_err(|refusal| refusal.to_string())
}

/// The first number literal in the JSON text `body` whose parsed value does not print back as
/// the same decimal (too many digits for a float, or out of range), if any.
pub fn inexact_number(body: &[u8]) -> Option<&str> {
    match strict::scan(body, false) {
        Err(strict::Refusal::InexactNumber(token)) => Some(token),
        _ => None,
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

/// An amount a provider reports, read strictly as whole shillings ([`Amount`]'s grammar, from
/// a JSON string or number): `None` when absent, null or blank; any other text that is not
/// whole shillings refuses the whole answer rather than being rounded or dropped.
pub fn whole_shillings<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Amount>, D::Error> {
    match loose_string(d)? {
        Some(text) if !text.trim().is_empty() => text
            .parse::<Amount>()
            .map(Some)
            .map_err(|e| serde::de::Error::custom(format!("amount {text:?}: {e}"))),
        _ => Ok(None),
    }
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
        // Big objects too (past the small-object list).
        let keys: Vec<String> = (0..1000).map(|i| format!("\"k{i}\": {i}")).collect();
        let object = format!("{{{}}}", keys.join(","));
        assert!(strict_value(object.as_bytes()).is_some());
        let repeated = format!("{{{}, \"k500\": 1}}", keys.join(","));
        assert!(strict_value(repeated.as_bytes()).is_none());
        // Escaped keys are compared by their text.
        assert!(strict_value(br#"{"Amount": 1, "Amo\u0075nt": 2}"#).is_none());
        assert!(from_slice::<T>(b"\"text\"").is_none());
        assert!(from_slice::<T>(b"{not json").is_none());
    }

    #[test]
    fn numbers_that_floats_cannot_carry_are_refused() {
        // Through an f64, 99.99999999999999999 would become 100.
        assert_eq!(
            inexact_number(br#"{"Amount": 99.99999999999999999}"#),
            Some("99.99999999999999999")
        );
        assert!(strict_value(br#"{"Amount": 99.99999999999999999}"#).is_none());
        assert!(parse::<Value>(br#"{"a": 1e400}"#).is_err());
        assert!(strict_value(br#"{"a": 100000000000000000001}"#).is_none());
        // Digits inside strings are text, not numbers.
        assert_eq!(
            inexact_number(br#"{"a": "99.99999999999999999", "b\"1": 2}"#),
            None
        );
        for exact in [
            "100",
            "1.0",
            "100.00",
            "-0",
            "0.1",
            "1e2",
            "18446744073709551615",
            "-9223372036854775808",
            "254794721438",
            "20200511201419",
        ] {
            assert_eq!(inexact_number(exact.as_bytes()), None, "{exact}");
        }
    }

    #[test]
    fn provider_amounts_are_whole_shillings_or_refused() {
        #[derive(Deserialize, Debug)]
        struct A {
            #[serde(default, deserialize_with = "whole_shillings")]
            amount: Option<Amount>,
        }
        let read =
            |body: &str| from_slice::<A>(body.as_bytes()).map(|a| a.amount.map(Amount::shillings));
        assert_eq!(read(r#"{"amount": 100}"#), Some(Some(100)));
        assert_eq!(read(r#"{"amount": "100.00"}"#), Some(Some(100)));
        assert_eq!(read(r#"{"amount": 1.0}"#), Some(Some(1)));
        assert_eq!(read(r#"{"amount": null}"#), Some(None));
        assert_eq!(read(r#"{"amount": " "}"#), Some(None));
        assert_eq!(read(r#"{}"#), Some(None));
        for refused in [
            r#"{"amount": 99.5}"#,
            r#"{"amount": "1,000"}"#,
            r#"{"amount": 0}"#,
            r#"{"amount": -5}"#,
            r#"{"amount": "18446744073709551616"}"#,
            r#"{"amount": 99.99999999999999999}"#,
        ] {
            assert_eq!(read(refused), None, "{refused}");
        }
    }

    proptest! {
        #[test]
        fn every_integer_and_shortest_float_is_exact(n in any::<i64>(), u in any::<u64>(), f in any::<f64>()) {
            let (n, u) = (n.to_string(), u.to_string());
            prop_assert_eq!(inexact_number(n.as_bytes()), None);
            prop_assert_eq!(inexact_number(u.as_bytes()), None);
            if f.is_finite() {
                let text = serde_json::to_string(&f).unwrap();
                prop_assert_eq!(inexact_number(text.as_bytes()), None, "{}", text);
            }
        }

        #[test]
        fn more_digits_than_a_float_carries_are_refused(whole in 1u64..1_000_000, tail in "[1-9][0-9]{20,30}") {
            let text = format!("{whole}.{tail}");
            prop_assert_eq!(inexact_number(text.as_bytes()), Some(text.as_str()));
        }

        #[test]
        fn any_bytes_parse_or_not_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = from_slice::<T>(&body);
        }
    }
}
