//! Pending signals in the userspace mode (docs/image-format.md,
//! `NT_KCKPT_SIGPENDING`). Checkpoint reads the thread's and the process's
//! queues with PTRACE_PEEKSIGINFO, which does not dequeue them; a signal
//! pending in /proc's masks without a queue entry (the kernel could not
//! allocate one) is added as SI_USER with no sender, as the kernel writes
//! it. Restart queues each entry to itself from the restorer, with every
//! signal blocked: rt_tgsigqueueinfo for the thread's, rt_sigqueueinfo for
//! the process's, in order; the image's mask comes with the final
//! rt_sigreturn (usigframe.rs), so what it leaves unblocked is delivered
//! into the restored context, not the restorer's.

use crate::error::{CrError, Result};
use crate::sys::{self, PTRACE_PEEKSIGINFO_SHARED, SIGINFO_SIZE};

/// KCKPT_MAX_SIGPENDING: more entries make checkpoint fail with E2BIG.
pub const MAX_SIGPENDING: usize = 1024;
pub type Raw = [u8; SIGINFO_SIZE];

const NR_RT_SIGQUEUEINFO: u32 = libc::SYS_rt_sigqueueinfo as u32;
const NR_RT_TGSIGQUEUEINFO: u32 = libc::SYS_rt_tgsigqueueinfo as u32;

/// The queues of a stopped task: the thread's, then the process's.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Queues {
    pub thread: Vec<Raw>,
    pub process: Vec<Raw>,
}

impl Queues {
    pub fn is_empty(&self) -> bool {
        self.thread.is_empty() && self.process.is_empty()
    }
}

pub fn signo(s: &Raw) -> u32 {
    u32::from_le_bytes([s[0], s[1], s[2], s[3]])
}

/// All of one queue of `pid`, oldest first; `limit` entries at most
/// (one more is read, so that an overflow is seen).
fn peek_all(pid: i32, flags: u32, limit: usize) -> Result<Vec<Raw>> {
    let mut out: Vec<Raw> = Vec::new();
    let mut buf = vec![[0u8; SIGINFO_SIZE]; 64];
    loop {
        let n = sys::peek_siginfo(pid, out.len() as u64, flags, &mut buf)?;
        out.extend_from_slice(&buf[..n]);
        if n == 0 || out.len() > limit {
            return Ok(out);
        }
    }
}

/// A queue entry for `sig` pending without one: SI_USER, no sender.
fn si_user(sig: u32) -> Raw {
    let mut s = [0u8; SIGINFO_SIZE];
    s[0..4].copy_from_slice(&sig.to_le_bytes());
    s
}

/// `queue` with an SI_USER entry added for each signal of `mask` (bit
/// n-1 for signal n, as /proc's SigPnd/ShdPnd) that has no entry in it.
/// SIGKILL and SIGSTOP are never saved.
pub fn complete(mut queue: Vec<Raw>, mask: u64) -> Vec<Raw> {
    queue.retain(|s| ![libc::SIGKILL as u32, libc::SIGSTOP as u32].contains(&signo(s)));
    for sig in 1..=64u32 {
        if mask & (1 << (sig - 1)) == 0 || sig == libc::SIGKILL as u32 || sig == libc::SIGSTOP as u32 {
            continue;
        }
        if !queue.iter().any(|s| signo(s) == sig) {
            queue.push(si_user(sig));
        }
    }
    queue
}

fn too_many(pid: i32) -> CrError {
    CrError::Os(
        format!("process {pid} has more pending signals than an image holds ({MAX_SIGPENDING})"),
        std::io::Error::from_raw_os_error(libc::E2BIG),
    )
}

/// The pending signals of the stopped `pid`; `thread_mask` and
/// `process_mask` are /proc/PID/status's SigPnd and ShdPnd.
pub fn read(pid: i32, thread_mask: u64, process_mask: u64) -> Result<Queues> {
    let thread = peek_all(pid, 0, MAX_SIGPENDING)?;
    let process = peek_all(pid, PTRACE_PEEKSIGINFO_SHARED, MAX_SIGPENDING)?;
    let q = Queues { thread: complete(thread, thread_mask), process: complete(process, process_mask) };
    let n = q.thread.len() + q.process.len();
    if n > MAX_SIGPENDING {
        return Err(too_many(pid));
    }
    Ok(q)
}

