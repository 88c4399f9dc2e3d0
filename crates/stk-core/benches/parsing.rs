//! Parsing speed, measured side by side with a baseline in the same run; prints ratios.
//!
//! Run with `cargo xtask bench` (or `cargo bench -p stk-core --bench parsing`). The baselines
//! are what SDKs without typed validation commonly do: strip non-digits and patch the prefix
//! for phones, parse a float for amounts. Nothing here asserts a timing.
#![allow(missing_docs, clippy::print_stdout, clippy::unwrap_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use stk_core::{Amount, PhoneNumber};

const AMOUNTS: &[&str] = &["100", "1,500", "150000", "250.00", "1.5", "0", "-5", "ten"];

const PHONES: &[&str] = &[
    "0712345678",
    "+254 712 345 678",
    "254712345678",
    "0112-345-678",
    "0812345678",
    "hello",
];

/// Baseline: keep digits, turn a leading 0 into 254 (no validation, allocates).
fn baseline_phone(input: &str) -> Option<String> {
    let digits: String = input.chars().filter(char::is_ascii_digit).collect();
    let out = match digits.strip_prefix('0') {
        Some(rest) => format!("254{rest}"),
        None => digits,
    };
    (out.len() == 12).then_some(out)
}

/// Baseline: amounts through a float, as many SDKs do.
fn baseline_amount(input: &str) -> Option<u64> {
    let v: f64 = input.trim().parse().ok()?;
    (v >= 1.0 && v.fract() == 0.0).then_some(v as u64)
}

/// Runs `f` over `inputs` repeatedly for about `budget`; returns nanoseconds per call.
fn measure(budget: Duration, inputs: &[&str], mut f: impl FnMut(&str)) -> f64 {
    let start = Instant::now();
    let mut calls = 0u64;
    while start.elapsed() < budget {
        for input in inputs {
            f(black_box(input));
        }
        calls += inputs.len() as u64;
    }
    start.elapsed().as_nanos() as f64 / calls as f64
}

fn row(name: &str, ours: f64, baseline: f64) {
    println!(
        "{name:<28} stk {ours:>8.1} ns/op   baseline {baseline:>8.1} ns/op   ratio {:>5.2}x",
        ours / baseline
    );
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("STK_BENCH_MS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(500),
    );
    // Warm up both, then measure side by side.
    measure(budget / 5, PHONES, |s| {
        black_box(PhoneNumber::parse(s).ok());
        black_box(baseline_phone(s));
    });
    let ours = measure(budget, PHONES, |s| {
        black_box(PhoneNumber::parse(s).ok());
    });
    let baseline = measure(budget, PHONES, |s| {
        black_box(baseline_phone(s));
    });
    row("phone parse (validating)", ours, baseline);
    let ours = measure(budget, AMOUNTS, |s| {
        black_box(s.parse::<Amount>().ok());
    });
    let baseline = measure(budget, AMOUNTS, |s| {
        black_box(baseline_amount(s));
    });
    row("amount parse (no floats)", ours, baseline);
    println!("ratio < 1 means stk is faster than the baseline in this run");
}
