//! Verdicts from the kernel log: panic, oops/BUG/WARNING, and the run
//! outcomes (hang, timeout) — each its own verdict, never folded into "failed".

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "verdict", content = "detail", rename_all = "snake_case")]
pub enum Verdict {
    /// Tests ran and the guest powered off through isa-debug-exit.
    Completed,
    /// `Kernel panic - not syncing`.
    Panic(String),
    /// No console output for this many seconds.
    Hang(u64),
    /// The whole run exceeded its time limit.
    Timeout(u64),
    /// QEMU ended without the guest's exit code (crash, reset, killed).
    NoExit(String),
}

/// Kernel-log problems found anywhere in the console (Oops, BUG, WARNING…).
pub fn kernel_problems(log: &str) -> Vec<String> {
    static RE: LazyLock<Regex> = LazyLock::new(|| {
        Regex::new(
            r"(?m)^.*?(Oops: |BUG: |WARNING: |general protection fault|kernel BUG at|Unable to handle kernel|UBSAN: |KASAN: |watchdog: BUG: soft lockup|INFO: task .* blocked for more than).*$",
        )
        .unwrap()
    });
    RE.find_iter(log).map(|m| m.as_str().trim_end_matches('\r').to_string()).collect()
}

/// The panic message, if the kernel panicked.
pub fn panic_line(log: &str) -> Option<String> {
    log.lines()
        .find(|l| l.contains("Kernel panic - not syncing"))
        .map(|l| l.trim_end_matches('\r').to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn captured_panic_is_found() {
        let log = include_str!("../../tests/fixtures/console-panic.log");
        let p = panic_line(log).expect("panic");
        assert!(p.contains("No working init found") || p.contains("panic"), "{p}");
        assert!(panic_line(include_str!("../../tests/fixtures/console-pass.log")).is_none());
    }

    #[test]
    fn oops_and_warning_lines() {
        let log = "ok 1 x\n[ 2.1] WARNING: CPU: 0 PID: 1 at fs/x.c:10 f+0x1/0x2\nBUG: kernel NULL pointer dereference, address: 00000000\n";
        let p = kernel_problems(log);
        assert_eq!(p.len(), 2);
        assert!(p[0].contains("fs/x.c:10"));
        assert!(kernel_problems(include_str!("../../tests/fixtures/console-pass.log")).is_empty());
    }
}
