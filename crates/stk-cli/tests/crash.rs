//! Crashes (SIGKILL) at the worst moments lose nothing: the `stk` binary over the Lipia
//! emulator on 127.0.0.1 (flat callbacks: they carry the id Lipia's status query takes, and
//! its answer names the order, so a callback can prove a payment whose push answer a crash
//! lost), with `STK_TRACKER_CRASH_AT` making the process kill itself.

//! Needs feature `fault-injection` (on in CI's `--all-features` run).

#![cfg(feature = "fault-injection")]
#![allow(clippy::unwrap_used)]

use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use stk_emulator::{LipiaCallbackShape, LipiaEmulator, LipiaEmulatorConfig};
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

struct Rig {
    emulator: LipiaEmulator,
    env: Vec<(&'static str, String)>,
}

impl Rig {
    async fn start() -> Self {
        let emulator = LipiaEmulator::start(
            LipiaEmulatorConfig::default()
                .delay(Duration::from_millis(100))
                .callback_shape(LipiaCallbackShape::Flat),
        )
        .await
        .unwrap();
        let database = std::env::temp_dir()
            .join(format!(
                "stk-crash-{}-{}.db",
                std::process::id(),
                fastrand::u64(..)
            ))
            .display()
            .to_string();
        let env = vec![
            ("STK_PROVIDER", "lipia".to_owned()),
            ("LIPIA_BASE_URL", emulator.base_url().to_owned()),
            ("LIPIA_API_KEY", emulator.api_key().to_owned()),
            ("STK_DATABASE_URL", database),
        ];
        Self { emulator, env }
    }

    fn command(&self, crash_at: Option<&str>) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_stk"));
        command
            .envs(self.env.iter().map(|(k, v)| (*k, v.as_str())))
            .env_remove("STK_TRACKER_CRASH_AT")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(point) = crash_at {
            command.env("STK_TRACKER_CRASH_AT", point);
        }
        command
    }

    /// Starts `stk listen`; returns it, its stdout lines and its callback URL.
    async fn listen(
        &self,
        crash_at: Option<&str>,
    ) -> (Child, Lines<BufReader<ChildStdout>>, String) {
        let mut child = self
            .command(crash_at)
            .args(["--json", "listen", "--bind", "127.0.0.1:0"])
            .spawn()
            .unwrap();
        let mut stderr = BufReader::new(child.stderr.take().unwrap()).lines();
        let banner = stderr.next_line().await.unwrap().unwrap();
        let url = banner.split("on ").nth(1).unwrap().to_owned();
        let stdout = BufReader::new(child.stdout.take().unwrap()).lines();
        (child, stdout, url)
    }

    async fn push(
        &self,
        reference: &str,
        callback_url: &str,
        crash_at: Option<&str>,
    ) -> std::process::Output {
        self.command(crash_at)
            .args([
                "--json",
                "push",
                "--phone",
                "0712345678",
                "--amount",
                "250",
                "--reference",
                reference,
                "--callback-url",
                callback_url,
            ])
            .output()
            .await
            .unwrap()
    }
}

/// The next event line, within 20 s.
async fn next_event(lines: &mut Lines<BufReader<ChildStdout>>) -> Value {
    let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
        .await
        .expect("an event within 20 s")
        .unwrap()
        .expect("the listener is still running");
    serde_json::from_str(&line).unwrap()
}

fn interrupt(child: &Child) {
    let pid = child.id().unwrap().to_string();
    std::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callback_stored_before_a_crash_is_processed_after_the_restart() {
    let rig = Rig::start().await;
    let (doomed, _, url) = rig.listen(Some("after_inbox_before_process")).await;
    let pushed = rig.push("CRASH-1", &url, None).await;
    assert!(
        pushed.status.success(),
        "{}",
        String::from_utf8_lossy(&pushed.stderr)
    );

    // The callback arrives, is stored, and the listener is killed before processing it.
    let killed = tokio::time::timeout(Duration::from_secs(20), doomed.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        killed.status.code(),
        None,
        "killed by a signal, not exited: {}",
        String::from_utf8_lossy(&killed.stderr)
    );

    // A new listener (another port: the provider does not know it) finds the stored
    // callback, confirms it and reports the payment once.
    let (survivor, mut events, _) = rig.listen(None).await;
    let event = next_event(&mut events).await;
    assert_eq!(event["event"]["kind"], "completed", "{event}");
    assert_eq!(event["event"]["payload"]["reference"], "CRASH-1");
    interrupt(&survivor);
    assert_eq!(rig.emulator.ledger().charges().len(), 1);
    rig.emulator.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_whose_answer_a_crash_lost_is_resolved_without_a_second_push() {
    let rig = Rig::start().await;
    let (listener, mut events, url) = rig.listen(None).await;

    // Killed after the push went out, before its answer was stored.
    let pushed = rig
        .push("CRASH-2", &url, Some("after_send_before_store"))
        .await;
    assert_eq!(pushed.status.code(), None, "killed by a signal");
    assert_eq!(
        rig.emulator.ledger().charges().len(),
        1,
        "the push went out"
    );

    // The provider's callback names the order; the listener matches the recorded attempt by
    // reference, confirms by status query, and reports it paid.
    let event = next_event(&mut events).await;
    assert_eq!(event["event"]["kind"], "completed", "{event}");
    assert_eq!(event["event"]["payload"]["reference"], "CRASH-2");

    // Pushing the order again is refused: it is paid. Still one charge.
    let again = rig.push("CRASH-2", &url, None).await;
    assert_eq!(again.status.code(), Some(2));
    let answer: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(answer["error"]["kind"], "already_live", "{answer}");
    assert_eq!(rig.emulator.ledger().charges().len(), 1);
    interrupt(&listener);
    rig.emulator.shutdown().await;
}
