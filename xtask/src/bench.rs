//! Benchmarks: `harness` times a warm test-vm against a bare QEMU boot of
//! the same kernel and initramfs, and the no-op build-kernel; `cr` is
//! bench_cr.rs. Everything runs in this process, on one guest context.

use std::time::Instant;

use anyhow::{bail, Result};
use xshell::Shell;

use crate::guest::{self, Guest};
use crate::vm::Accel;
use crate::{build, test_vm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bench {
    /// Warm test-vm against a bare QEMU boot, and the no-op build-kernel.
    Harness,
    /// Checkpoint/restart figures from the guest (bench_cr.rs).
    Cr,
}

#[derive(clap::Args)]
pub struct Args {
    /// What to measure.
    #[arg(value_enum)]
    pub what: Bench,
    /// Machine-readable output on stdout (`cr`); progress stays on stderr.
    #[arg(long)]
    pub json: bool,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn timed<T>(f: impl FnOnce() -> Result<T>) -> Result<(f64, T)> {
    let t = Instant::now();
    let r = f()?;
    Ok((t.elapsed().as_secs_f64(), r))
}

pub fn run(sh: &Shell, a: &Args) -> Result<()> {
    if a.reps == 0 {
        bail!("--reps must be at least 1");
    }
    match a.what {
        Bench::Cr => crate::bench_cr::run(&Guest::new(sh, &guest::Opts::default())?, a.json, a.reps),
        Bench::Harness => harness(sh, a),
    }
}

fn harness(sh: &Shell, a: &Args) -> Result<()> {
    if a.json {
        bail!("bench harness has no --json");
    }
    let opts = guest::Opts { accel: Some(Accel::Tcg), ..Default::default() };
    let tv = test_vm::Args { guest: opts.clone(), ..Default::default() };
    let tests = test_vm::tests_of(&tv)?;
    // Warm everything first; the bare boot boots exactly what test-vm booted.
    let g = Guest::new(sh, &opts)?;
    let first = test_vm::execute(&g, &tv, &tests)?;
    if first.outcome.code != 0 {
        bail!("test-vm is not green ({}); fix that before benchmarking", first.summary());
    }
    let boot = first.boot.clone().expect("execute returns its boot");
    let (mut noop, mut warm, mut bare) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..a.reps {
        noop.push(timed(|| build::run(sh, &build::Args::default()))?.0);
        warm.push(timed(|| {
            let g = Guest::new(sh, &opts)?;
            test_vm::execute(&g, &tv, &tests)
        })?
        .0);
        bare.push(timed(|| Ok(duct::cmd("qemu-system-i386", boot.args()).stdout_null().stderr_null().unchecked().run()?))?.0);
    }
    let (n, w, b) = (median(noop), median(warm), median(bare));
    println!("bench harness ({} reps, median)", a.reps);
    println!("  no-op build-kernel      {n:>7.3} s   (goal < 1 s)");
    println!("  warm test-vm            {w:>7.3} s");
    println!("  bare qemu boot->exit    {b:>7.3} s");
    println!("  ratio test-vm / bare    {:>7.3}     (goal <= 1.2)", w / b);
    Ok(())
}
