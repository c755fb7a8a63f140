//! Interval timers in the userspace mode (docs/image-format.md,
//! `NT_KCKPT_ITIMERS`). getitimer(2) has no /proc or ptrace interface:
//! checkpoint injects it into the target for ITIMER_REAL, ITIMER_VIRTUAL
//! and ITIMER_PROF (uckpt.rs); the note is written only if a timer is
//! armed. A process with a POSIX timer (/proc/PID/timers not empty) is
//! refused with EBUSY, as the kernel refuses it. Restart arms each timer
//! whose value is not 0 with setitimer(2), last in the restorer.

use crate::error::{CrError, Result};

pub const NR_GETITIMER: u32 = libc::SYS_getitimer as u32;
const NR_SETITIMER: u32 = libc::SYS_setitimer as u32;

/// One `struct itimerval` of i386 as u32 { interval_sec, interval_usec,
/// value_sec, value_usec }, for ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
pub type Timers = [[u32; 4]; 3];

/// The timers from the three 16-byte itimervals getitimer wrote.
pub fn parse(raw: &[[u8; 16]; 3]) -> Timers {
    raw.map(|b| std::array::from_fn(|k| u32::from_le_bytes([b[4 * k], b[4 * k + 1], b[4 * k + 2], b[4 * k + 3]])))
}

/// Is a timer armed (its value not 0)? The note is written only then.
pub fn any_armed(t: &Timers) -> bool {
    t.iter().any(|v| v[2] != 0 || v[3] != 0)
}

/// EBUSY if /proc/PID/timers (`timers` as read) lists a POSIX timer.
pub fn refuse_posix_timers(pid: i32, timers: &str) -> Result<()> {
    if timers.trim().is_empty() {
        return Ok(());
    }
    let n = timers.lines().filter(|l| l.starts_with("ID:")).count().max(1);
    Err(CrError::Os(
        format!("process {pid} has {n} POSIX timer(s) (timer_create), which cannot be checkpointed"),
        std::io::Error::from_raw_os_error(libc::EBUSY),
    ))
}

/// The restorer's setitimer calls: each armed timer `which` with the
/// itimerval at `at(which)` (the image's 16 bytes), no old value.
pub fn arm_calls(t: &Timers, at: impl Fn(usize) -> u32) -> Vec<(u32, Vec<u32>)> {
    (0..3).filter(|&w| t[w][2] != 0 || t[w][3] != 0).map(|w| (NR_SETITIMER, vec![w as u32, at(w), 0])).collect()
}

/// An itimerval's 16 bytes, as setitimer(2) reads them on i386.
pub fn itimerval_bytes(v: &[u32; 4]) -> [u8; 16] {
    let mut b = [0u8; 16];
    for (k, x) in v.iter().enumerate() {
        b[4 * k..4 * k + 4].copy_from_slice(&x.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn itimervals_are_interval_then_value() {
        let mut raw = [[0u8; 16]; 3];
        raw[0] = itimerval_bytes(&[1, 500_000, 3, 250_000]);
        let t = parse(&raw);
        assert_eq!(t[0], [1, 500_000, 3, 250_000]);
        assert!(any_armed(&t));
        assert_eq!(arm_calls(&t, |w| 0x100 + 16 * w as u32), vec![(NR_SETITIMER, vec![0, 0x100, 0])]);
        // an interval without a value is not armed
        let t = [[1, 0, 0, 0], [0; 4], [0, 0, 0, 7]];
        assert!(any_armed(&t));
        assert_eq!(arm_calls(&t, |w| w as u32), vec![(NR_SETITIMER, vec![2, 2, 0])]);
        assert!(!any_armed(&[[1, 0, 0, 0], [0; 4], [0; 4]]));
        assert_eq!((NR_GETITIMER, NR_SETITIMER), (105, 104), "the i386 numbers");
    }

    #[test]
    fn a_posix_timer_is_busy_and_named() {
        assert!(refuse_posix_timers(7, "").is_ok());
        let t = "ID: 0\nsignal: 14/0000000000000000\nnotify: signal/pid.7\nClockID: 1\n";
        let e = refuse_posix_timers(7, t).unwrap_err();
        assert!(e.to_string().contains("POSIX timer"), "{e}");
        assert!(matches!(e, CrError::Os(_, ref io) if io.raw_os_error() == Some(libc::EBUSY)));
        assert_eq!(e.code(), 1);
    }
}
