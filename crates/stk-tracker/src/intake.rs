//! Group commit for callbacks: the callbacks that arrive while the store is busy are stored
//! together, in one transaction, by one writer task. A flood then costs a commit per batch,
//! not per callback, and every callback is still acknowledged only once it is durable.

use std::sync::{Arc, OnceLock};

use tokio::sync::{mpsc, oneshot};

use crate::model::{InboxItem, Inserted};
use crate::store::{Store, StoreError};

/// Callbacks stored per transaction, at most.
const BATCH: usize = 256;
/// Callbacks waiting for the writer, at most (beyond, receivers wait: backpressure).
const QUEUE: usize = 4_096;

type Answer = oneshot::Sender<Result<Inserted, StoreError>>;

/// The writer's queue, started on first use (inside the caller's runtime).
#[derive(Default)]
pub(crate) struct Intake {
    queue: OnceLock<mpsc::Sender<(InboxItem, Answer)>>,
}

impl Intake {
    /// Stores `item` with whatever else is waiting; returns once it is committed.
    pub(crate) async fn insert(
        &self,
        store: &Arc<dyn Store>,
        item: InboxItem,
    ) -> Result<Inserted, StoreError> {
        let queue = match (self.queue.get(), tokio::runtime::Handle::try_current()) {
            (Some(queue), _) => queue,
            (None, Ok(runtime)) => self.queue.get_or_init(|| {
                let (sender, receiver) = mpsc::channel(QUEUE);
                runtime.spawn(write(Arc::clone(store), receiver));
                sender
            }),
            // Not on a tokio runtime: no writer task to hand over to.
            (None, Err(_)) => return single(store, item).await,
        };
        let (answer, answered) = oneshot::channel();
        if let Err(mpsc::error::SendError((item, _))) = queue.send((item, answer)).await {
            // The writer's runtime is gone (a tracker outliving it): store directly.
            return single(store, item).await;
        }
        answered.await.unwrap_or_else(|_| {
            Err(StoreError::new(
                "the callback writer stopped before answering; the provider will send it again",
            ))
        })
    }
}

async fn single(store: &Arc<dyn Store>, item: InboxItem) -> Result<Inserted, StoreError> {
    store
        .insert_inbox(std::slice::from_ref(&item))
        .await?
        .pop()
        .ok_or_else(|| StoreError::new("the store gave no answer for the callback"))
}

/// Takes what is waiting (up to [`BATCH`]), stores it in one call, answers each; ends when
/// the tracker is dropped.
async fn write(store: Arc<dyn Store>, mut queue: mpsc::Receiver<(InboxItem, Answer)>) {
    let mut waiting = Vec::with_capacity(BATCH);
    while queue.recv_many(&mut waiting, BATCH).await > 0 {
        let (items, answers): (Vec<InboxItem>, Vec<Answer>) = waiting.drain(..).unzip();
        match store.insert_inbox(&items).await {
            Ok(inserted) if inserted.len() == answers.len() => {
                for (answer, inserted) in answers.into_iter().zip(inserted) {
                    let _ = answer.send(Ok(inserted));
                }
            }
            // One at a time, so one bad callback does not fail the others; after two failures
            // in a row the store itself is failing: the rest fail at once (the providers
            // get an error and send again), not one timeout each.
            _ => {
                let mut failing: Option<(u8, String)> = None;
                for (item, answer) in items.into_iter().zip(answers) {
                    let result = match &failing {
                        Some((n, why)) if *n >= 2 => Err(StoreError::new(why.clone())),
                        _ => single(&store, item).await,
                    };
                    failing = match (&result, failing) {
                        (Ok(_), _) => None,
                        (Err(e), None) => Some((1, e.message.clone())),
                        (Err(e), Some((n, _))) => Some((n.saturating_add(1), e.message.clone())),
                    };
                    let _ = answer.send(result);
                }
            }
        }
    }
}
