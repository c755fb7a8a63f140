//! The guest pool: several QEMU guests booted at once, one thread each,
//! for test-vm's and fuzz-images' shards (shard.rs says what each runs).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, Result};

use crate::vm;

/// Shard K of N's console log in `work`: `console-shardKofN.log`.
pub fn log_path(work: &Path, k: usize, n: usize) -> PathBuf {
    work.join(format!("console-shard{}of{n}.log", k + 1))
}

/// Boot every guest at once, each logging to its own console log; wait for
/// all. Returns their runs, in order, and the wall time of the whole.
pub fn run_all(boots: &[vm::Boot], logs: &[PathBuf], hang: Duration, timeout: Duration, echo: bool) -> Result<(Vec<vm::Run>, f64)> {
    assert_eq!(boots.len(), logs.len(), "one console log per guest");
    let t = Instant::now();
    let runs: Vec<Result<vm::Run>> = std::thread::scope(|sc| {
        let hs: Vec<_> = boots.iter().zip(logs).map(|(b, l)| sc.spawn(move || vm::run(b, hang, timeout, echo, l))).collect();
        hs.into_iter().map(|h| h.join().unwrap_or_else(|_| Err(anyhow!("a shard's thread panicked")))).collect()
    });
    let secs = t.elapsed().as_secs_f64();
    Ok((runs.into_iter().collect::<Result<_>>()?, secs))
}
