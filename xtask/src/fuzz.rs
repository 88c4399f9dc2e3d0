//! `cargo xtask fuzz [--seconds N] [--dev] [--smoke] [target...]`: coverage-guided fuzzing of
//! every parser that reads outside input (phones, amounts, references, the adapters' answers
//! and callbacks), with cargo-fuzz (libFuzzer) on stable Rust.
//!
//! The targets live in `fuzz/`, a crate outside the workspace. They build without a sanitizer
//! (`-s none`): the workspace forbids unsafe code, so a crash is a panic (a failed assertion,
//! an index out of bounds, an overflow: debug assertions are on), which needs none. Each target
//! starts from its committed seeds (`fuzz/seeds/<target>/`, read only) and the inputs earlier
//! runs found (`fuzz/corpus/<target>/`, where new ones are written; not committed). Crashing
//! inputs go to `fuzz/artifacts/<target>/`, each run's full libFuzzer output to
//! `fuzz/target/logs/<target>.log`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::{cargo, root};

const USAGE: &str = "usage: cargo xtask fuzz [--seconds N] [--dev] [--smoke] [target...]

  --seconds N   fuzz each target for N seconds (default 60)
  --dev         build without optimizations (builds faster, runs slower)
  --smoke       the short CI run: 5 seconds per target, optimized build
  target...     only these targets (default: all; `cargo fuzz list` names them)";

/// Seconds per target of a full run.
const DEFAULT_SECONDS: u64 = 60;
/// Seconds per target of `--smoke`. Its build is the optimized one: on 2 cores a cold dev
/// build took 1m03s against 1m45s, but dev binaries ran about 20 times slower (1,000 against
/// 20,000 inputs a second on the adapter targets), so 5 s of dev fuzzing would try ~5,000 inputs.
const SMOKE_SECONDS: u64 = 5;

/// libFuzzer options of every run, besides `-max_total_time`.
const LIBFUZZER_OPTIONS: &[&str] = &[
    "-rss_limit_mb=2048",
    "-max_len=65536",
    // An input taking this long is reported as a hang (a `timeout-*` artifact).
    "-timeout=10",
    "-print_final_stats=1",
];

/// File name prefixes of the inputs libFuzzer writes when something went wrong.
const ARTIFACT_PREFIXES: &[&str] = &["crash-", "timeout-", "oom-", "leak-"];

#[derive(Debug)]
struct Options {
    seconds: u64,
    dev: bool,
    targets: Vec<String>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut options = Options {
        seconds: DEFAULT_SECONDS,
        dev: false,
        targets: Vec::new(),
    };
    let mut seconds = None;
    let mut smoke = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--seconds" => {
                let value = args
                    .next()
                    .ok_or_else(|| format!("--seconds needs a value\n{USAGE}"))?;
                let n = value
                    .parse::<u64>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("--seconds {value:?}: give a whole number above 0"))?;
                seconds = Some(n);
            }
            "--dev" => options.dev = true,
            "--smoke" => smoke = true,
            "-h" | "--help" => return Err(USAGE.to_owned()),
            flag if flag.starts_with('-') => return Err(format!("unknown option {flag}\n{USAGE}")),
            target => options.targets.push(target.to_owned()),
        }
    }
    options.seconds = seconds.unwrap_or(if smoke {
        SMOKE_SECONDS
    } else {
        DEFAULT_SECONDS
    });
    Ok(options)
}

/// What one target's run did.
#[derive(Debug, Default)]
struct Outcome {
    target: String,
    seconds: u64,
    executions: u64,
    exec_per_sec: u64,
    /// Inputs in libFuzzer's corpus at the end (seeds and earlier finds included).
    corpus: u64,
    /// Coverage points reached.
    coverage: u64,
    /// Crash, timeout and out-of-memory inputs this run wrote.
    artifacts: Vec<PathBuf>,
    /// Why the run failed, when it did.
    failure: Option<String>,
    log: PathBuf,
}

