//! `stk` when the store fails around a push, and the operator's way out: a push the store
//! could not record exits 4 and says not to push again; `stk payments resolve` records a
//! person's decision (never moving a completed attempt). The fake provider, a real SQLite
//! file whose triggers refuse writes as a full disk would.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

struct Store {
    path: std::path::PathBuf,
}

impl Store {
    /// A new store with its schema (created by `stk payments list`).
    fn new() -> Self {
        let path = std::env::temp_dir().join(format!("stk-review-{}.db", fastrand::u64(..)));
        let store = Self { path };
        assert_eq!(store.stk(&["payments", "list"]).0, 0);
        store
    }

    /// Runs `stk --json ARGS` on this store: (exit code, stdout JSON, stderr).
    fn stk(&self, args: &[&str]) -> (i32, Value, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_stk"))
            .arg("--json")
            .args(args)
            .env_remove("STK_PROVIDER")
            .env("STK_MOCK_DELAY_MS", "0")
            .env("STK_DATABASE_URL", &self.path)
            .output()
            .unwrap();
        let json = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        (
            out.status.code().unwrap(),
            json,
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn sql(&self, sql: &str) {
        let url = format!("sqlite://{}", self.path.display());
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                sqlx::any::install_default_drivers();
                let pool = sqlx::AnyPool::connect(&url).await.unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            });
    }

    fn refuse(&self, op: &str) {
        self.sql(&format!(
            "CREATE TRIGGER stk_test_full BEFORE {op} ON stk_attempts \
             BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END;"
        ));
    }

    fn accept(&self) {
        self.sql("DROP TRIGGER stk_test_full");
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

const PUSH: [&str; 7] = [
    "push",
    "--phone",
    "0712345678",
    "--amount",
    "100",
    "--reference",
    "FULL-1",
];

#[test]
fn a_full_store_never_invites_a_second_charge() {
    let store = Store::new();

    // Nothing can be recorded: nothing is sent; exit 6.
    store.refuse("INSERT");
    let (code, json, _) = store.stk(&PUSH);
    assert_eq!(code, 6, "{json}");
    assert_eq!(json["error"]["kind"], "store", "{json}");
    store.accept();

    // Recorded, sent, then the store fails: exit 4, and the message says so.
    store.refuse("UPDATE");
    let (code, json, _) = store.stk(&PUSH);
    assert_eq!(code, 4, "{json}");
    let error = &json["error"];
    assert_eq!(error["kind"], "outcome_unknown", "{json}");
    let message = error["message"].as_str().unwrap();
    assert!(message.contains("may have gone out"), "{message}");
    assert!(message.contains("do not push again"), "{message}");
    let attempt = error["attempt_id"].as_str().unwrap().to_owned();
    assert!(
        message.contains(&format!("stk payments reconcile {attempt}")),
        "{message}"
    );
    assert!(
        error["payment_id"].as_str().unwrap().starts_with("MOCK"),
        "{json}"
    );
    store.accept();

    // The order stays blocked: no second prompt.
    let (code, json, _) = store.stk(&PUSH);
    assert_eq!(
        (code, json["error"]["kind"].as_str()),
        (2, Some("already_live")),
        "{json}"
    );

    // A person decides. The note is required.
    let (code, _, stderr) = store.stk(&["payments", "resolve", &attempt, "--as", "failed"]);
    assert_eq!(code, 2, "{stderr}");
    let (code, json, _) = store.stk(&[
        "payments",
        "resolve",
        &attempt,
        "--as",
        "completed",
        "--note",
        "statement shows UAB1C2D3E4",
        "--receipt",
        "UAB1C2D3E4",
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["attempt"]["state"], "completed", "{json}");
    assert_eq!(json["attempt"]["receipt"], "UAB1C2D3E4", "{json}");
    let (_, shown, _) = store.stk(&["payments", "show", &attempt]);
    let last = shown["timeline"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert_eq!(last["source"], "operator", "{shown}");
    assert_eq!(
        last["evidence"]["note"], "statement shows UAB1C2D3E4",
        "{shown}"
    );

    // A completed attempt never moves, not even by a person.
    let (code, json, _) = store.stk(&[
        "payments",
        "resolve",
        &attempt,
        "--as",
        "failed",
        "--note",
        "customer says no",
    ]);
    assert_eq!(code, 2, "{json}");
    assert_eq!(json["error"]["kind"], "not_resolvable", "{json}");
    assert_eq!(json["error"]["state"], "completed", "{json}");
}

#[test]
fn resolving_as_failed_frees_the_order_and_hostile_input_is_refused() {
    let store = Store::new();
    store.refuse("UPDATE");
    let (code, json, _) = store.stk(&PUSH);
    assert_eq!(code, 4, "{json}");
    let attempt = json["error"]["attempt_id"].as_str().unwrap().to_owned();
    store.accept();

    for (args, why) in [
        (vec!["--as", "failed", "--note", "  "], "blank note"),
        (
            vec!["--as", "failed", "--note", "a\u{1b}[2Kb"],
            "control characters",
        ),
        (
            vec!["--as", "completed", "--note", "ok", "--receipt", "UAB 1"],
            "receipt",
        ),
        (vec!["--as", "paid", "--note", "ok"], "unknown decision"),
    ] {
        let mut full = vec!["payments", "resolve", attempt.as_str()];
        full.extend(args);
        let (code, json, stderr) = store.stk(&full);
        assert_eq!(code, 2, "{why}: {json} {stderr}");
    }
    let long = "x".repeat(501);
    let (code, _, _) = store.stk(&[
        "payments", "resolve", &attempt, "--as", "failed", "--note", &long,
    ]);
    assert_eq!(code, 2);
    let (code, json, _) = store.stk(&[
        "payments", "resolve", "att_nope", "--as", "failed", "--note", "x",
    ]);
    assert_eq!(
        (code, json["error"]["kind"].as_str()),
        (2, Some("unknown_attempt"))
    );

    let (code, json, _) = store.stk(&[
        "payments",
        "resolve",
        &attempt,
        "--as",
        "failed",
        "--note",
        "customer never got a prompt",
    ]);
    assert_eq!(code, 0, "{json}");
    assert_eq!(json["attempt"]["state"], "failed");
    // Failed frees the order for a new push.
    let (code, json, _) = store.stk(&PUSH);
    assert_eq!(code, 0, "{json}");

    // Pruning: nothing processed is old enough; absurd retentions are usage errors.
    let (code, json, _) = store.stk(&["payments", "prune", "--older-than-days", "1"]);
    assert_eq!((code, json["pruned"].as_u64()), (0, Some(0)), "{json}");
    for days in ["0", "3651", "-1", "1e3"] {
        let (code, _, stderr) = store.stk(&["payments", "prune", "--older-than-days", days]);
        assert_eq!(code, 2, "{days}: {stderr}");
    }
}
