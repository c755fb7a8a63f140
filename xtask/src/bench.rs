//! Benchmarks: `harness` times a warm test-vm with one guest and with two
//! (--jobs), fuzz-images --count 2000 likewise, bare QEMU boots of the same
//! kernel and initramfs, and the no-op build-kernel; `cr` is bench_cr.rs. Everything runs in this process, on one guest context.

use std::time::Instant;

use anyhow::{bail, Result};
use xshell::Shell;

use crate::guest::{self, Guest};
use crate::vm::Accel;
use crate::{build, fuzz_images, test_vm};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Bench {
    /// Warm test-vm and fuzz-images --count 2000, --jobs 1 against --jobs 2, bare QEMU boots, the no-op build-kernel.
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

/// Mutants of the fuzz-images figure (the seed is the default, 1).
const FUZZ_COUNT: usize = 2000;

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
    let tv1 = test_vm::Args { guest: opts.clone(), jobs: Some(1), ..Default::default() };
    let tv2 = test_vm::Args { jobs: Some(2), ..tv1.clone() };
    let tests = test_vm::tests_of(&tv1)?;
    let fz = |jobs| fuzz_images::Args {
        count: FUZZ_COUNT,
        seed: 1,
        image_timeout_ms: 1000,
        refresh_seeds: false,
        verbose: false,
        jobs: Some(jobs),
        guest: opts.clone(),
    };
    let (fz1, fz2) = (fz(1), fz(2));
    // Warm everything first (and the test durations the shards are balanced
    // by); the bare boots boot exactly what test-vm booted.
    let g = Guest::new(sh, &opts)?;
    let mut boots = Vec::new();
    for tv in [&tv1, &tv2] {
        let first = test_vm::execute(&g, tv, &tests)?;
        if first.outcome.code != 0 {
            bail!("test-vm --jobs {} is not green ({}); fix that before benchmarking", tv.jobs.unwrap_or(1), first.summary());
        }
        boots.push(first.boots.clone());
    }
    for f in [&fz1, &fz2] {
        let (code, summary) = fuzz_images::execute(sh, f)?;
        if code != 0 {
            bail!("fuzz-images --count {FUZZ_COUNT} --jobs {} fails; fix that before benchmarking:\n{summary}", f.jobs.unwrap_or(1));
        }
    }
    let bare_boot = |b: &crate::vm::Boot| -> Result<f64> {
        Ok(timed(|| Ok(duct::cmd("qemu-system-i386", b.args()).stdout_null().stderr_null().unchecked().run()?))?.0)
    };
    let (mut noop, mut warm1, mut warm2, mut bare) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut bare_shard = vec![Vec::new(); boots[1].len()];
    let (mut fuzz1, mut fuzz2) = (Vec::new(), Vec::new());
    let mut red = Vec::new();
    for i in 0..a.reps {
        noop.push(timed(|| build::run(sh, &build::Args::default()))?.0);
        // Side by side, alternating which goes first.
        let order = if i % 2 == 0 { [&tv1, &tv2] } else { [&tv2, &tv1] };
        for tv in order {
            let (s, r) = timed(|| {
                let g = Guest::new(sh, &opts)?;
                test_vm::execute(&g, tv, &tests)
            })?;
            // A flaky guest test still gives a wall time: counted, not fatal.
            if r.outcome.code != 0 {
                eprintln!("[bench] test-vm --jobs {} not green: {}", tv.jobs.unwrap_or(1), r.summary());
                red.push(format!("--jobs {}: {}", tv.jobs.unwrap_or(1), r.summary()));
            }
            if tv.jobs == Some(1) { &mut warm1 } else { &mut warm2 }.push(s);
        }
        let order = if i % 2 == 0 { [&fz1, &fz2] } else { [&fz2, &fz1] };
        for f in order {
            let (s, (code, _)) = timed(|| fuzz_images::execute(sh, f))?;
            if code != 0 {
                red.push(format!("fuzz-images --jobs {}: exit {code}", f.jobs.unwrap_or(1)));
            }
            if f.jobs == Some(1) { &mut fuzz1 } else { &mut fuzz2 }.push(s);
        }
        bare.push(bare_boot(&boots[0][0])?);
        for (k, b) in boots[1].iter().enumerate() {
            bare_shard[k].push(bare_boot(b)?);
        }
    }
    let (n, w1, w2, b) = (median(noop), median(warm1), median(warm2), median(bare));
    println!("bench harness ({} reps, median, TCG, {} CPUs)", a.reps, std::thread::available_parallelism().map_or(1, |n| n.get()));
    println!("  no-op build-kernel        {n:>7.3} s   (goal < 1 s)");
    println!("  warm test-vm --jobs 1     {w1:>7.3} s");
    println!("  warm test-vm --jobs 2     {w2:>7.3} s");
    println!("  speed-up jobs 1 / jobs 2  {:>7.3}     (goal >= 1.7 on 2 cores)", w1 / w2);
    let (f1, f2) = (median(fuzz1), median(fuzz2));
    println!("  fuzz-images --jobs 1      {f1:>7.3} s   (--count {FUZZ_COUNT})");
    println!("  fuzz-images --jobs 2      {f2:>7.3} s");
    println!("  speed-up fuzz 1 / 2       {:>7.3}", f1 / f2);
    println!("  bare qemu boot->exit      {b:>7.3} s   (one guest, every test)");
    let nb = bare_shard.len();
    for (k, v) in bare_shard.into_iter().enumerate() {
        println!("  bare shard {}/{nb} alone      {:>7.3} s", k + 1, median(v));
    }
    println!("  ratio test-vm / bare      {:>7.3}     (jobs 1; goal <= 1.2)", w1 / b);
    for r in &red {
        println!("  not green in a timed run: {r}");
    }
    Ok(())
}
