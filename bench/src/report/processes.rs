//! The processes a run starts: this binary's subcommands, servers killed when dropped, and
//! the Python and Node peers.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

use crate::stats::Run;

/// What `program args` prints (stdout, else stderr), trimmed.
pub(crate) fn output(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text.is_empty() {
        Ok(String::from_utf8_lossy(&out.stderr).trim().to_owned())
    } else {
        Ok(text)
    }
}

/// This binary, to start its subcommands.
pub(crate) fn me() -> Result<PathBuf, String> {
    std::env::current_exe().map_err(|e| e.to_string())
}

/// The repository root (where `bench/peers` is): the current directory under cargo.
pub(crate) fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .map(|d| PathBuf::from(d).join(".."))
        .unwrap_or_else(|| PathBuf::from("."))
}

/// A started server: its port; killed when dropped.
pub(crate) struct Server {
    child: Child,
    port: u16,
}

impl Server {
    /// Starts `command`, which prints its port (or `ready`) as its first line.
    pub(crate) fn start(mut command: Command, fixed_port: Option<u16>) -> Result<Self, String> {
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("cannot start {command:?}: {e}"))?;
        // From here on an error drops (and so kills) the process.
        let mut server = Self { child, port: 0 };
        let stdout = server.child.stdout.take().ok_or("no stdout")?;
        let mut first = String::new();
        let mut reader = BufReader::new(stdout);
        reader.read_line(&mut first).map_err(|e| e.to_string())?;
        if first.trim().is_empty() {
            return Err(format!("{command:?} exited before it was ready"));
        }
        server.port = match fixed_port {
            Some(port) => port,
            None => first
                .trim()
                .parse()
                .map_err(|_| format!("{command:?} printed {first:?}, not a port"))?,
        };
        // Drain the rest of its stdout so it never blocks writing.
        std::thread::spawn(move || reader.lines().map_while(Result::ok).for_each(drop));
        Ok(server)
    }

    pub(crate) fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to completion and reads its last stdout line as a [`Run`].
pub(crate) fn measured(mut command: Command) -> Result<Run, String> {
    let shown = format!("{command:?}");
    let out = command
        .stderr(Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run {shown}: {e}"))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .ok_or_else(|| format!("{shown} printed no result ({})", out.status))?;
    serde_json::from_str(line).map_err(|e| format!("{shown}: {e}: {line}"))
}

pub(crate) fn bench(args: &[&str]) -> Result<Command, String> {
    let mut command = Command::new(me()?);
    command.args(args);
    Ok(command)
}

/// The Python and Node peers, if they can be set up here.
pub(crate) struct Peers {
    pub(crate) python: Result<PathBuf, String>,
    node: Result<PathBuf, String>,
}

impl Peers {
    pub(crate) fn set_up() -> Self {
        let script = root().join("bench/peers/setup.sh");
        let python = Command::new("bash")
            .arg(&script)
            .stderr(Stdio::inherit())
            .output()
            .map_err(|e| e.to_string())
            .and_then(|out| {
                let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
                if out.status.success() && !path.is_empty() {
                    Ok(PathBuf::from(path))
                } else {
                    Err(format!("{} failed ({})", script.display(), out.status))
                }
            });
        let node = output("node", &["--version"]).map(|_| PathBuf::from("node"));
        Self { python, node }
    }

    pub(crate) fn client(
        &self,
        tool: &str,
        provider: &str,
        url: &str,
        concurrency: u64,
        requests: u64,
    ) -> Result<Run, String> {
        let (program, script) = match tool {
            "python-requests" => (self.python.clone()?, "client_requests.py"),
            _ => (self.node.clone()?, "client_fetch.mjs"),
        };
        let mut command = Command::new(program);
        command
            .arg(root().join("bench/peers").join(script))
            .args(["--provider", provider, "--url", url])
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--requests",
                &requests.to_string(),
            ])
            .args(["--warmup", &(requests / 10).max(5).to_string()]);
        measured(command)
    }
}

pub(crate) fn free_port() -> Result<u16, String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(listener.local_addr().map_err(|e| e.to_string())?.port())
}
