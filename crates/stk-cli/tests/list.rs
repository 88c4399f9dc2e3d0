//! `stk payments list` filters and search, read from a real SQLite store filled by the fake
//! provider: by state, provider, reference, receipt, phone ending; hostile values refused
//! or matching nothing.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

struct Store(std::path::PathBuf);

impl Store {
    fn new() -> Self {
        Self(std::env::temp_dir().join(format!("stk-list-{}.db", fastrand::u64(..))))
    }

    /// Runs `stk --json ARGS`: (exit code, stdout JSON).
    fn stk(&self, args: &[&str]) -> (i32, Value) {
        let out = Command::new(env!("CARGO_BIN_EXE_stk"))
            .arg("--json")
            .args(args)
            .env_remove("STK_PROVIDER")
            .env("STK_MOCK_DELAY_MS", "0")
            .env("STK_DATABASE_URL", &self.0)
            .output()
            .unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (out.status.code().unwrap(), json)
    }

    /// The references `payments list ARGS` prints, newest first.
    fn list(&self, args: &[&str]) -> Vec<String> {
        let (code, json) = self.stk(&[&["payments", "list"], args].concat());
        assert_eq!(code, 0, "{args:?}: {json}");
        json["attempts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["reference"].as_str().unwrap().to_owned())
            .collect()
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn payments_are_found_by_state_provider_reference_receipt_and_phone() {
    let store = Store::new();
    let mut receipts = Vec::new();
    for (phone, reference) in [("0712345671", "L-1"), ("0712345672", "L-2")] {
        let args = [
            "push",
            "--phone",
            phone,
            "--amount",
            "10",
            "--reference",
            reference,
        ];
        let (code, json) = store.stk(&args);
        assert_eq!(code, 0, "{json}");
        receipts.push(json["receipt"].as_str().unwrap().to_owned());
    }
    // The fake provider fails this number.
    let (code, _) = store.stk(&[
        "push",
        "--phone",
        "0700000001",
        "--amount",
        "5",
        "--reference",
        "L-3",
    ]);
    assert_ne!(code, 0);

    assert_eq!(store.list(&[]), ["L-3", "L-2", "L-1"]);
    assert_eq!(store.list(&["--limit", "2"]), ["L-3", "L-2"]);
    assert_eq!(store.list(&["--state", "completed"]), ["L-2", "L-1"]);
    assert_eq!(
        store.list(&["--state", "failed", "--state", "expired"]),
        ["L-3"]
    );
    assert_eq!(store.list(&["--reference", "L-1"]), ["L-1"]);
    assert_eq!(store.list(&["--receipt", &receipts[1]]), ["L-2"]);
    assert_eq!(store.list(&["--search", &receipts[0]]), ["L-1"]);
    assert_eq!(store.list(&["--search", "5672"]), ["L-2"]);
    assert_eq!(store.list(&["--search", "L-3"]), ["L-3"]);
    assert_eq!(
        store.list(&["--with-provider", "mock", "--state", "completed"]),
        ["L-2", "L-1"]
    );
    assert!(store.list(&["--with-provider", "daraja"]).is_empty());
    // `--provider` on the command line filters too (STK_PROVIDER alone does not).
    assert!(store.list(&["--provider", "daraja"]).is_empty());
    assert_eq!(
        store.list(&["--provider", "mock"]).len(),
        store.list(&[]).len()
    );
    // Hostile values match nothing; they are never SQL.
    assert!(store.list(&["--search", "' OR '1'='1"]).is_empty());
    assert!(store.list(&["--reference", &"R".repeat(10_000)]).is_empty());

    let (code, _) = store.stk(&["payments", "list", "--state", "paid"]);
    assert_eq!(code, 2, "an unknown state is a usage error");
}

/// What a person reads: a header and aligned rows with times in EAT, no provider credentials
/// needed to read the store, and a reconcile that says what it did.
#[test]
fn people_read_a_table_without_the_providers_credentials() {
    let store = Store::new();
    let (code, _) = store.stk(&[
        "push",
        "--phone",
        "0712345678",
        "--amount",
        "100",
        "--reference",
        "H-1",
    ]);
    assert_eq!(code, 0);
    let human = |args: &[&str], env: &[(&str, &str)]| {
        let out = Command::new(env!("CARGO_BIN_EXE_stk"))
            .args(args)
            .env("STK_DATABASE_URL", &store.0)
            .env("STK_MOCK_DELAY_MS", "0")
            .envs(env.iter().copied())
            .env_remove("DARAJA_CONSUMER_KEY")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        (
            out.status.code().unwrap(),
            text,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // A Daraja shop without its keys in this shell can still read its records.
    let (code, text, err) = human(&["payments", "list"], &[("STK_PROVIDER", "daraja")]);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines[1].contains("created (EAT)")
            && lines[1].contains("order")
            && lines[1].contains("receipt"),
        "{text}"
    );
    let row = lines.iter().find(|l| l.contains("H-1")).unwrap();
    assert!(row.contains(" EAT") || row.contains("20"), "{row}");
    assert!(row.contains("2547******78"), "the phone masked: {row}");
    let widths: Vec<usize> = lines.iter().map(|l| l.chars().count()).collect();
    assert!(widths.windows(2).all(|w| w[0] == w[1]), "aligned: {text}");

    let id = store.stk(&["payments", "list"]).1["attempts"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, text, err) = human(&["payments", "show", &id], &[("STK_PROVIDER", "daraja")]);
    assert_eq!(code, 0, "{err}");
    assert!(text.contains("timeline") && text.contains(" EAT"), "{text}");
    // Asking the provider needs its settings: said, not guessed.
    let (code, _, err) = human(
        &["payments", "reconcile", &id],
        &[("STK_PROVIDER", "daraja")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("DARAJA_CONSUMER_KEY"), "{err}");
    let (code, text, err) = human(&["payments", "reconcile", &id], &[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains("H-1") && (text.contains("→") || text.contains("still")),
        "{text}"
    );
}
