//! The `stk` binary end to end on the fake provider: JSON outputs and exit codes.

#![allow(clippy::unwrap_used)]

use std::process::Command;

use serde_json::Value;

/// A database file of its own for each run (removed with the temp directory by the OS).
fn fresh_database() -> String {
    std::env::temp_dir()
        .join(format!(
            "stk-cli-test-{}-{}.db",
            std::process::id(),
            fastrand::u64(..)
        ))
        .display()
        .to_string()
}

/// Runs `stk` with a fixed seed and instant results; returns (exit code, stdout JSON).
fn stk(args: &[&str]) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(args)
        .env_remove("STK_PROVIDER")
        .env("STK_MOCK_DELAY_MS", "0")
        .env("STK_MOCK_SEED", "7")
        .env("STK_DATABASE_URL", fresh_database())
        .output()
        .expect("run stk");
    let stdout = String::from_utf8(out.stdout).expect("utf-8 stdout");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines.len(),
        1,
        "exactly one JSON line on stdout, got {stdout:?}"
    );
    let json: Value = serde_json::from_str(lines[0]).expect("stdout is JSON");
    (out.status.code().expect("exited, not killed"), json)
}

fn push(phone: &str, amount: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec![
        "--json",
        "push",
        "--phone",
        phone,
        "--amount",
        amount,
        "--reference",
        "ORDER-1",
    ];
    args.extend_from_slice(extra);
    stk(&args)
}

#[test]
fn completed_payment() {
    let (code, json) = push("0712345678", "100", &["--wait"]);
    assert_eq!(code, 0);
    insta::assert_json_snapshot!(json);
}

#[test]
fn accepted_without_wait_exits_zero() {
    let out = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["--json", "push", "--phone", "0712345678", "--amount", "100"])
        .env_remove("STK_PROVIDER")
        .env("STK_MOCK_SEED", "7")
        .env("STK_DATABASE_URL", fresh_database())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(json["status"], "pending");
}

#[test]
fn failed_payments_exit_one_with_reason_and_code() {
    let mut all = Vec::new();
    for phone in [
        "0700000001",
        "0700000002",
        "0700000003",
        "0700000004",
        "0700000005",
        "0700000006",
    ] {
        let (code, json) = push(phone, "100", &["--wait"]);
        assert_eq!(code, 1, "{phone}: {json}");
        all.push(json);
    }
    insta::assert_json_snapshot!(all);
}

#[test]
fn invalid_input_exits_two() {
    let mut all = Vec::new();
    for (phone, amount) in [
        ("0812345678", "100"),
        ("0712345678", "0"),
        ("0712345678", "-5"),
        ("0712345678", "1.5"),
        ("0712345678", "ten"),
        ("0712345678", "150001"),
        ("+255712345678", "100"),
        ("07123", "100"),
    ] {
        let (code, json) = push(phone, amount, &[]);
        assert_eq!(code, 2, "{phone} {amount}: {json}");
        assert_eq!(json["error"]["kind"], "invalid_request");
        all.push(json);
    }
    let (code, json) = push(
        "0712345678",
        "100",
        &["--callback-url", "http://shop.example/cb"],
    );
    assert_eq!(code, 2);
    all.push(json);
    insta::assert_json_snapshot!(all);
}

#[test]
fn provider_refusals_exit_three() {
    let (code, rejected) = push("0700000008", "100", &[]);
    assert_eq!(code, 3);
    let (code, unavailable) = push("0700000009", "100", &[]);
    assert_eq!(code, 3);
    insta::assert_json_snapshot!([rejected, unavailable]);
}

#[test]
fn still_pending_after_deadline_exits_four() {
    let (code, json) = push("0700000007", "100", &["--wait", "--timeout", "0"]);
    assert_eq!(code, 4);
    insta::assert_json_snapshot!(json);
}

#[test]
fn usage_config_and_unknown_ids_exit_two() {
    let (code, usage) = stk(&["--json", "push", "--phone", "0712345678"]);
    assert_eq!(code, 2);
    let (code, provider) = stk(&["--json", "--provider", "mpesa-magic", "status", "X"]);
    assert_eq!(code, 2);
    let (code, unknown) = stk(&["--json", "status", "NO-SUCH-ID"]);
    assert_eq!(code, 2);
    insta::assert_json_snapshot!([usage, provider, unknown]);
}

#[test]
fn hostile_input_never_panics() {
    let long = "9".repeat(10_000);
    for (phone, amount) in [
        ("", ""),
        (" ", " "),
        ("☎️0712345678", "１００"),
        ("0712345678\u{7}", "100\n"),
        (long.as_str(), long.as_str()),
        ("+", "+"),
        ("--", "-"),
        ("254", "1e309"),
    ] {
        let (code, json) = push(phone, amount, &[]);
        assert_eq!(code, 2, "{phone:?} {amount:?}: {json}");
        assert!(json["error"]["kind"].is_string());
    }
}

#[test]
fn human_output_reports_the_receipt() {
    let out = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["push", "--phone", "0712345678", "--amount", "100", "--wait"])
        .env_remove("STK_PROVIDER")
        .env("STK_MOCK_DELAY_MS", "0")
        .env("STK_MOCK_SEED", "7")
        .env("STK_DATABASE_URL", fresh_database())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert!(stdout.starts_with("✔ completed, receipt U"), "{stdout}");
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("Push accepted by mock"), "{stderr}");
}

#[test]
fn absurd_timeouts_are_usage_errors_not_panics() {
    for timeout in ["18446744073709551615", "86401", "-1", "1e9"] {
        let (code, json) = push("0700000007", "100", &["--wait", "--timeout", timeout]);
        assert_eq!(code, 2, "{timeout}: {json}");
        assert_eq!(json["error"]["kind"], "usage", "{timeout}: {json}");
    }
}

