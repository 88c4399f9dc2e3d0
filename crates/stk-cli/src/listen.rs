//! `stk listen`: the tracker's callback receiver on a port, printing each payment event.
//! Callbacks are stored and acknowledged at once, then confirmed by status query; events are
//! printed in order (by a writer thread: a stdout nobody reads holds up only printing) and
//! acknowledged only once printed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stk_tracker::{Event, EventHandler, EventKind, HandlerError, Tracker};
use tokio::sync::Notify;

use crate::CliError;
use crate::args::ListenArgs;
use crate::tracking::{event_json, printable};

/// A line for the writer thread, and where to say whether it was written.
type Line = (String, tokio::sync::oneshot::Sender<std::io::Result<()>>);

/// Lines waiting for the writer at most: beyond, events wait in the store (retried).
const QUEUED_LINES: usize = 256;

/// Prints events through a writer thread, so a stdout nobody reads never blocks the runtime
/// (callbacks are still received and processed); refuses (leaves for the next run) those
/// past `--max-events`. An event is acknowledged only once its line was written.
struct Printer {
    json: bool,
    max: Option<usize>,
    printed: AtomicUsize,
    done: Notify,
    lines: std::sync::mpsc::SyncSender<Line>,
}

impl Printer {
    fn new(json: bool, max: Option<usize>) -> Self {
        let (lines, queue) = std::sync::mpsc::sync_channel::<Line>(QUEUED_LINES);
        std::thread::spawn(move || {
            use std::io::Write as _;
            for (line, written) in queue {
                let mut stdout = std::io::stdout().lock();
                let _ = written.send(writeln!(stdout, "{line}").and_then(|()| stdout.flush()));
            }
        });
        Self {
            json,
            max,
            printed: AtomicUsize::new(0),
            done: Notify::new(),
            lines,
        }
    }
}

#[stk::async_trait]
impl EventHandler for Printer {
    async fn handle(&self, event: &Event) -> Result<(), HandlerError> {
        if self
            .max
            .is_some_and(|max| self.printed.load(Ordering::SeqCst) >= max)
        {
            return Err("--max-events reached; left for the next run".into());
        }
        let line = if self.json {
            event_json(event).to_string()
        } else {
            human(event)
        };
        let (written, result) = tokio::sync::oneshot::channel();
        self.lines
            .try_send((line, written))
            .map_err(|_| "printing is behind; the event waits in the store")?;
        match result.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                // Nobody reads the events any more: stop, leaving them for the next run.
                self.done.notify_one();
                return Err(format!("stdout is closed ({e}); left for the next run").into());
            }
            Err(_) => return Err("the writer stopped; left for the next run".into()),
        }
        let printed = self.printed.fetch_add(1, Ordering::SeqCst) + 1;
        if self.max.is_some_and(|max| printed >= max) {
            self.done.notify_one();
        }
        Ok(())
    }
}

/// One line for a person; everything from outside escaped.
fn human(event: &Event) -> String {
    let p = event.payment();
    let mut line = format!(
        "{}: attempt {} order {} KES {} payment {}",
        event.kind.name(),
        printable(&p.attempt_id),
        printable(&p.reference),
        p.amount,
        printable(p.payment_id.as_deref().unwrap_or("-")),
    );
    match &event.kind {
        EventKind::Completed(done) => {
            // The attempt's receipt (for Daraja, the confirmed callback's), else the status's.
            let status_receipt = done.status.as_ref().and_then(|s| s["receipt"].as_str());
            if let Some(receipt) = done.receipt.as_deref().or(status_receipt) {
                line.push_str(&format!(", receipt {}", printable(receipt)));
            }
            if done.paid_late {
                line.push_str(" [ANOMALY: paid_late: review before fulfilling]");
            }
        }
        EventKind::Failed(failed) => {
            if let Some(reason) = &failed.reason {
                line.push_str(&format!(", {}", printable(reason)));
            }
        }
        EventKind::Anomaly(anomaly) => line.push_str(&format!(
            " [ANOMALY: {}: review before fulfilling]",
            anomaly.kind
        )),
        EventKind::NeedsReview(review) => line.push_str(&format!(
            " [NEEDS REVIEW: {}; decide with `stk payments resolve`]",
            printable(
                review.claim["why"]
                    .as_str()
                    .unwrap_or("a claim the provider cannot settle")
            )
        )),
        _ => {}
    }
    line
}

/// A listener on `addr`, and the address it got (port 0 picks one).
pub(crate) async fn bind(
    addr: std::net::SocketAddr,
) -> Result<(tokio::net::TcpListener, std::net::SocketAddr), CliError> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| CliError::io(format!("listen on {addr}"), e))?;
    let bound = listener
        .local_addr()
        .map_err(|e| CliError::io("read the listening address", e))?;
    Ok((listener, bound))
}

/// Serves until `--max-events` events were printed or Ctrl-C.
pub(crate) async fn run(tracker: Tracker, args: ListenArgs, json: bool) -> Result<(), CliError> {
    let (listener, addr) = bind(args.bind).await?;
    for name in tracker.provider_names() {
        say!("listening for {name} callbacks on http://{addr}/{name}");
    }
    let app = stk_tracker::receiver::router(tracker.clone());
    let server = tokio::spawn(stk_tracker::receiver::serve(
        listener,
        app,
        std::future::pending::<()>(),
    ));
    let printer = Printer::new(json, args.max_events);
    let stop = async {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            () = printer.done.notified() => {}
        }
    };
    tracker
        .run(&printer, Duration::from_millis(500), stop)
        .await;
    server.abort();
    Ok(())
}
