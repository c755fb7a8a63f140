//! `KCKPT`/`NT_KCKPT_SIGPENDING`: `nr_thread`, `nr_process`, then the
//! thread's queue and the process's, 128-byte i386 `siginfo_t` each.

use crate::bytes::{u32_at, Put};
use crate::consts::*;
use crate::{Error, SigPending, Siginfo};

/// Decode and check an `NT_KCKPT_SIGPENDING` descriptor.
pub(crate) fn parse(d: &[u8]) -> Result<SigPending, Error> {
    let descsz = d.len().min(u32::MAX as usize) as u32;
    let (Some(nr_thread), Some(nr_process)) = (u32_at(d, 0), u32_at(d, 4)) else {
        return Err(Error::SigpendingShort { descsz });
    };
    let nr = nr_thread as u64 + nr_process as u64;
    if nr > MAX_SIGPENDING as u64 {
        return Err(Error::SigpendingTooMany { nr });
    }
    let expected = 8 + SIGINFO_SIZE as u64 * nr;
    if d.len() as u64 != expected {
        return Err(Error::SigpendingSize { descsz, expected });
    }
    let mut all = d.get(8..).unwrap_or(&[]).chunks_exact(SIGINFO_SIZE).filter_map(|c| c.try_into().ok()).map(Siginfo);
    let thread: Vec<Siginfo> = all.by_ref().take(nr_thread as usize).collect();
    let process: Vec<Siginfo> = all.collect();
    check_queue("thread", &thread)?;
    check_queue("process", &process)?;
    Ok(SigPending { thread, process })
}

/// `si_signo` 1..=64, never SIGKILL/SIGSTOP, a standard signal once per queue.
fn check_queue(queue: &'static str, q: &[Siginfo]) -> Result<(), Error> {
    let mut standard = 0u32;
    for (k, s) in q.iter().enumerate() {
        let signo = s.signo();
        if !(1..=NSIG as u32).contains(&signo) {
            return Err(Error::SigpendingSigno { queue, k, signo });
        }
        if signo == SIGKILL || signo == SIGSTOP {
            return Err(Error::SigpendingUnqueueable { queue, k, signo });
        }
        if signo < SIGRTMIN {
            if standard & (1 << signo) != 0 {
                return Err(Error::SigpendingDuplicate { queue, k, signo });
            }
            standard |= 1 << signo;
        }
    }
    Ok(())
}

pub(crate) fn encode(p: &SigPending) -> Vec<u8> {
    let mut d = Vec::with_capacity(8 + SIGINFO_SIZE * (p.thread.len() + p.process.len()));
    d.u32(p.thread.len() as u32);
    d.u32(p.process.len() as u32);
    for s in p.thread.iter().chain(&p.process) {
        d.extend_from_slice(&s.0);
    }
    d
}