#[test]
fn rust_log_shows_what_happened_on_stderr() {
    let out = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["push", "--phone", "0712345678", "--amount", "100"])
        .env_remove("STK_PROVIDER")
        .env("STK_MOCK_DELAY_MS", "0")
        .env("STK_DATABASE_URL", fresh_database())
        .env("RUST_LOG", "stk_tracker=debug")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("attempt moved"), "{stderr}");
    let logs: Vec<&str> = stderr.lines().filter(|l| l.contains(" DEBUG ")).collect();
    assert!(!logs.is_empty());
    assert!(
        logs.iter().all(|l| !l.contains("712345678")),
        "phone numbers never in logs: {logs:?}"
    );
}

#[test]
fn closed_stdout_and_stderr_are_not_panics() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["push", "--phone", "0712345678", "--amount", "100", "--wait"])
        .env_remove("STK_PROVIDER")
        .env("STK_MOCK_DELAY_MS", "0")
        .env("STK_DATABASE_URL", fresh_database())
        .env("RUST_LOG", "debug")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The reader goes away before anything is written.
    drop(child.stdout.take());
    drop(child.stderr.take());
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0), "not 101 (a panic)");
}

#[test]
fn generated_references_do_not_collide_under_load() {
    let database = fresh_database();
    let pushes: Vec<_> = (0..40)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_stk"))
                .args(["--json", "push", "--phone", "0712345678", "--amount", "100"])
                .env_remove("STK_PROVIDER")
                .env("STK_MOCK_DELAY_MS", "0")
                .env("STK_DATABASE_URL", &database)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut push in pushes {
        assert_eq!(push.wait().unwrap().code(), Some(0));
    }
    let out = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["--json", "payments", "list", "--limit", "100"])
        .env_remove("STK_PROVIDER")
        .env("STK_DATABASE_URL", &database)
        .output()
        .unwrap();
    let list: Value = serde_json::from_slice(&out.stdout).unwrap();
    let references: std::collections::HashSet<&str> = list["attempts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["reference"].as_str().unwrap())
        .collect();
    assert_eq!(references.len(), 40);
}

#[test]
fn amounts_with_separators_are_refused_not_guessed() {
    // These once charged KES 100, 105 and 150.
    for amount in ["1,00", "10,5", "1,5,0", "1,000", "+100"] {
        let (code, json) = push("0712345678", amount, &[]);
        assert_eq!(code, 2, "{amount}: {json}");
        assert_eq!(json["error"]["field"], "amount", "{amount}: {json}");
    }
}

#[test]
fn a_bad_database_url_is_a_typed_error_without_its_password() {
    // (setting, exit code, error kind): an unsupported scheme is a usage error; a store that
    // cannot be opened is a store error (exit 6: nothing was sent). No password, in any of
    // the URL's forms, appears.
    let cases = [
        ("mysql://user:hunter2@db/x", 2, "usage"),
        ("/proc/no-such-dir/payments.db", 6, "store"),
        ("postgres://user:hunter2@127.0.0.1:9/pay", 6, "store"),
        (
            "postgres://user@127.0.0.1:9/pay?password=hunter2&sslmode=disable",
            6,
            "store",
        ),
        (
            "postgresql://127.0.0.1:9/pay?user=u&password=hunter%32",
            6,
            "store",
        ),
    ];
    for (url, code, kind) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_stk"))
            .args(["--json", "payments", "list"])
            .env_remove("STK_PROVIDER")
            .env("STK_DATABASE_URL", url)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(code), "{url}");
        let json: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(json["error"]["kind"], kind, "{url}: {json}");
        let shown = format!("{json}{}", String::from_utf8_lossy(&out.stderr));
        assert!(!shown.contains("hunter"), "{shown}");
    }
}

/// Every documented way to name a new SQLite file creates it: a plain path (spaces, `?`,
/// `%`, `#` included), `sqlite:///absolute`, `sqlite:relative`, in a directory that does not
/// exist yet.
#[test]
fn every_documented_sqlite_setting_creates_a_new_store() {
    let base = std::env::temp_dir().join(format!("stk-cli-db-{}", fastrand::u64(..)));
    let odd = base.join("a dir/pay?ments 100%#1.db");
    let settings = [
        (odd.display().to_string(), odd.clone()),
        (
            format!("sqlite://{}", base.join("new/a.db").display()),
            base.join("new/a.db"),
        ),
        (
            format!("sqlite:{}", base.join("b.db").display()),
            base.join("b.db"),
        ),
    ];
    for (setting, file) in settings {
        let out = Command::new(env!("CARGO_BIN_EXE_stk"))
            .args(["--json", "push", "--phone", "0712345678", "--amount", "100"])
            .env_remove("STK_PROVIDER")
            .env("STK_MOCK_DELAY_MS", "0")
            .env("STK_DATABASE_URL", &setting)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{setting}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        assert!(
            file.is_file(),
            "{setting}: {} was not created",
            file.display()
        );
    }
    let relative = Command::new(env!("CARGO_BIN_EXE_stk"))
        .args(["--json", "payments", "list"])
        .current_dir(&base)
        .env_remove("STK_PROVIDER")
        .env("STK_DATABASE_URL", "sqlite:rel.db")
        .output()
        .unwrap();
    assert_eq!(relative.status.code(), Some(0));
    assert!(base.join("rel.db").is_file());
    let _ = std::fs::remove_dir_all(&base);
}