/// The restorer's calls that queue `q` to process `pid` (itself), each
/// siginfo at the address `at(i)` gives for entry i (thread entries first).
pub fn queue_calls(q: &Queues, pid: u32, at: impl Fn(usize) -> u32) -> Vec<(u32, Vec<u32>)> {
    let mut calls = Vec::new();
    for (i, s) in q.thread.iter().enumerate() {
        calls.push((NR_RT_TGSIGQUEUEINFO, vec![pid, pid, signo(s), at(i)]));
    }
    let n = q.thread.len();
    for (i, s) in q.process.iter().enumerate() {
        calls.push((NR_RT_SIGQUEUEINFO, vec![pid, signo(s), at(n + i)]));
    }
    calls
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(sig: u32, code: i32) -> Raw {
        let mut s = si_user(sig);
        s[8..12].copy_from_slice(&code.to_le_bytes());
        s
    }

    #[test]
    fn signals_without_an_entry_become_si_user() {
        let q = vec![entry(10, -1), entry(34, -1)];
        // SIGUSR1 (10) has its entry; SIGTERM (15) has none; SIGKILL never.
        let mask = 1 << 9 | 1 << 14 | 1 << 33 | 1 << 8;
        let c = complete(q.clone(), mask);
        assert_eq!(c.len(), 3);
        assert_eq!(&c[..2], &q[..]);
        assert_eq!(c[2], si_user(15));
        assert_eq!(signo(&c[2]), 15);
        assert!(complete(vec![entry(9, 0), entry(19, 0)], 0).is_empty());
    }

    #[test]
    fn thread_entries_go_to_the_thread_process_entries_to_the_process() {
        let q = Queues { thread: vec![entry(11, 1)], process: vec![entry(34, -1), entry(34, -1)] };
        let calls = queue_calls(&q, 42, |i| 0x1000 + 128 * i as u32);
        assert_eq!(
            calls,
            vec![
                (NR_RT_TGSIGQUEUEINFO, vec![42, 42, 11, 0x1000]),
                (NR_RT_SIGQUEUEINFO, vec![42, 34, 0x1080]),
                (NR_RT_SIGQUEUEINFO, vec![42, 34, 0x1100]),
            ]
        );
        assert_eq!((NR_RT_TGSIGQUEUEINFO, NR_RT_SIGQUEUEINFO), (335, 178), "the i386 numbers");
    }

    #[test]
    fn the_own_queue_is_read_without_dequeuing() {
        // A stopped tracee of our own: a child with SIGUSR1 and two
        // SIGRTMIN+1 blocked and pending.
        // SAFETY: fork in a test; the child only blocks, raises and stops.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: plain calls in the child, which ends with _exit.
            unsafe {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigfillset(&mut set);
                libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
                libc::raise(libc::SIGUSR1);
                let v = libc::sigval { sival_ptr: 7 as *mut libc::c_void };
                libc::sigqueue(libc::getpid(), libc::SIGRTMIN() + 1, v);
                libc::sigqueue(libc::getpid(), libc::SIGRTMIN() + 1, v);
                libc::pause();
                libc::_exit(0);
            }
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
        if sys::seize(pid).is_err() {
            // ptrace not allowed here (a sandbox): nothing to read.
            sys::kill(pid, libc::SIGKILL);
            let _ = sys::wait_all(pid);
            return;
        }
        sys::interrupt(pid).unwrap();
        sys::wait_all(pid).unwrap();
        let q = read(pid, 0, 0).unwrap();
        let again = read(pid, 0, 0).unwrap();
        sys::kill(pid, libc::SIGKILL);
        let _ = sys::wait_all(pid);
        assert_eq!(q, again, "peeking does not dequeue");
        let t: Vec<u32> = q.thread.iter().map(signo).collect();
        let p: Vec<u32> = q.process.iter().map(signo).collect();
        let rt1 = libc::SIGRTMIN() as u32 + 1;
        assert_eq!((t, p), (vec![libc::SIGUSR1 as u32], vec![rt1, rt1]));
    }
}
