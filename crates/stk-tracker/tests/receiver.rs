//! The callback receiver against hostile clients: oversized, unknown routes, slow headers,
//! slow bodies. Real TCP on 127.0.0.1; the slow cases on tokio's paused clock (no waiting).

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;

use stk_mock::MockProvider;
use stk_tracker::{SqlStore, Tracker, receiver};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

async fn start() -> (SocketAddr, Tracker, std::path::PathBuf) {
    let path = std::env::temp_dir().join(format!(
        "stk-receiver-{}-{}.db",
        std::process::id(),
        fastrand::u64(..)
    ));
    let store = SqlStore::open_sqlite(&path).await.unwrap();
    let tracker = Tracker::builder(Arc::new(store))
        .provider(Arc::new(
            MockProvider::builder().callback_token("t").build(),
        ))
        .build();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(receiver::serve(
        listener,
        receiver::router(tracker.clone()),
        std::future::pending(),
    ));
    (addr, tracker, path)
}

/// Sends raw bytes; returns everything the server answered before closing.
async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream.write_all(request).await.unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    String::from_utf8_lossy(&answer).into_owned()
}

fn post(path: &str, body: &[u8]) -> Vec<u8> {
    post_with(path, "", body)
}

fn post_with(path: &str, headers: &str, body: &[u8]) -> Vec<u8> {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    request
}

#[tokio::test]
async fn accepted_oversized_unknown_and_malformed() {
    let (addr, tracker, path) = start().await;
    // The provider's callback (its shape, its token) is stored and acknowledged at once;
    // confirming it comes after.
    let genuine = br#"{"payment_id":"X","reference":"R-1","state":"completed","receipt":"UAB1C2D3E4","amount":100}"#;
    let answer = exchange(
        addr,
        &post_with("/mock", "x-stk-mock-token: t\r\n", genuine),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    // Without its token, or not its shape: 400, nothing stored.
    let answer = exchange(addr, &post("/mock", genuine)).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    let answer = exchange(
        addr,
        &post_with("/mock", "x-stk-mock-token: t\r\n", br#"{"payment_id":"X"}"#),
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    // Over 64 KiB: refused, not stored.
    let big = vec![b'a'; 65 * 1024];
    let answer = exchange(addr, &post("/mock", &big)).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A provider the tracker does not have.
    let answer = exchange(addr, &post("/daraja", b"{}")).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    // Not HTTP at all.
    let answer = exchange(addr, b"\x16\x03\x01 hello\r\n\r\n").await;
    assert!(!answer.contains("200"), "{answer}");
    // Binary garbage: 400, nothing stored.
    let answer = exchange(addr, &post("/mock", &[0xff, 0x00, 0xfe])).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert_eq!(
        tracker.process_inbox().await.unwrap(),
        1,
        "only the genuine one"
    );
    let refused = tracker.store().refused().await.unwrap();
    assert_eq!(
        refused.iter().map(|r| r.count).sum::<i64>(),
        3,
        "{refused:?}"
    );
    let _ = std::fs::remove_file(path);
}

#[tokio::test]
async fn slow_headers_and_slow_bodies_are_cut_off() {
    let (addr, _tracker, path) = start().await;
    tokio::time::pause();
    // Headers that never finish: the connection is closed after the header timeout.
    let answer = exchange(addr, b"POST /mock HTTP/1.1\r\nHost: x\r\n").await;
    assert!(!answer.contains("200"), "{answer:?}");
    // A body that never finishes: 408 after the request timeout.
    let mut stream = TcpStream::connect(addr).await.unwrap();
    stream
        .write_all(b"POST /mock HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{\"a\":")
        .await
        .unwrap();
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    let _ = std::fs::remove_file(path);
}
