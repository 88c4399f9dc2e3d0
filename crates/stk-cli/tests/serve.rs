//! `stk serve` driven from outside the process by an app in another language: a Python client
//! (`requests`, and the Standard Webhooks library to verify webhooks) against the binary on
//! 127.0.0.1, on the fake provider and a SQLite store. The Python packages are installed from
//! PyPI into a venv under `target/` the first time (a stamp records the requirements' hash).

#![allow(clippy::unwrap_used, clippy::panic)]

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const KEY: &str = "py-client-key-0123456789";
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// The venv's python, created and filled from `requirements.txt` if needed.
fn python() -> PathBuf {
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
    let mut err = BufReader::new(service.0.stderr.take().unwrap());
    let mut line = String::new();
    err.read_line(&mut line).unwrap();
    let base = line
        .split("http://")
        .nth(1)
        .and_then(|rest| rest.strip_suffix("/v1/payments\n"))
        .unwrap_or_else(|| panic!("no address in {line:?}"));
    writeln!(client.0.stdin.take().unwrap(), "http://{base}").unwrap();

    let mut report = String::new();
    out.read_line(&mut report).unwrap();
    let status = client.0.wait().unwrap();
    assert!(status.success(), "the Python client failed: {report}");
    assert!(report.contains("signed webhook"), "{report}");
    let _ = std::fs::remove_file(&db);
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
