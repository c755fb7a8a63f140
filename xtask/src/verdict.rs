//! Verdicts from the kernel log: panic, oops/BUG/WARNING, and the run
//! outcomes (hang, timeout) — each its own verdict, never folded into "failed".
//! The debug flavor's reports are kernel problems too: lockdep
//! ("WARNING: possible circular locking dependency detected", "[ BUG:
//! Invalid wait context ]"…), "BUG: sleeping function called from invalid
//! context", "UBSAN: …", DEBUG_LIST's "list_add corruption", and with
//! panic_on_warn a WARN is also a panic.

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
            r"(?m)^.*?(Oops: |BUG: |WARNING: |general protection fault|kernel BUG at|Unable to handle kernel|UBSAN: |KASAN: |watchdog: BUG: soft lockup|INFO: task .* blocked for more than|DEBUG_LOCKS_WARN_ON|list_(add|del) corruption|possible circular locking dependency|possible recursive locking).*$",
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

    fn has(problems: &[String], what: &str) -> bool {
        problems.iter().any(|p| p.contains(what))
    }

    #[test]
    fn lockdep_circular_splat_is_a_problem() {
        let p = kernel_problems(include_str!("../../tests/fixtures/console-lockdep.log"));
        assert!(has(&p, "WARNING: possible circular locking dependency detected"), "{p:?}");
        // one line per splat header, not the whole trace
        assert_eq!(p.len(), 1, "{p:?}");
    }

    #[test]
    fn sleeping_in_atomic_is_a_problem() {
        let p = kernel_problems(include_str!("../../tests/fixtures/console-atomic-sleep.log"));
        assert!(has(&p, "BUG: sleeping function called from invalid context at mm/slab_common.c:1023"), "{p:?}");
    }

    #[test]
    fn ubsan_report_is_a_problem_and_panics_with_panic_on_warn() {
        let log = include_str!("../../tests/fixtures/console-ubsan.log");
        let p = kernel_problems(log);
        assert!(has(&p, "UBSAN: shift-out-of-bounds in fs/binfmt_cr.c:412:29"), "{p:?}");
        assert!(panic_line(log).unwrap().contains("UBSAN: panic_on_warn set"));
    }

    #[test]
    fn warn_on_fpu_with_panic_on_warn() {
        let log = include_str!("../../tests/fixtures/console-warn-fpu.log");
        let p = kernel_problems(log);
        assert!(has(&p, "at arch/x86/kernel/fpu/core.c:770 fpu_force_restore"), "{p:?}");
        assert!(panic_line(log).unwrap().contains("panic_on_warn set"));
    }

    #[test]
    fn every_lockdep_and_list_report_is_seen() {
        let log = include_str!("../../tests/fixtures/console-lockdep-misc.log");
        let p = kernel_problems(log);
        assert_eq!(p.len(), log.lines().count(), "{p:?}");
    }
}