pub(crate) fn run(args: &[String]) -> Result<(), String> {
    let options = parse_args(args)?;
    let started = Instant::now();
    ensure_cargo_fuzz()?;
    let known = list_targets()?;
    let targets = if options.targets.is_empty() {
        known
    } else {
        if let Some(unknown) = options.targets.iter().find(|t| !known.contains(t)) {
            return Err(format!(
                "no fuzz target {unknown:?}; the targets are: {}",
                known.join(", ")
            ));
        }
        options.targets.clone()
    };

    let mut build = vec!["fuzz", "build", "-s", "none"];
    if options.dev {
        build.push("--dev");
    }
    let build_started = Instant::now();
    cargo(&build, &[])?;
    let build_time = build_started.elapsed();

    let mut outcomes = Vec::new();
    for target in &targets {
        outcomes.push(fuzz_target(target, &options)?);
    }

    print_table(&outcomes);
    println!(
        "\nbuild {} ({}), fuzzing {} s per target, total wall time {}",
        minutes(build_time),
        if options.dev { "dev" } else { "release" },
        options.seconds,
        minutes(started.elapsed())
    );
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| o.failure.is_some()).collect();
    if failed.is_empty() {
        println!("xtask fuzz: no crashes");
        return Ok(());
    }
    for outcome in &failed {
        println!(
            "\n{}: {}\n  log: {}",
            outcome.target,
            outcome.failure.as_deref().unwrap_or_default(),
            outcome.log.display()
        );
        for artifact in &outcome.artifacts {
            println!(
                "  reproduce: cargo fuzz run -s none{} {} {}",
                if options.dev { " --dev" } else { "" },
                outcome.target,
                artifact.display()
            );
        }
    }
    Err(format!(
        "{} fuzz target(s) failed: {}",
        failed.len(),
        failed
            .iter()
            .map(|o| o.target.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    ))
}

fn cargo_command() -> Command {
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command.current_dir(root());
    command
}

/// Installs cargo-fuzz when `cargo fuzz` is not there.
fn ensure_cargo_fuzz() -> Result<(), String> {
    let installed = cargo_command()
        .args(["fuzz", "--version"])
        .output()
        .is_ok_and(|out| out.status.success());
    if installed {
        return Ok(());
    }
    println!("cargo-fuzz is not installed; installing it");
    let started = Instant::now();
    cargo(&["install", "cargo-fuzz", "--locked"], &[])?;
    println!("installed cargo-fuzz in {}", minutes(started.elapsed()));
    Ok(())
}

