//! Benchmarks. `harness`: warm test-vm wall time against a bare QEMU boot of
//! the same kernel and initramfs, and the no-op build-kernel time.

use std::time::Instant;

use anyhow::{bail, Context, Result};

#[derive(clap::Args)]
pub struct Args {
    /// What to measure: `harness` or `cr`.
    pub what: String,
    /// Machine-readable output (`cr`).
    #[arg(long)]
    pub json: bool,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 3)]
    pub reps: usize,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn time_cmd(c: &mut std::process::Command) -> Result<f64> {
    let t = Instant::now();
    let out = c.output()?;
    if !out.status.success() && out.status.code() != Some(1) && out.status.code() != Some(3) {
        bail!("{c:?} failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(t.elapsed().as_secs_f64())
}

pub fn run(a: &Args) -> Result<()> {
    if a.what == "cr" {
        return crate::bench_cr::run(a.json, a.reps);
    }
    if a.what != "harness" {
        bail!("unknown benchmark {:?} (known: harness, cr)", a.what);
    }
    let exe = std::env::current_exe()?;
    // Warm everything first.
    let k = crate::build::run(&crate::build::Args::default())?;
    let st = std::process::Command::new(&exe).args(["test-vm", "--accel", "tcg"]).status()?;
    if !st.success() {
        bail!("test-vm is not green; fix that before benchmarking");
    }
    let mut noop = Vec::new();
    let mut warm = Vec::new();
    let mut bare = Vec::new();
    // Boot exactly the initramfs test-vm just booted, with its command line.
    let ev = crate::cache::root().join("evidence").join(format!("{}.json", k.key));
    let ev: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&ev)?)?;
    let initrd = ev["initrd"].as_str().context("test-vm evidence names no initrd")?.into();
    let boot = crate::vm::Boot {
        kernel: k.bzimage.clone(),
        initrd,
        accel: crate::vm::Accel::Tcg,
        append: vec![format!("kckpt.timeout={}", crate::test_vm::TEST_TIMEOUT)],
        mem_mib: 512,
        interactive: false,
    };
    for _ in 0..a.reps {
        noop.push(time_cmd(std::process::Command::new(&exe).arg("build-kernel"))?);
        warm.push(time_cmd(std::process::Command::new(&exe).args(["test-vm", "--accel", "tcg"]))?);
        bare.push(time_cmd(std::process::Command::new("qemu-system-i386").args(boot.args()))?);
    }
    let (n, w, b) = (median(noop), median(warm), median(bare));
    println!("bench harness ({} reps, median)", a.reps);
    println!("  no-op build-kernel      {n:>7.3} s   (goal < 1 s)");
    println!("  warm test-vm            {w:>7.3} s");
    println!("  bare qemu boot->exit    {b:>7.3} s");
    println!("  ratio test-vm / bare    {:>7.3}     (goal <= 1.2)", w / b);
    Ok(())
}
