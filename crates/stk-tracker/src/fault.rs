//! Crash points for crash tests: with `STK_TRACKER_CRASH_AT=<point>` in the environment, the
//! process kills itself (SIGKILL, as an out-of-memory kill or a power cut would) when it
//! reaches that point. Points: `after_record_before_send`, `after_send_before_store`,
//! `after_inbox_before_process`.

use std::sync::OnceLock;

/// Only with feature `fault-injection` (the crash tests'); otherwise nothing.
pub(crate) fn point(name: &str) {
    if !cfg!(feature = "fault-injection") {
        return;
    }
    static AT: OnceLock<Option<String>> = OnceLock::new();
    let at = AT.get_or_init(|| std::env::var("STK_TRACKER_CRASH_AT").ok());
    if at.as_deref() == Some(name) {
        tracing::error!(point = name, "STK_TRACKER_CRASH_AT: killing the process");
        let pid = std::process::id().to_string();
        let _ = std::process::Command::new("kill")
            .args(["-9", &pid])
            .status();
        std::process::abort();
    }
}
