//! `stk serve` driven from outside the process by an app in another language: a Python client
//! (`requests`, and the Standard Webhooks library to verify webhooks) against the binary on
//! 127.0.0.1, on the fake provider and a SQLite store; and its dashboard in Debian's chromium,
//! driven by Playwright for Python. The Python packages are installed from
//! PyPI into a venv under `target/` the first time (a stamp records the requirements' hash).

#![allow(clippy::unwrap_used, clippy::panic, clippy::print_stderr)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const KEY: &str = "py-client-key-0123456789";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The venv's python, created and filled from `requirements.txt` if needed.
fn python() -> PathBuf {
    // Tests run in parallel threads: one creates the venv, the others wait for it.
    static SETTING_UP: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one_at_a_time = SETTING_UP.lock().unwrap_or_else(|e| e.into_inner());
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve_client");
    let venv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/serve-client-venv");
    let python = venv.join("bin/python");
    let requirements = std::fs::read(here.join("requirements.txt")).unwrap();
    let stamp = venv.join(".requirements");
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .unwrap();
        assert!(made.success(), "python3 -m venv failed");
    }
    if std::fs::read(&stamp).ok().as_deref() != Some(&requirements[..]) {
        let installed = Command::new(&python)
            .args([
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "-q",
                "-r",
            ])
            .arg(here.join("requirements.txt"))
            .status()
            .unwrap();
        assert!(installed.success(), "pip install failed");
        std::fs::write(&stamp, &requirements).unwrap();
    }
    python
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The `host:port` `stk serve` prints first on stderr (`…payments API on http://…/v1/payments`);
/// the rest of stderr is drained so the service never blocks writing it.
fn address(service: &mut Killed) -> String {
    let mut err = BufReader::new(service.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    std::thread::spawn(move || err.lines().map_while(Result::ok).for_each(drop));
    line.split("http://")
        .nth(1)
        .and_then(|rest| rest.strip_suffix("/v1/payments\n"))
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_owned()
}

#[test]
fn a_python_app_creates_a_payment_and_verifies_its_webhook() {
    let python = python();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/serve_client/client.py");
    let mut client = Killed(
        Command::new(python)
            .arg(script)
            .env("STK_SERVE_API_KEY", KEY)
            .env("STK_SERVE_WEBHOOK_SECRET", SECRET)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut out = BufReader::new(client.0.stdout.take().unwrap());
    let mut port = String::new();
    out.read_line(&mut port).unwrap();
    let port: u16 = port
        .trim()
        .parse()
        .expect("the client prints its webhook port");

    let db = std::env::temp_dir().join(format!("stk-serve-py-{}.db", fastrand::u64(..)));
    let mut service = Killed(
        Command::new(env!("CARGO_BIN_EXE_stk"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("STK_PROVIDER")
            .env("STK_DATABASE_URL", &db)
            .env("STK_MOCK_DELAY_MS", "200")
            .env("STK_SERVE_API_KEY", KEY)
            .env(
                "STK_SERVE_WEBHOOK_URL",
                format!("http://127.0.0.1:{port}/hooks"),
            )
            .env("STK_SERVE_WEBHOOK_SECRET", SECRET)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let base = address(&mut service);
    writeln!(client.0.stdin.take().unwrap(), "http://{base}").unwrap();

    let mut report = String::new();
    out.read_line(&mut report).unwrap();
    let status = client.0.wait().unwrap();
    assert!(status.success(), "the Python client failed: {report}");
    assert!(report.contains("signed webhook"), "{report}");
    let _ = std::fs::remove_file(&db);
}

/// The dashboard in a real browser: `serve_client/dashboard.py` seeds payments through the
/// API, then signs in, searches, opens a timeline, resolves from the review queue, exports
/// CSV, and checks that wrong keys and cross-site forms are refused. Screenshots go to
/// `target/dashboard-screens/`.
#[test]
fn the_dashboard_works_in_a_real_browser() {
    let Some(chromium) = ["chromium", "chromium-browser"]
        .iter()
        .find(|name| Command::new(name).arg("--version").output().is_ok())
    else {
        assert!(
            std::env::var_os("CI").is_none(),
            "chromium is missing in CI (.ci/languages.sh installs it)"
        );
        eprintln!("skipped: no chromium (apt-get install chromium)");
        return;
    };
    eprintln!("browser: {chromium}");
    let python = python();
    let db = std::env::temp_dir().join(format!("stk-dashboard-{}.db", fastrand::u64(..)));
    let mut service = Killed(
        Command::new(env!("CARGO_BIN_EXE_stk"))
            .args(["serve", "--bind", "127.0.0.1:0"])
            .env_remove("STK_PROVIDER")
            .env("STK_DATABASE_URL", &db)
            .env("STK_MOCK_DELAY_MS", "300")
            .env("STK_TRACKER_DEADLINE_SECONDS", "2")
            .env("STK_SERVE_API_KEY", KEY)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let base = address(&mut service);
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let shots = here.join("../../target/dashboard-screens");
    let out = Command::new(python)
        .arg(here.join("tests/serve_client/dashboard.py"))
        .arg(format!("http://{base}"))
        .arg(KEY)
        .arg(&shots)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    eprintln!("{stdout}");
    assert!(
        out.status.success() && stdout.ends_with("ok\n"),
        "the browser test failed:\n{stdout}\n{stderr}"
    );
    for page in ["login", "overview", "payments", "payment", "review"] {
        assert!(
            shots.join(format!("{page}.png")).exists(),
            "no screenshot of {page}"
        );
    }
}

#[test]
fn serve_refuses_to_start_without_a_key_or_on_an_open_address() {
    let run = |args: &[&str], key: Option<&str>| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stk"));
        command
            .arg("serve")
            .args(args)
            .env_remove("STK_SERVE_API_KEY");
        if let Some(key) = key {
            command.env("STK_SERVE_API_KEY", key);
        }
        command.output().unwrap()
    };
    let out = run(&[], None);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("STK_SERVE_API_KEY"));
    let out = run(&["--bind", "0.0.0.0:0"], Some(KEY));
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--behind-proxy"), "{stderr}");
    assert!(!stderr.contains(KEY), "the key is never printed");
}

#[test]
fn a_bad_accounts_file_stops_the_start_with_file_key_and_reason() {
    let dir = std::env::temp_dir().join(format!("stk-serve-conf-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("stk.toml");
    let run = |text: &str| {
        std::fs::write(&path, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_stk"))
            .args(["serve", "--bind", "127.0.0.1:0", "--config"])
            .arg(&path)
            .env("SHOP_KEY", KEY)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{out:?}");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let account = "[accounts.shop]\napi_key = { env = \"SHOP_KEY\" }\ndatabase = \"shop.db\"\n";
    for (text, key, why) in [
        (
            format!("{account}[accounts.shop.providers.mock]\ndelay = 5\n"),
            "accounts.shop.providers.mock.delay",
            "delay_ms",
        ),
        (
            format!(
                "{account}webhook_url = \"http://shop.example/\"\nwebhook_secret = \"{SECRET}\"\n[accounts.shop.providers.mock]\n"
            ),
            "accounts.shop.webhook_url",
            "https",
        ),
        (
            format!("{account}[accounts.shop.providers.mpesa]\n"),
            "accounts.shop.providers.mpesa",
            "no such provider",
        ),
        ("[accounts.shop\n".to_owned(), "(syntax)", "line 1"),
    ] {
        let stderr = run(&text);
        let expected = format!("{}: {key}: ", path.display());
        assert!(stderr.contains(&expected), "{expected} not in {stderr}");
        assert!(stderr.contains(why), "{why} not in {stderr}");
        assert!(
            !stderr.contains(KEY) && !stderr.contains("MfKQ"),
            "{stderr}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// A webhook receiver from `examples/serve/` (what README shows), on `port`.
fn receiver(language: &str, port: u16) -> Option<Killed> {
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/serve");
    let mut command = match language {
        "python" => {
            let mut c = Command::new(python());
            c.arg(examples.join("webhook.py"));
            c
        }
        "node" => {
            let mut c = Command::new("node");
            c.arg(examples.join("webhook.js"));
            c
        }
        _ => {
            let mut c = Command::new("php");
            c.args(["-S", &format!("127.0.0.1:{port}")])
                .arg(examples.join("webhook.php"));
            c
        }
    };
    let program = command.get_program().to_owned();
    let installed = Command::new(&program).arg("--version").output().is_ok();
    if !installed {
        // CI installs every language (.ci/languages.sh); a developer's machine may lack one.
        assert!(
            std::env::var_os("CI").is_none(),
            "{program:?} is not installed"
        );
        eprintln!("skipping the {language} receiver: {program:?} is not installed");
        return None;
    }
    let child = command
        .env("PORT", port.to_string())
        .env("STK_SERVE_WEBHOOK_SECRET", SECRET)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Some(Killed(child))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Waits (up to 10 s) until something listens on `port`.
fn wait_listening(port: u16) {
    for _ in 0..200 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("nothing listens on {port}");
}

/// README's receivers in Python, Node and PHP, one account each in one `stk serve --config`:
/// each refuses a forged webhook and prints the completion it verified.
#[test]
fn readme_receivers_in_three_languages_verify_the_webhooks() {
    let dir = std::env::temp_dir().join(format!("stk-serve-langs-{}", fastrand::u64(..)));
    std::fs::create_dir_all(&dir).unwrap();
    let mut accounts = String::new();
    let mut receivers = Vec::new();
    for language in ["python", "node", "php"] {
        let port = free_port();
        let Some(receiver) = receiver(language, port) else {
            continue;
        };
        accounts += &format!(
            "[accounts.{language}]\napi_key = {{ env = \"KEY_{language}\" }}\ndatabase = \"{language}.db\"\n\
             webhook_url = \"http://127.0.0.1:{port}/hooks\"\nwebhook_secret = {{ env = \"STK_SERVE_WEBHOOK_SECRET\" }}\n\
             [accounts.{language}.providers.mock]\ndelay_ms = 100\n"
        );
        receivers.push((language, port, receiver));
    }
    let config = dir.join("stk.toml");
    std::fs::write(&config, accounts).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let http = reqwest::Client::new();
    for (_, port, _) in &receivers {
        wait_listening(*port);
        // A forged webhook is refused.
        let forged = runtime.block_on(
            http.post(format!("http://127.0.0.1:{port}/hooks"))
                .header("webhook-id", "evt_forged")
                .header(
                    "webhook-timestamp",
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .unwrap()
                        .as_secs()
                        .to_string(),
                )
                .header("webhook-signature", "v1,bm90IGEgc2lnbmF0dXJl")
                .body(r#"{"type":"payment.completed","data":{"reference":"X","receipt":"FAKE"}}"#)
                .send(),
        );
        assert_eq!(forged.unwrap().status().as_u16(), 400);
    }

    let mut command = Command::new(env!("CARGO_BIN_EXE_stk"));
    command
        .args(["serve", "--bind", "127.0.0.1:0", "--config"])
        .arg(&config)
        .env("STK_SERVE_WEBHOOK_SECRET", SECRET)
        .stderr(Stdio::piped());
    for (language, _, _) in &receivers {
        command.env(format!("KEY_{language}"), format!("{KEY}-{language}"));
    }
    let mut service = Killed(command.spawn().unwrap());
    let base = address(&mut service);
    for (language, _, receiver) in &mut receivers {
        let created = runtime.block_on(async {
            http.post(format!("http://{base}/v1/payments"))
                .bearer_auth(format!("{KEY}-{language}"))
                .json(&serde_json::json!({"phone": "0712345678", "amount": 100, "reference": "ORDER-1"}))
                .send()
                .await
                .unwrap()
                .status()
        });
        assert_eq!(created.as_u16(), 201, "{language}");
        // Read in a thread: a receiver that never prints fails the test, not hangs it.
        let stdout = receiver.0.stdout.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut printed = String::new();
            let _ = BufReader::new(stdout).read_line(&mut printed);
            let _ = tx.send(printed);
        });
        let printed = rx
            .recv_timeout(std::time::Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the {language} receiver printed no verified webhook"));
        let words: Vec<&str> = printed.split_whitespace().collect();
        assert_eq!(
            words[..2],
            ["payment.completed", "ORDER-1"],
            "{language}: {printed:?}"
        );
        assert!(
            words.get(2).is_some_and(|r| r.len() == 10),
            "{language}: a receipt in {printed:?}"
        );
    }
    drop(service);
    std::fs::remove_dir_all(&dir).unwrap();
}
