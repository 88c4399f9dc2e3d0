//! The state machine's rules as SQL. The lists the store's predicates use are built from
//! [`AttemptState`]; the state names written as literals in the SQL and in the migrations'
//! partial indexes are pinned to it by the tests below, so the two cannot drift apart.

use std::sync::LazyLock;

use crate::AttemptState;

/// `('created', 'submitted', …)`: the states for which `keep` holds.
fn list(keep: impl Fn(AttemptState) -> bool) -> String {
    let names: Vec<String> = AttemptState::ALL
        .into_iter()
        .filter(|s| keep(*s))
        .map(|s| format!("'{}'", s.as_str()))
        .collect();
    format!("({})", names.join(", "))
}

/// The open states: they still need the provider's evidence (the sweeper's).
pub(crate) static OPEN: LazyLock<String> = LazyLock::new(|| list(AttemptState::is_open));

#[cfg(test)]
mod tests {
    use super::*;

    /// Every lowercase word written between single quotes in `source` (`'failed'`; an
    /// apostrophe in prose, as in "provider's", is no quote).
    fn quoted(source: &str) -> Vec<&str> {
        let mut words = Vec::new();
        let mut rest = source;
        while let Some(at) = rest.find('\'') {
            let after = &rest[at + 1..];
            let len = after
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(after.len());
            if len > 0 && after[len..].starts_with('\'') {
                words.push(&after[..len]);
                rest = &after[len + 1..];
            } else {
                rest = after;
            }
        }
        words
    }

    #[test]
    fn quoted_words_are_found_and_prose_is_not() {
        assert_eq!(
            quoted("the provider's state IN ('failed', 'expired') AND x = 'a b'"),
            ["failed", "expired"]
        );
    }

    #[test]
    fn open_states_come_from_the_state_machine() {
        assert_eq!(
            *OPEN,
            "('created', 'submitted', 'outcome_unknown', 'pending', 'processing')"
        );
    }

    /// The store's SQL names states only as the state machine does; the other words quoted
    /// are event kinds and a refusal reason.
    #[test]
    fn every_state_named_in_sql_is_a_state() {
        let states: Vec<&str> = AttemptState::ALL.iter().map(|s| s.as_str()).collect();
        let others = ["anomaly", "needs_review", "other"];
        let sources = [
            include_str!("sql/attempts.rs"),
            include_str!("sql/inbox.rs"),
            include_str!("sql/outbox.rs"),
            include_str!("sql/migrate.rs"),
            include_str!("sql/mod.rs"),
            include_str!("../../migrations/0001_init.sql"),
            include_str!("../../migrations/0004_one_attempt_per_payment.sql"),
        ];
        for source in sources {
            for word in quoted(source) {
                assert!(
                    states.contains(&word) || others.contains(&word),
                    "{word:?} is not an AttemptState"
                );
            }
        }
    }

    /// The partial unique index "one live or paid attempt per order" (`WHERE state <>
    /// 'failed'`, migration 1) and the store's matching query are the Rust rule
    /// `blocks_new_push`; the receipt index (`state = 'completed'`, migration 4) is the only
    /// paid state.
    #[test]
    fn the_partial_indexes_are_the_rust_rules() {
        let init = include_str!("../../migrations/0001_init.sql");
        assert!(
            init.contains("WHERE state <> 'failed'"),
            "migration 1 changed"
        );
        for state in AttemptState::ALL {
            assert_eq!(
                state.blocks_new_push(),
                state != AttemptState::Failed,
                "{state}: the index frees an order only when its attempt failed"
            );
        }
        let receipts = include_str!("../../migrations/0004_one_attempt_per_payment.sql");
        assert!(
            receipts.contains("state = 'completed'"),
            "migration 4 changed"
        );
        let paid: Vec<AttemptState> = AttemptState::ALL
            .into_iter()
            .filter(|s| s.is_final() && *s != AttemptState::Failed)
            .collect();
        assert_eq!(paid, [AttemptState::Completed]);
        let sql = include_str!("sql/attempts.rs");
        assert!(sql.contains("state <> 'failed'"), "the live-attempt query");
    }
}
