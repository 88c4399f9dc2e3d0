//! One pass over JSON text refusing what money must not guess: an object key given twice
//! (which one would a parser keep?) and a number literal a float cannot carry exactly
//! (`99.99999999999999999` is not 100). Builds nothing; serde parses after it.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

/// Why a JSON text is refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Refusal<'a> {
    /// An object repeats this key.
    RepeatedKey(Cow<'a, str>),
    /// This number literal does not read back as the same decimal.
    InexactNumber(&'a str),
}

impl fmt::Display for Refusal<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cut = |s: &str| s.chars().take(40).collect::<String>();
        match self {
            Self::RepeatedKey(key) => write!(f, "repeated key {:?}", cut(key)),
            Self::InexactNumber(token) => {
                write!(f, "the number {:?} cannot be read exactly", cut(token))
            }
        }
    }
}

/// Deeper nesting is left to serde_json, which refuses it (its limit is 128).
const MAX_DEPTH: usize = 256;

/// Keys compared in a list up to this many per object; past it, in a set (stays linear).
const SMALL_OBJECT: usize = 16;

/// An open object or array.
struct Frame<'a> {
    /// Where this object's keys start in the shared key list (`None` for arrays).
    keys_from: Option<usize>,
    /// A big object's keys, in a set instead of the list.
    many: Option<HashSet<Cow<'a, [u8]>>>,
    /// The next string in this object is a key.
    expect_key: bool,
}

