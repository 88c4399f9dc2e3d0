//! `stk listen`: a webhook endpoint that verifies and parses the provider's callbacks,
//! de-duplicates re-deliveries, optionally confirms them by status query, and answers with
//! the provider's acknowledgement.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use stk::{SeenEvents, StkProvider};
use stk_http::receive::{MAX_CALLBACK_BODY, ack_response, callback_request};
use tokio::sync::mpsc;

use crate::CliError;
use crate::args::ListenArgs;
use crate::output;

struct Listener {
    provider: Arc<dyn StkProvider>,
    seen: Mutex<SeenEvents>,
    confirm: bool,
    report: mpsc::UnboundedSender<Value>,
}

/// Serves until `--max-events` callbacks were handled or Ctrl-C; prints one line per callback.
pub(crate) async fn run(
    provider: Box<dyn StkProvider>,
    args: ListenArgs,
    json: bool,
) -> Result<(), CliError> {
    let (report, mut reports) = mpsc::unbounded_channel();
    let state = Arc::new(Listener {
        provider: Arc::from(provider),
        seen: Mutex::new(SeenEvents::new(10_000)),
        confirm: args.confirm,
        report,
    });
    let name = state.provider.name();
    let listener = tokio::net::TcpListener::bind(args.bind)
        .await
        .map_err(|e| CliError::io(format!("listen on {}", args.bind), e))?;
    let addr = listener
        .local_addr()
        .map_err(|e| CliError::io("read the listening address", e))?;
    eprintln!("listening for {name} callbacks on http://{addr}/ (any path)");
    let app = Router::new()
        .fallback(receive)
        .layer(DefaultBodyLimit::max(MAX_CALLBACK_BODY))
        .with_state(state);
    let server = tokio::spawn(async move { axum::serve(listener, app).await });

    let mut handled = 0usize;
    loop {
        tokio::select! {
            line = reports.recv() => {
                let Some(line) = line else { break };
                if json {
                    println!("{line}");
                } else {
                    println!("{}", human(&line));
                }
                handled += 1;
                if args.max_events.is_some_and(|max| handled >= max) {
                    break;
                }
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.abort();
    Ok(())
}

async fn receive(
    State(state): State<Arc<Listener>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let callback = callback_request(&uri, &headers, body);
    let (line, response) = match state.provider.parse_callback(&callback) {
        Ok(event) => {
            let duplicate = !state
                .seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .first_time(&event);
            let mut line = json!({ "callback": event });
            line["callback"]["duplicate"] = json!(duplicate);
            if state.confirm && event.status.is_final() && !duplicate {
                line["callback"]["confirmed"] = confirm(state.provider.as_ref(), &event).await;
            }
            (line, ack_response(&state.provider.callback_ack()))
        }
        Err(e) => (
            output::error_json(&e),
            (StatusCode::BAD_REQUEST, "invalid callback").into_response(),
        ),
    };
    let _ = state.report.send(line);
    response
}

/// Whether a status query agrees with the callback: `true`, `false`, or the query's error.
async fn confirm(provider: &dyn StkProvider, event: &stk::PaymentEvent) -> Value {
    let Some(id) = &event.status_id else {
        return json!({ "error": "the callback carries no id the status query accepts" });
    };
    match provider.status(id).await {
        Ok(status) => json!(status.as_str() == event.status.as_str()),
        Err(e) => json!({ "error": e.kind() }),
    }
}

/// One line for a person.
fn human(line: &Value) -> String {
    let Some(cb) = line.get("callback") else {
        return format!(
            "✘ refused: {}",
            line["error"]["message"]
                .as_str()
                .unwrap_or("invalid callback")
        );
    };
    let id = cb["payment_id"]
        .as_str()
        .or(cb["checkout_request_id"].as_str())
        .or(cb["merchant_reference"].as_str())
        .unwrap_or("?");
    let mut text = format!("payment {id}: {}", cb["status"].as_str().unwrap_or("?"));
    if let Some(receipt) = cb["receipt"].as_str() {
        text.push_str(&format!(", receipt {receipt}"));
    }
    if let Some(reason) = cb["reason"].as_str() {
        text.push_str(&format!(", {reason}"));
    }
    if cb["duplicate"] == true {
        text.push_str(" (duplicate, ignored)");
    }
    match &cb["confirmed"] {
        Value::Bool(true) => text.push_str(" [confirmed by status query]"),
        Value::Bool(false) => text.push_str(" [NOT confirmed by status query: do not fulfil]"),
        Value::Null => {}
        other => text.push_str(&format!(" [status query failed: {}]", other["error"])),
    }
    text
}
