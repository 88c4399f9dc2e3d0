//! What to look for among attempts (the tracker's reads for people).

use crate::AttemptState;

/// A search among attempts, newest first. Every field set narrows it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptQuery {
    /// Only attempts in these states (any state when empty).
    pub states: Vec<AttemptState>,
    /// Only this provider's.
    pub provider: Option<String>,
    /// Only this order reference (exact).
    pub reference: Option<String>,
    /// Only the attempt with this M-Pesa receipt (exact).
    pub receipt: Option<String>,
    /// One search box: an order reference, receipt, provider payment id or checkout id
    /// (exact), or the last digits of the phone (at least 3).
    pub text: Option<String>,
    /// Created at or after (Unix ms).
    pub created_from: Option<i64>,
    /// Created before (Unix ms).
    pub created_before: Option<i64>,
    /// Only attempts a person must decide as of this time (Unix ms): expired ones, those
    /// still `created` or `outcome_unknown` past their deadline, and those with an anomaly or
    /// a needs-review claim, and those paid after they had expired or failed (paid late),
    /// that no operator decision or review has answered since.
    pub review_at: Option<i64>,
    /// Continue after this attempt (the previous page's last).
    pub after: Option<Cursor>,
    /// At most this many (1 to [`AttemptQuery::MAX_LIMIT`]).
    pub limit: i64,
}

/// Attempts of one state and provider: how many and how much.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub struct Tally {
    /// Their state.
    pub state: AttemptState,
    /// Their provider.
    pub provider: String,
    /// How many.
    pub count: i64,
    /// Their amounts' sum (whole shillings).
    pub amount: i64,
}

/// Where a page of attempts ended: its last attempt's creation time and id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The last attempt's `created_at`.
    pub created_at: i64,
    /// The last attempt's id.
    pub id: String,
}

impl Cursor {
    /// The text form (`<created_at>.<id>`), for URLs and the CLI.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.created_at, self.id)
    }

    /// Reads the text form back; `None` if it is not one.
    pub fn decode(text: &str) -> Option<Self> {
        let (at, id) = text.split_once('.')?;
        let valid_id = !id.is_empty()
            && id.len() <= 64
            && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        valid_id.then_some(())?;
        Some(Self {
            created_at: at.parse().ok()?,
            id: id.to_owned(),
        })
    }
}

impl Default for AttemptQuery {
    fn default() -> Self {
        Self {
            states: Vec::new(),
            provider: None,
            reference: None,
            receipt: None,
            text: None,
            created_from: None,
            created_before: None,
            review_at: None,
            after: None,
            limit: 50,
        }
    }
}

impl AttemptQuery {
    /// The largest page.
    pub const MAX_LIMIT: i64 = 500;

    /// Every attempt, newest first, `limit` at a time.
    pub fn newest(limit: i64) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// The limit within `1..=MAX_LIMIT`.
    pub(crate) fn bounded_limit(&self) -> i64 {
        self.limit.clamp(1, Self::MAX_LIMIT)
    }

    /// The phone digits the search box holds, if it is at least 3 digits (a phone ending).
    pub(crate) fn phone_ending(&self) -> Option<&str> {
        let text = self.text.as_deref()?.trim();
        (text.len() >= 3 && text.len() <= 12 && text.bytes().all(|b| b.is_ascii_digit()))
            .then_some(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn cursors_read_back(at in any::<i64>(), id in "[a-z0-9_]{1,40}") {
            let cursor = Cursor { created_at: at, id };
            prop_assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        }

        #[test]
        fn any_text_is_a_cursor_or_none(text in ".{0,100}") {
            if let Some(c) = Cursor::decode(&text) {
                prop_assert_eq!(Cursor::decode(&c.encode()), Some(c));
            }
        }
    }

    #[test]
    fn a_phone_ending_is_digits_only() {
        let q = |t: &str| AttemptQuery {
            text: Some(t.into()),
            ..AttemptQuery::default()
        };
        assert_eq!(q("5678").phone_ending(), Some("5678"));
        assert_eq!(q("56").phone_ending(), None);
        assert_eq!(q("ORDER-1").phone_ending(), None);
    }
}
