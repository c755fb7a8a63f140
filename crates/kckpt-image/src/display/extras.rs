//! The summary lines of the optional records: XSAVE state, pending
//! signals, interval timers, the parent of an incremental image, and an
//! eventfd's descriptor line.

use std::fmt;

use crate::consts::*;
use crate::extras::{xfeature_names, ITIMER_NAMES};
use crate::model::{Fd, Image};
use crate::{Itimerval, Siginfo};

/// i386 signal names, index = signal number - 1, for 1..=31.
const SIG_NAMES: [&str; 31] = [
    "SIGHUP", "SIGINT", "SIGQUIT", "SIGILL", "SIGTRAP", "SIGABRT", "SIGBUS", "SIGFPE", "SIGKILL",
    "SIGUSR1", "SIGSEGV", "SIGUSR2", "SIGPIPE", "SIGALRM", "SIGTERM", "SIGSTKFLT", "SIGCHLD",
    "SIGCONT", "SIGSTOP", "SIGTSTP", "SIGTTIN", "SIGTTOU", "SIGURG", "SIGXCPU", "SIGXFSZ",
    "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO", "SIGPWR", "SIGSYS",
];

/// `SIGUSR1`, `SIGRTMIN+3`, or `signal N` outside 1..=64.
pub fn signal_name(signo: u32) -> String {
    match signo {
        1..=31 => SIG_NAMES[signo as usize - 1].into(),
        SIGRTMIN => "SIGRTMIN".into(),
        33..=64 => format!("SIGRTMIN+{}", signo - SIGRTMIN),
        n => format!("signal {n}"),
    }
}

/// The `si_code`s a sender can give (`SI_*`), else `code N`.
fn code_name(code: i32) -> String {
    let name = match code {
        0 => "SI_USER",
        0x80 => "SI_KERNEL",
        -1 => "SI_QUEUE",
        -2 => "SI_TIMER",
        -3 => "SI_MESGQ",
        -4 => "SI_ASYNCIO",
        -5 => "SI_SIGIO",
        -6 => "SI_TKILL",
        -7 => "SI_DETHREAD",
        -60 => "SI_ASYNCNL",
        c => return format!("code {c}"),
    };
    format!("{name} ({code})")
}

/// What the union of `s` holds, by its code and signal.
fn siginfo_fields(s: &Siginfo) -> String {
    let (code, w) = (s.code(), |o: usize| crate::bytes::u32_at(&s.0, o).unwrap_or(0));
    match (code, s.signo()) {
        (0 | -6 | 0x80, _) => format!("pid {} uid {}", s.pid(), s.uid()),
        (-1 | -3, _) => format!("pid {} uid {} si_value {:#x}", s.pid(), s.uid(), s.value()),
        (-2, _) => format!("timer {} overrun {} si_value {:#x}", w(12), w(16), s.value()),
        (1.., 17) => format!("pid {} uid {} status {}", s.pid(), s.uid(), w(20)),
        (1.., 4 | 5 | 7 | 8 | 11) => format!("addr {:#010x}", w(12)),
        (1.., 29) => format!("band {:#x} fd {}", w(12), w(16)),
        _ => format!("words {:#x} {:#x} {:#x}", w(12), w(16), w(20)),
    }
}

fn timeval(sec: u32, usec: u32) -> String {
    format!("{sec}.{usec:06} s")
}

fn timer_line(f: &mut fmt::Formatter<'_>, name: &str, t: &Itimerval) -> fmt::Result {
    let state = if (t.value_sec, t.value_usec) == (0, 0) { "  (disarmed)" } else { "" };
    writeln!(
        f,
        "    {name:<15} value {:<18} interval {}{state}",
        timeval(t.value_sec, t.value_usec),
        timeval(t.interval_sec, t.interval_usec)
    )
}

/// The `Extras` section: one block per record present, or "none".
pub(super) fn extras(img: &Image, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    writeln!(f, "Extras: {:#x}", img.extras())?;
    if let Some(x) = &img.xstate {
        writeln!(f, "  XSAVE state  {} bytes, mxcsr={:08x}", x.0.len(), x.mxcsr())?;
        writeln!(f, "    xcr0       {:#x} {}", x.xcr0(), xfeature_names(x.xcr0()).join(" "))?;
        writeln!(f, "    xfeatures  {:#x} {}", x.xfeatures(), xfeature_names(x.xfeatures()).join(" "))?;
    }
    if let Some(p) = &img.sigpending {
        writeln!(f, "  Pending signals: {} thread, {} process", p.thread.len(), p.process.len())?;
        let all = p.thread.iter().map(|s| ("thread", s)).chain(p.process.iter().map(|s| ("process", s)));
        for (q, s) in all {
            let sig = format!("{} ({})", signal_name(s.signo()), s.signo());
            writeln!(f, "    {q:<7} {sig:<16} {:<15} {}", code_name(s.code()), siginfo_fields(s))?;
        }
    }
    if let Some(t) = &img.itimers {
        writeln!(f, "  Interval timers:")?;
        for (name, t) in ITIMER_NAMES.iter().zip(t) {
            timer_line(f, name, t)?;
        }
    }
    if let Some(p) = &img.parent {
        writeln!(f, "  Parent (incremental image): {}", String::from_utf8_lossy(&p.path))?;
        writeln!(f, "    depth {}  parent size {}  header hash {:#018x}", p.depth, p.size, p.hash)?;
        writeln!(f, "    {} pages from the parent in {} ranges", p.pages(), p.ranges.len())?;
        for r in p.ranges.iter().take(8) {
            writeln!(f, "    {:#010x}-{:#010x} {:>6} pages", r.vaddr, r.end(), r.npages)?;
        }
        if p.ranges.len() > 8 {
            writeln!(f, "    ... {} more ranges", p.ranges.len() - 8)?;
        }
    }
    Ok(())
}

/// An eventfd's line in `Files:`.
pub(super) fn eventfd_line(f: &mut fmt::Formatter<'_>, d: &Fd) -> fmt::Result {
    let sem = if d.mode & EFD_SEMAPHORE != 0 { "yes" } else { "no" };
    writeln!(f, "  fd {:>3} eventfd  flags {:#o} counter {} semaphore {sem} id {}", d.fd, d.flags, d.pos, d.id)
}
