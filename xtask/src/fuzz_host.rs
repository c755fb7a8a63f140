//! `cargo xtask fuzz-host --seconds S`: libFuzzer (cargo-fuzz) on the image
//! crate's parser/validator, fuzz/fuzz_targets/parse.rs.

// Needs nightly: rustup's nightly toolchain if there is one, else Debian's
// rustc with RUSTC_BOOTSTRAP=1; installs cargo-fuzz from crates.io when
// missing. The corpus lives in the cache (seeded with
// tests/fuzz-seeds/tiny.kckpt); crashes land in fuzz/artifacts/parse/ and
// make the command fail.
use std::path::PathBuf;


use anyhow::{bail, Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::cache;

#[derive(clap::Args)]
pub struct Args {
    /// How long to fuzz.
    #[arg(long, default_value_t = 60)]
    pub seconds: u64,
    /// libFuzzer jobs in parallel.
    #[arg(long, default_value_t = 1)]
    pub jobs: u32,
}

fn has_cargo_fuzz(sh: &Shell) -> bool {
    cmd!(sh, "cargo fuzz --version").quiet().ignore_stdout().ignore_stderr().run().is_ok()
}

/// (cargo's toolchain argument, extra environment) for a nightly compiler.
fn nightly() -> Result<(Option<String>, Vec<(String, String)>)> {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| "/root".into());
    let has_rustup_nightly = std::fs::read_dir(home.join(".rustup/toolchains"))
        .map(|d| d.filter_map(|e| e.ok()).any(|e| e.file_name().to_string_lossy().starts_with("nightly-")))
        .unwrap_or(false);
    if has_rustup_nightly {
        return Ok((Some("+nightly".into()), vec![]));
    }
    if std::path::Path::new(crate::guest_tools::GUEST_RUSTC).exists() {
        eprintln!("[fuzz-host] no rustup nightly: using {} with RUSTC_BOOTSTRAP=1", crate::guest_tools::GUEST_RUSTC);
        return Ok((None, vec![("RUSTC_BOOTSTRAP".into(), "1".into()), ("RUSTC".into(), crate::guest_tools::GUEST_RUSTC.into())]));
    }
    bail!("no nightly Rust: install one with `rustup toolchain install nightly`")
}

pub fn run(sh: &Shell, a: &Args) -> Result<i32> {
    if !has_cargo_fuzz(sh) {
        eprintln!("[fuzz-host] cargo install cargo-fuzz --locked (once)");
        cmd!(sh, "cargo install cargo-fuzz --locked").run().context("installing cargo-fuzz")?;
        if !has_cargo_fuzz(sh) {
            bail!("installing cargo-fuzz failed");
        }
    }
    let (tc, env) = nightly()?;
    let root = crate::repo_root();
    let corpus = cache::root().join("fuzz-host-corpus/parse");
    fs::create_dir_all(&corpus)?;
    let seed = root.join("tests/fuzz-seeds/tiny.kckpt");
    if seed.exists() {
        fs::copy(&seed, corpus.join("tiny.kckpt"))?;
    }
    let _d = sh.push_dir(root.join("fuzz"));
    let (secs, jobs) = (a.seconds.to_string(), a.jobs.to_string());
    let c = cmd!(sh, "cargo {tc...} fuzz run parse {corpus} -- -max_total_time={secs} -max_len=262144 -print_final_stats=1 -jobs={jobs} -workers={jobs}")
        .env("CARGO_TARGET_DIR", cache::root().join("fuzz-host-target"))
        .envs(env)
        .quiet()
        .ignore_status();
    eprintln!("[fuzz-host] {c}");
    let out = c.output().context("running cargo fuzz")?;
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let log = cache::root().join("fuzz-host.log");
    fs::write(&log, &text)?;
    let stat = |k: &str| -> u64 {
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("stat::{k}:")))
            .filter_map(|v| v.trim().parse::<u64>().ok())
            .sum()
    };
    let execs = stat("number_of_executed_units");
    let artifacts = root.join("fuzz/artifacts/parse");
    let crashes: Vec<_> = std::fs::read_dir(&artifacts) // none yet: no crash
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    let cov = text.lines().rev().find_map(|l| l.split("cov: ").nth(1).and_then(|r| r.split_whitespace().next()).map(str::to_string));
    println!("fuzz-host: {} s, {} execs ({:.0}/s), coverage {}, corpus {} files, {} crash artifact(s)",
        a.seconds, execs, execs as f64 / a.seconds.max(1) as f64, cov.unwrap_or("-".into()),
        std::fs::read_dir(&corpus).map(|d| d.count()).unwrap_or(0), crashes.len());
    for c in &crashes {
        println!("  crash: {}", c.display());
    }
    if !out.status.success() && crashes.is_empty() {
        println!("  cargo fuzz failed; log {}", log.display());
        return Ok(2);
    }
    Ok(if crashes.is_empty() { 0 } else { 1 })
}