/// Scans `body`: the first repeated key (when `keys`) or inexact number. Text that is not
/// JSON may pass; serde_json refuses it afterwards.
pub(super) fn scan(body: &[u8], keys: bool) -> Result<(), Refusal<'_>> {
    let mut stack: Vec<Frame<'_>> = Vec::new();
    // The keys of every open small object, innermost last (no allocation per object).
    let mut seen: Vec<Cow<'_, [u8]>> = Vec::new();
    let mut i = 0;
    while i < body.len() {
        match body[i] {
            open @ (b'{' | b'[') => {
                if stack.len() >= MAX_DEPTH {
                    return Ok(());
                }
                let object = open == b'{' && keys;
                stack.push(Frame {
                    keys_from: object.then_some(seen.len()),
                    many: None,
                    expect_key: object,
                });
                i += 1;
            }
            b'}' | b']' => {
                if let Some(from) = stack.pop().and_then(|f| f.keys_from) {
                    seen.truncate(from);
                }
                i += 1;
            }
            b',' => {
                if let Some(frame) = stack.last_mut() {
                    frame.expect_key = frame.keys_from.is_some();
                }
                i += 1;
            }
            b'"' => {
                let start = i + 1;
                let (end, escaped) = string_end(body, start);
                if let Some(frame) = stack.last_mut().filter(|f| f.expect_key) {
                    frame.expect_key = false;
                    let Some(key) = key_text(&body[start..end.min(body.len())], escaped) else {
                        return Ok(()); // a bad escape: not JSON
                    };
                    if !insert(frame, &mut seen, key.clone()) {
                        return Err(Refusal::RepeatedKey(match key {
                            Cow::Borrowed(k) => String::from_utf8_lossy(k),
                            Cow::Owned(k) => Cow::Owned(String::from_utf8_lossy(&k).into_owned()),
                        }));
                    }
                }
                i = end + 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < body.len()
                    && matches!(body[i], b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E')
                {
                    i += 1;
                }
                let token = std::str::from_utf8(&body[start..i]).unwrap_or("?");
                if !number_is_exact(token) {
                    return Err(Refusal::InexactNumber(token));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// Adds `key` to the innermost object's keys; `false` if it was there. Small objects compare
/// in the shared list; past [`SMALL_OBJECT`] keys an object moves to its own set.
fn insert<'a>(frame: &mut Frame<'a>, seen: &mut Vec<Cow<'a, [u8]>>, key: Cow<'a, [u8]>) -> bool {
    let Some(from) = frame.keys_from else {
        return true;
    };
    if let Some(many) = frame.many.as_mut() {
        return many.insert(key);
    }
    if seen[from..].contains(&key) {
        return false;
    }
    if seen.len() - from < SMALL_OBJECT {
        seen.push(key);
    } else {
        let mut many: HashSet<_> = seen.drain(from..).collect();
        many.insert(key);
        frame.many = Some(many);
    }
    true
}

/// Where the string starting at `start` (just after its opening quote) ends (its closing
/// quote, or the end of the text), and whether it has escapes.
fn string_end(body: &[u8], mut i: usize) -> (usize, bool) {
    let mut escaped = false;
    while let Some(at) = body
        .get(i..)
        .and_then(|rest| rest.iter().position(|&b| b == b'"' || b == b'\\'))
    {
        i += at;
        if body[i] == b'"' {
            return (i, escaped);
        }
        escaped = true;
        i += 2;
    }
    (body.len(), escaped)
}

/// A key's bytes: borrowed when it has no escapes, decoded otherwise (`None` if the escapes
/// are not JSON).
fn key_text(raw: &[u8], escaped: bool) -> Option<Cow<'_, [u8]>> {
    if !escaped {
        return Some(Cow::Borrowed(raw));
    }
    let mut quoted = Vec::with_capacity(raw.len() + 2);
    quoted.push(b'"');
    quoted.extend_from_slice(raw);
    quoted.push(b'"');
    serde_json::from_slice::<String>(&quoted)
        .ok()
        .map(|k| Cow::Owned(k.into_bytes()))
}

/// Whether serde_json reads the literal `token` as a number with the same decimal value.
fn number_is_exact(token: &str) -> bool {
    // Plain integers up to 18 digits fit an i64/u64: exact, without parsing.
    let digits = token.strip_prefix('-').unwrap_or(token);
    if !digits.is_empty() && digits.len() <= 18 && digits.bytes().all(|b| b.is_ascii_digit()) {
        return true;
    }
    let Ok(number) = serde_json::from_str::<serde_json::Number>(token) else {
        return false;
    };
    if number.is_u64() || number.is_i64() {
        return true;
    }
    match (decimal(token), decimal(&number.to_string())) {
        (Some(sent), Some(read)) => sent == read,
        _ => false,
    }
}

/// A decimal literal as (negative, significant digits, power of ten); zero is `(false, [], 0)`.
fn decimal(text: &str) -> Option<(bool, Vec<u8>, i64)> {
    let (negative, text) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], text[at + 1..].parse::<i64>().ok()?),
        None => (text, 0),
    };
    let (whole, fraction) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = whole.bytes().chain(fraction.bytes()).collect();
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut exponent = exponent.checked_sub(i64::try_from(fraction.len()).ok()?)?;
    let Some(first) = digits.iter().position(|&d| d != b'0') else {
        return Some((false, Vec::new(), 0));
    };
    digits.drain(..first);
    while digits.last() == Some(&b'0') {
        digits.pop();
        exponent = exponent.checked_add(1)?;
    }
    Some((negative, digits, exponent))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde::{Deserialize, Deserializer};

    use super::*;

    /// Any JSON value whose objects repeat no key (the values themselves are dropped).
    struct NoRepeatedKeys;

    impl<'de> Deserialize<'de> for NoRepeatedKeys {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            d.deserialize_any(NoRepeatedKeys)
        }
    }

    impl<'de> serde::de::Visitor<'de> for NoRepeatedKeys {
        type Value = Self;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("JSON without repeated object keys")
        }
        fn visit_bool<E>(self, _: bool) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_str<E>(self, _: &str) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_unit<E>(self) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_none<E>(self) -> Result<Self, E> {
            Ok(self)
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self, D::Error> {
            Self::deserialize(d)
        }
        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self, A::Error> {
            while seq.next_element::<Self>()?.is_some() {}
            Ok(self)
        }
        fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self, A::Error> {
            // Small objects (all documented ones) compare in a list; big ones in a set, so a
            // hostile object with many keys stays linear.
            let mut few: Vec<Key<'de>> = Vec::new();
            let mut many: std::collections::HashSet<Key<'de>> = std::collections::HashSet::new();
            while let Some(key) = map.next_key::<Key<'de>>()? {
                let repeated = if many.is_empty() && few.len() < 16 {
                    let repeated = few.contains(&key);
                    few.push(key.clone());
                    repeated
                } else {
                    many.extend(few.drain(..));
                    !many.insert(key.clone())
                };
                if repeated {
                    return Err(serde::de::Error::custom(format!(
                        "repeated key {:?}",
                        key.0
                    )));
                }
                map.next_value::<Self>()?;
            }
            Ok(self)
        }
    }

    /// An object key, borrowed from the input unless it had escapes.
    #[derive(Clone, PartialEq, Eq, Hash)]
    struct Key<'de>(std::borrow::Cow<'de, str>);

    impl<'de> Deserialize<'de> for Key<'de> {
        fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
            struct KeyVisitor;
            impl<'de> serde::de::Visitor<'de> for KeyVisitor {
                type Value = Key<'de>;
                fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                    f.write_str("an object key")
                }
                fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Key<'de>, E> {
                    Ok(Key(std::borrow::Cow::Borrowed(v)))
                }
                fn visit_str<E>(self, v: &str) -> Result<Key<'de>, E> {
                    Ok(Key(std::borrow::Cow::Owned(v.to_owned())))
                }
            }
            d.deserialize_str(KeyVisitor)
        }
    }

    fn oracle_refuses(body: &[u8]) -> bool {
        serde_json::from_slice::<NoRepeatedKeys>(body).is_err()
    }

    /// JSON text built from parts so that keys repeat now and then, escapes included.
    fn json_text() -> impl Strategy<Value = String> {
        let key = prop_oneof![
            Just("a".to_owned()),
            Just("b".to_owned()),
            Just("Amount".to_owned()),
            Just("Amo\\u0075nt".to_owned()),
            Just("q\\\"".to_owned()),
            "[a-c]{1,2}",
        ];
        let leaf = prop_oneof![
            Just("1".to_owned()),
            Just("\"x,{}[]\\\"\"".to_owned()),
            Just("null".to_owned()),
            Just("-2.5e3".to_owned()),
        ];
        leaf.prop_recursive(4, 40, 6, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5)
                    .prop_map(|v| format!("[{}]", v.join(","))),
                prop::collection::vec((key.clone(), inner), 0..6).prop_map(|pairs| {
                    let body: Vec<String> =
                        pairs.iter().map(|(k, v)| format!("\"{k}\":{v}")).collect();
                    format!("{{{}}}", body.join(","))
                }),
            ]
        })
    }

    proptest! {
        #[test]
        fn scan_agrees_with_serde_on_repeated_keys(text in json_text()) {
            prop_assert!(serde_json::from_str::<serde_json::Value>(&text).is_ok(), "{}", text);
            let scanned = matches!(scan(text.as_bytes(), true), Err(Refusal::RepeatedKey(_)));
            prop_assert_eq!(scanned, oracle_refuses(text.as_bytes()), "{}", text);
        }

        #[test]
        fn scan_never_panics(body in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = scan(&body, true);
        }
    }

    #[test]
    fn nesting_and_big_objects() {
        let keys: Vec<String> = (0..1000).map(|i| format!("\"k{i}\": {i}")).collect();
        let object = format!("{{{}}}", keys.join(","));
        assert_eq!(scan(object.as_bytes(), true), Ok(()));
        let repeated = format!("{{{}, \"k500\": 1}}", keys.join(","));
        assert!(
            matches!(scan(repeated.as_bytes(), true), Err(Refusal::RepeatedKey(k)) if k == "k500")
        );
        // The same key in sibling objects is not a repeat.
        assert_eq!(scan(br#"[{"a":1},{"a":2}]"#, true), Ok(()));
        assert_eq!(scan(br#"{"a":{"a":1},"b":[{"a":2}]}"#, true), Ok(()));
        // Deep nesting stops the scan (serde_json refuses it) instead of growing the stack.
        let deep = "[".repeat(100_000);
        assert_eq!(scan(deep.as_bytes(), true), Ok(()));
        // Only numbers, when asked.
        assert_eq!(scan(br#"{"a":1,"a":2}"#, false), Ok(()));
    }
}
