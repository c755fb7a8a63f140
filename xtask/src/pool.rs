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

/// Run `f(i)` for every `i` in `0..n`, at most `jobs` at once (one thread
/// each, taking the next index when one ends); results in index order.
/// The two-boot tests' pairs (reboot.rs): each pair boots twice in turn.
pub fn run_each<R: Send>(jobs: usize, n: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let out: std::sync::Mutex<Vec<Option<R>>> = std::sync::Mutex::new((0..n).map(|_| None).collect());
    std::thread::scope(|sc| {
        for _ in 0..jobs.clamp(1, n.max(1)) {
            sc.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= n {
                    break;
                }
                let r = f(i);
                out.lock().unwrap()[i] = Some(r);
            });
        }
    });
    out.into_inner().unwrap().into_iter().map(|r| r.expect("every index ran")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_each_keeps_order_and_bounds_concurrency() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let (now, peak) = (AtomicUsize::new(0), AtomicUsize::new(0));
        let r = run_each(2, 7, |i| {
            let c = now.fetch_add(1, Ordering::SeqCst) + 1;
            peak.fetch_max(c, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(20));
            now.fetch_sub(1, Ordering::SeqCst);
            i * 10
        });
        assert_eq!(r, [0, 10, 20, 30, 40, 50, 60]);
        assert!(peak.load(Ordering::SeqCst) <= 2);
        assert!(run_each(3, 0, |i| i).is_empty());
    }
}
