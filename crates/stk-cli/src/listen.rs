//! `stk listen`: the tracker's callback receiver on a port, printing each payment event.
//! Callbacks are stored and acknowledged at once, then confirmed by status query; events are
//! printed in order and acknowledged only once printed.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use stk_tracker::{Event, EventHandler, HandlerError, Tracker};
use tokio::sync::Notify;

use crate::CliError;
use crate::args::ListenArgs;
use crate::tracking::{event_json, printable};

/// Prints events; refuses (leaves for the next run) those past `--max-events`.
struct Printer {
    json: bool,
    max: Option<usize>,
    printed: AtomicUsize,
    done: Notify,
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
        {
            use std::io::Write as _;
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = writeln!(stdout, "{line}").and_then(|()| stdout.flush()) {
                // Nobody reads the events any more: stop, leaving them for the next run.
                self.done.notify_one();
                return Err(format!("stdout is closed ({e}); left for the next run").into());
            }
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
    let p = &event.payload;
    let text = |key: &str| printable(p[key].as_str().unwrap_or("-"));
    let mut line = format!(
        "{}: attempt {} order {} KES {} payment {}",
        event.kind,
        text("attempt_id"),
        text("reference"),
        p["amount"],
        text("payment_id"),
    );
    // The attempt's receipt (for Daraja, the confirmed callback's), else the status's.
    if let Some(receipt) = p["receipt"].as_str().or(p["status"]["receipt"].as_str()) {
        line.push_str(&format!(", receipt {}", printable(receipt)));
    }
    if let Some(reason) = p["status"]["reason"].as_str() {
        line.push_str(&format!(", {}", printable(reason)));
    }
    if let Some(anomaly) = p["anomaly"].as_str() {
        line.push_str(&format!(
            " [ANOMALY: {}: review before fulfilling]",
            printable(anomaly)
        ));
    }
    if event.kind == "needs_review" {
        line.push_str(&format!(
            " [NEEDS REVIEW: {}; decide with `stk payments resolve`]",
            printable(
                p["detail"]["why"]
                    .as_str()
                    .unwrap_or("a claim the provider cannot settle")
            )
        ));
    }
    line
}

/// Serves until `--max-events` events were printed or Ctrl-C.
pub(crate) async fn run(tracker: Tracker, args: ListenArgs, json: bool) -> Result<(), CliError> {
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::io(format!("listen on {}", args.bind), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::io("read the listening address", e))?;
    for name in tracker.provider_names() {
        say!("listening for {name} callbacks on http://{addr}/{name}");
    }
    let app = stk_tracker::receiver::router(tracker.clone());
    let server = tokio::spawn(stk_tracker::receiver::serve(
        listener,
        app,
        std::future::pending::<()>(),
    ));
    let printer = Printer {
        json,
        max: args.max_events,
        printed: AtomicUsize::new(0),
        done: Notify::new(),
    };
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
