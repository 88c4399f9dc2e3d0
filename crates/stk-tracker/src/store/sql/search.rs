//! Searching attempts for people: every value a bound parameter, newest first, paged by
//! (created_at, id).

use super::SqlStore;
use super::rows::{ATTEMPT_COLUMNS, attempt};
use crate::model::Attempt;
use crate::store::{AttemptQuery, StoreError, Tally};

/// A value to bind, in placeholder order.
enum Value {
    Text(String),
    Number(i64),
}

/// The values bound so far; each `bind` gives its placeholder (`$1`, `$2`, …).
#[derive(Default)]
struct Binds(Vec<Value>);

impl Binds {
    fn text(&mut self, value: &str) -> String {
        self.0.push(Value::Text(value.to_owned()));
        format!("${}", self.0.len())
    }

    fn number(&mut self, value: i64) -> String {
        self.0.push(Value::Number(value));
        format!("${}", self.0.len())
    }
}

/// The attempts `q` matches.
pub(super) async fn attempts(
    store: &SqlStore,
    q: &AttemptQuery,
) -> Result<Vec<Attempt>, StoreError> {
    let mut binds = Binds::default();
    let mut conditions: Vec<String> = Vec::new();
    if !q.states.is_empty() {
        // Names from the enum, never from the caller.
        let names: Vec<String> = q
            .states
            .iter()
            .map(|s| format!("'{}'", s.as_str()))
            .collect();
        conditions.push(format!("state IN ({})", names.join(", ")));
    }
    for (column, value) in [
        ("provider", &q.provider),
        ("reference", &q.reference),
        ("receipt", &q.receipt),
    ] {
        if let Some(value) = value {
            conditions.push(format!("{column} = {}", binds.text(value)));
        }
    }
    if let Some(needle) = q.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        let p = binds.text(needle);
        let mut any = format!(
            "reference = {p} OR receipt = {p} OR payment_id = {p} OR checkout_request_id = {p}"
        );
        if let Some(digits) = q.phone_ending() {
            any.push_str(&format!(
                " OR phone LIKE {}",
                binds.text(&format!("%{digits}"))
            ));
        }
        conditions.push(format!("({any})"));
    }
    if let Some(from) = q.created_from {
        conditions.push(format!("created_at >= {}", binds.number(from)));
    }
    if let Some(before) = q.created_before {
        conditions.push(format!("created_at < {}", binds.number(before)));
    }
    if let Some(now) = q.review_at {
        let now = binds.number(now);
        // Evidence rows (`anomaly`, `needs_review`, a completion after `expired` or `failed`)
        // count until an operator row follows them (a resolution or a review).
        conditions.push(format!(
            "(state = 'expired' \
             OR (state IN ('created', 'outcome_unknown') AND deadline_at < {now}) \
             OR id IN (SELECT t.attempt_id FROM stk_transitions t \
               WHERE (t.to_state IN ('anomaly', 'needs_review') \
                 OR (t.to_state = 'completed' AND t.from_state IN ('expired', 'failed') \
                   AND t.source <> 'operator')) \
               AND NOT EXISTS ( \
                 SELECT 1 FROM stk_transitions o WHERE o.attempt_id = t.attempt_id \
                 AND o.source = 'operator' AND o.at >= t.at)))"
        ));
    }
    if let Some(after) = &q.after {
        let at = binds.number(after.created_at);
        let id = binds.text(&after.id);
        conditions.push(format!(
            "(created_at < {at} OR (created_at = {at} AND id < {id}))"
        ));
    }
    let limit = binds.number(q.bounded_limit());
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {ATTEMPT_COLUMNS} FROM stk_attempts{filter} \
         ORDER BY created_at DESC, id DESC LIMIT {limit}"
    );
    let mut query = sqlx::query(&sql);
    for value in binds.0 {
        query = match value {
            Value::Text(text) => query.bind(text),
            Value::Number(number) => query.bind(number),
        };
    }
    query
        .fetch_all(&store.pool)
        .await?
        .iter()
        .map(attempt)
        .collect()
}

/// Counts and sums by state and provider (`Store::tally`).
pub(super) async fn tally(
    store: &SqlStore,
    from: i64,
    before: i64,
) -> Result<Vec<Tally>, StoreError> {
    let rows: Vec<(String, String, i64, i64)> = sqlx::query_as(
        "SELECT state, provider, COUNT(*), CAST(COALESCE(SUM(amount), 0) AS BIGINT) \
         FROM stk_attempts WHERE created_at >= $1 AND created_at < $2 \
         GROUP BY state, provider ORDER BY state, provider",
    )
    .bind(from)
    .bind(before)
    .fetch_all(&store.pool)
    .await?;
    rows.into_iter()
        .map(|(state, provider, count, amount)| {
            Ok(Tally {
                state: state.parse().map_err(StoreError::new)?,
                provider,
                count,
                amount,
            })
        })
        .collect()
}