fn list_targets() -> Result<Vec<String>, String> {
    let out = cargo_command()
        .args(["fuzz", "list"])
        .output()
        .map_err(|e| format!("cannot run cargo fuzz list: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "cargo fuzz list failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let targets: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect();
    if targets.is_empty() {
        return Err("cargo fuzz list found no fuzz targets in fuzz/".into());
    }
    Ok(targets)
}

fn fuzz_target(target: &str, options: &Options) -> Result<Outcome, String> {
    let fuzz = root().join("fuzz");
    let corpus = fuzz.join("corpus").join(target);
    let seeds = fuzz.join("seeds").join(target);
    let artifacts = fuzz.join("artifacts").join(target);
    let logs = fuzz.join("target").join("logs");
    for dir in [&corpus, &artifacts, &logs] {
        std::fs::create_dir_all(dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    }
    let before = artifact_files(&artifacts)?;

    let max_time = format!("-max_total_time={}", options.seconds);
    let mut command = cargo_command();
    // cargo-fuzz writes crashing inputs to fuzz/artifacts/<target>/; the panic's stack goes
    // to the log.
    command.args(["fuzz", "run", "-s", "none"]);
    if std::env::var_os("RUST_BACKTRACE").is_none() {
        command.env("RUST_BACKTRACE", "1");
    }
    if options.dev {
        command.arg("--dev");
    }
    // The first directory is where libFuzzer writes new inputs; the seeds are only read.
    command.arg(target).arg(&corpus);
    if seeds.is_dir() {
        command.arg(&seeds);
    }
    command.arg("--").arg(&max_time).args(LIBFUZZER_OPTIONS);

    println!("\n==> fuzz {target} ({} s)", options.seconds);
    let started = Instant::now();
    let out = command
        .output()
        .map_err(|e| format!("cannot run cargo fuzz run {target}: {e}"))?;
    let wall = started.elapsed();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let log = logs.join(format!("{target}.log"));
    std::fs::write(&log, &text).map_err(|e| format!("cannot write {}: {e}", log.display()))?;

    let after = artifact_files(&artifacts)?;
    let new: Vec<PathBuf> = after.into_iter().filter(|a| !before.contains(a)).collect();
    let stats = Stats::parse(&text);
    let failure = if !new.is_empty() {
        Some(format!("{} crashing input(s)", new.len()))
    } else if !out.status.success() {
        Some(format!("cargo fuzz run exited with {}", out.status))
    } else {
        None
    };
    if failure.is_some() {
        // The panic message, its stack and the input, so CI logs show them.
        for line in crash_report(&text) {
            println!("  | {line}");
        }
    }
    Ok(Outcome {
        target: target.to_owned(),
        seconds: stats.seconds.unwrap_or(wall.as_secs()),
        executions: stats.executions.unwrap_or_default(),
        exec_per_sec: stats.exec_per_sec.unwrap_or_default(),
        corpus: stats.corpus.unwrap_or_default(),
        coverage: stats.coverage.unwrap_or_default(),
        artifacts: new,
        failure,
        log,
    })
}

/// The part of a failed run's output that says what failed: from the panic (or libFuzzer's
/// error) to the line naming the input written, at most 80 lines; else the last 40 lines.
fn crash_report(text: &str) -> Vec<&str> {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.contains("panicked at"))
        .or_else(|| lines.iter().position(|l| l.contains("ERROR: libFuzzer")));
    match start {
        Some(start) => {
            let end = lines[start..]
                .iter()
                .position(|l| l.starts_with("Base64:"))
                .map_or(lines.len(), |i| start + i + 1);
            lines[start..end].iter().take(80).copied().collect()
        }
        None => lines[lines.len().saturating_sub(40)..].to_vec(),
    }
}

/// The crash, timeout and out-of-memory inputs in `dir`.
fn artifact_files(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries =
        std::fs::read_dir(dir).map_err(|e| format!("cannot list {}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| ARTIFACT_PREFIXES.iter().any(|pre| n.starts_with(pre)))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The figures of libFuzzer's output (`-print_final_stats=1` and its status lines).
#[derive(Debug, Default, PartialEq, Eq)]
struct Stats {
    seconds: Option<u64>,
    executions: Option<u64>,
    exec_per_sec: Option<u64>,
    corpus: Option<u64>,
    coverage: Option<u64>,
}

impl Stats {
    fn parse(text: &str) -> Self {
        let mut stats = Self::default();
        for line in text.lines().map(str::trim) {
            if let Some(rest) = line.strip_prefix("Done ") {
                // "Done 2224586 runs in 6 second(s)"
                let mut words = rest.split_whitespace();
                stats.executions = stats.executions.or(number(words.next()));
                stats.seconds = number(words.nth(2));
            } else if let Some(rest) = line.strip_prefix("stat::number_of_executed_units:") {
                stats.executions = number(Some(rest));
            } else if let Some(rest) = line.strip_prefix("stat::average_exec_per_sec:") {
                stats.exec_per_sec = number(Some(rest));
            } else if line.starts_with('#') {
                // "#2224586	DONE   cov: 162 ft: 347 corp: 104/2107b lim: 21301 exec/s: …"
                if let Some(cov) = field(line, "cov:") {
                    stats.coverage = number(Some(cov));
                }
                if let Some(corp) = field(line, "corp:") {
                    stats.corpus = number(corp.split('/').next());
                }
            }
        }
        stats
    }
}

/// The word after `name` in a libFuzzer status line.
fn field<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let mut words = line.split_whitespace();
    words.find(|w| *w == name)?;
    words.next()
}

fn number(word: Option<&str>) -> Option<u64> {
    word?.trim().parse().ok()
}

fn print_table(outcomes: &[Outcome]) {
    println!(
        "\n{:<20} {:>7} {:>13} {:>10} {:>7} {:>6} {:>8}",
        "target", "seconds", "executions", "exec/s", "corpus", "cov", "crashes"
    );
    for o in outcomes {
        let crashes = if o.artifacts.is_empty() && o.failure.is_some() {
            "failed".to_owned()
        } else {
            o.artifacts.len().to_string()
        };
        println!(
            "{:<20} {:>7} {:>13} {:>10} {:>7} {:>6} {:>8}",
            o.target, o.seconds, o.executions, o.exec_per_sec, o.corpus, o.coverage, crashes
        );
    }
}

fn minutes(d: Duration) -> String {
    let s = d.as_secs();
    format!("{}m{:02}s", s / 60, s % 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_libfuzzer_final_stats() {
        let text =
            "#2097152\tpulse  cov: 160 ft: 340 corp: 100/2000b lim: 20041 exec/s: 419430 rss: 60Mb
#2224586\tDONE   cov: 162 ft: 347 corp: 104/2107b lim: 21301 exec/s: 370764 rss: 60Mb
Done 2224586 runs in 6 second(s)
stat::number_of_executed_units: 2224586
stat::average_exec_per_sec:     370764
stat::new_units_added:          331
";
        assert_eq!(
            Stats::parse(text),
            Stats {
                seconds: Some(6),
                executions: Some(2_224_586),
                exec_per_sec: Some(370_764),
                corpus: Some(104),
                coverage: Some(162),
            }
        );
    }

    #[test]
    fn options() {
        let args = |a: &[&str]| a.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        let o = parse_args(&args(&["--smoke", "phone"])).ok();
        assert_eq!(o.as_ref().map(|o| o.seconds), Some(SMOKE_SECONDS));
        assert_eq!(o.map(|o| o.targets), Some(vec!["phone".to_owned()]));
        let o = parse_args(&args(&["--seconds", "7", "--dev"])).ok();
        assert_eq!(o.as_ref().map(|o| (o.seconds, o.dev)), Some((7, true)));
        assert!(parse_args(&args(&["--seconds", "0"])).is_err());
        assert!(parse_args(&args(&["--fast"])).is_err());
    }
}
