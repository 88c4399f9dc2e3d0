//! Reads for people: lists, search, one payment's record. The CLI, `stk serve` and the
//! payments page read through these, never through the store directly.

use serde::Serialize;

use crate::error::TrackerError;
use crate::event::Event;
use crate::model::{Attempt, Transition};
use crate::store::{AttemptQuery, Cursor};
use crate::tracker::Tracker;

/// One page of attempts, newest first, and where the next one begins.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct Page {
    /// The attempts.
    pub attempts: Vec<Attempt>,
    /// Pass as [`AttemptQuery::after`] for the next page; `None` on the last.
    #[serde(serialize_with = "cursor_text")]
    pub next: Option<Cursor>,
}

/// Everything the tracker knows about one attempt.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PaymentRecord {
    /// The attempt.
    pub attempt: Attempt,
    /// Its transitions and the evidence for each, oldest first.
    pub timeline: Vec<Transition>,
    /// Its events, delivered or not.
    pub events: Vec<Event>,
}

fn cursor_text<S: serde::Serializer>(cursor: &Option<Cursor>, s: S) -> Result<S::Ok, S::Error> {
    match cursor {
        Some(c) => s.serialize_str(&c.encode()),
        None => s.serialize_none(),
    }
}

impl Tracker {
    /// The attempts `query` matches, newest first, one page (at most
    /// [`AttemptQuery::MAX_LIMIT`]).
    pub async fn payments(&self, query: &AttemptQuery) -> Result<Page, TrackerError> {
        let limit = query.bounded_limit();
        // One more than asked says whether another page follows.
        let probe = AttemptQuery {
            limit: limit + 1,
            ..query.clone()
        };
        let mut attempts = self.inner.store.search_attempts(&probe).await?;
        let more = i64::try_from(attempts.len()).unwrap_or(i64::MAX) > limit;
        attempts.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
        let next = more.then(|| attempts.last()).flatten().map(|last| Cursor {
            created_at: last.created_at,
            id: last.id.clone(),
        });
        Ok(Page { attempts, next })
    }

    /// Attempts created in `[from, before)` (Unix ms), counted and summed by state and
    /// provider: a dashboard's figures for a day.
    pub async fn tally(&self, from: i64, before: i64) -> Result<Vec<crate::Tally>, TrackerError> {
        Ok(self.inner.store.tally(from, before).await?)
    }

    /// The callbacks matched to attempt `id`, oldest first (the latest 100, until pruned).
    pub async fn callbacks(&self, id: &str) -> Result<Vec<crate::InboxItem>, TrackerError> {
        Ok(self.inner.store.callbacks_of(id).await?)
    }

    /// One attempt with its timeline and events.
    pub async fn payment(&self, id: &str) -> Result<PaymentRecord, TrackerError> {
        let attempt = self.attempt(id).await?;
        let store = &self.inner.store;
        Ok(PaymentRecord {
            timeline: store.transitions(id).await?,
            events: store.events(id).await?,
            attempt,
        })
    }
}
