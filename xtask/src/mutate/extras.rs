//! Mutators for `kckpt_attrs.extras` and its optional notes (XSAVE area,
//! pending signals, interval timers) and for eventfd records. Each returns
//! whether the loader must refuse the mutant (true) or must accept it
//! (false): every rule of docs/image-format.md gets broken, and each
//! record gets valid variations the loader has to install. On a seed
//! without the record a mutator falls back to the extras bits, which
//! every seed has.

use kckpt_image::consts::*;
use kckpt_image::{Fd, Siginfo};

use super::{Rng, Work};

/// One of the extras mutators.
pub(super) fn mutate(w: &mut Work, r: &mut Rng) -> bool {
    match r.below(10) {
        0 | 1 => m_bits(w, r),
        2 | 3 => m_xstate(w, r),
        4 | 5 => m_sigpending(w, r),
        6 => m_itimers(w, r),
        _ => m_eventfd(w, r),
    }
}

/// The optional notes: (note name, type, extras bit), in file order.
const NOTES: [(&str, u32, u32); 3] = [
    ("LINUX", NT_X86_XSTATE, KCKPT_EXTRA_XSTATE),
    ("KCKPT", NT_KCKPT_SIGPENDING, KCKPT_EXTRA_SIGPENDING),
    ("KCKPT", NT_KCKPT_ITIMERS, KCKPT_EXTRA_ITIMERS),
];

/// `extras` bits against the notes: an unknown bit, a bit without its
/// note, a note without its bit, `reserved` set (all refused); a note
/// renamed to one nobody knows with its bit cleared (accepted: the
/// image no longer has the record).
pub(super) fn m_bits(w: &mut Work, r: &mut Rng) -> bool {
    let extras = w.s.img.extras();
    let present: Vec<(&str, u32, u32)> = NOTES.iter().copied().filter(|n| extras & n.2 != 0).collect();
    let absent: Vec<u32> = NOTES.iter().map(|n| n.2).filter(|b| extras & b == 0).collect();
    match r.below(5) {
        0 => {
            let bit = r.pick(&[8u32, 0x10, 0x100, 0x8000_0000]);
            w.set("kckpt.attrs.extras", extras | bit);
            w.say(format!("attrs extras {:#x} (unknown bit {bit:#x})", extras | bit));
        }
        1 if !absent.is_empty() => {
            let bit = r.pick(&absent);
            w.set("kckpt.attrs.extras", extras | bit);
            w.say(format!("attrs extras bit {bit:#x} without its note"));
        }
        2 | 3 if !present.is_empty() => {
            let (name, ntype, bit) = r.pick(&present);
            w.set("kckpt.attrs.extras", extras & !bit);
            if r.chance(50) {
                let off = w.note(name, ntype).map_or(0, |n| n.0);
                w.put(off + 12, b"XXXXX"); // both names are 5 bytes and a NUL
                w.say(format!("{name}/{ntype:#x} renamed XXXXX, extras bit {bit:#x} cleared (record dropped)"));
                return false;
            }
            w.say(format!("{name}/{ntype:#x} without its extras bit {bit:#x}"));
        }
        _ => {
            let v = r.pick(&[1u32, 0x8000_0000, u32::MAX]);
            w.set("kckpt.attrs.reserved", v);
            w.say(format!("attrs reserved = {v:#x}"));
        }
    }
    true
}

/// `NT_X86_XSTATE`: `xcomp_bv`, header reserved bytes, header features
/// outside XCR0 (or XCR0 zeroed under them), MXCSR (refused); features
/// dropped from the header, XCR0 widened, the rest of `sw_reserved`,
/// register and component bytes (accepted).
pub(super) fn m_xstate(w: &mut Work, r: &mut Rng) -> bool {
    let Some(x) = w.s.img.xstate.clone() else { return m_bits(w, r) };
    let Some((_, d, size)) = w.note("LINUX", NT_X86_XSTATE) else { return m_bits(w, r) };
    let (xcr0, xf) = (x.xcr0(), x.xfeatures());
    match r.below(10) {
        0 => {
            // after XCR0, sw_reserved is the producer's business
            let at = XSTATE_XCR0_OFF + 8 + 4 * r.below(10);
            let v = r.u32();
            w.put(d + at, &v.to_le_bytes());
            w.say(format!("xstate sw_reserved word {at} = {v:#x} (valid)"));
            false
        }
        1 => {
            w.put(d + XSTATE_XCR0_OFF, &0u64.to_le_bytes());
            w.say(format!("xstate xcr0 0 under xfeatures {xf:#x} (descsz {size})"));
            xf != 0
        }
        2 => {
            let v = r.pick(&[1u64, 1 << 63, (1 << 63) | xf, xf]).max(1);
            w.put(d + XSTATE_HDR_XCOMP_BV_OFF, &v.to_le_bytes());
            w.say(format!("xstate xcomp_bv {v:#x} (compacted)"));
            true
        }
        3 => {
            let at = XSTATE_HDR_RESERVED_OFF + r.below(XSTATE_MIN_SIZE - XSTATE_HDR_RESERVED_OFF);
            let b = r.pick(&[1u8, 0x80, 0xff]);
            w.put(d + at, &[b]);
            w.say(format!("xstate header byte {at} = {b:#x} (reserved)"));
            true
        }
        4 => {
            // a component the producer's XCR0 lacks, in the header or by narrowing XCR0
            let outside: Vec<u64> = (0..64).map(|b| 1u64 << b).filter(|b| xcr0 & b == 0).collect();
            if r.chance(50) && xf != 0 {
                let used: Vec<u64> = (0..64).map(|b| 1u64 << b).filter(|b| xf & b != 0).collect();
                let v = xcr0 & !r.pick(&used);
                w.put(d + XSTATE_XCR0_OFF, &v.to_le_bytes());
                w.say(format!("xstate xcr0 {v:#x} without a component in use ({xf:#x})"));
            } else {
                let v = xf | r.pick(&outside);
                w.put(d + XSTATE_HDR_XFEATURES_OFF, &v.to_le_bytes());
                w.say(format!("xstate xfeatures {v:#x} outside xcr0 {xcr0:#x}"));
            }
            true
        }
        5 => {
            let v = r.pick(&[0x1_1f80u32, 0x8000_1f80, u32::MAX]);
            w.set("xstate.mxcsr", v);
            w.say(format!("xstate mxcsr {v:#x} (reserved bit)"));
            true
        }
        6 => {
            let v = xf & r.pick(&[0u64, 1, 2, 3, !4]);
            w.put(d + XSTATE_HDR_XFEATURES_OFF, &v.to_le_bytes());
            w.say(format!("xstate xfeatures {v:#x} (components back to init: valid)"));
            false
        }
        7 => {
            let v = xcr0 | r.pick(&[1u64, 2, 4, 0xe0, 0x200]);
            w.put(d + XSTATE_XCR0_OFF, &v.to_le_bytes());
            w.say(format!("xstate xcr0 {v:#x} (valid)"));
            false
        }
        _ => {
            // x87/XMM registers (32..416 of the legacy area) or component data
            let ranges = [(32usize, 416usize), (XSTATE_MIN_SIZE, size)];
            let (lo, hi) = r.pick(&ranges);
            if hi <= lo {
                return false;
            }
            let k = lo + r.below(hi - lo);
            let v = r.u32();
            w.put(d + k, &v.to_le_bytes()[..(hi - k).min(4)]);
            w.say(format!("xstate byte {k} = {v:#x} (register data: valid)"));
            false
        }
    }
}

/// The queues as the loader reads them with `nr_thread` = `nt`.
fn standard_repeats(all: &[Siginfo], nt: usize) -> bool {
    let repeats = |q: &[Siginfo]| {
        let mut seen = 0u32;
        q.iter().map(|s| s.signo()).filter(|&s| s < SIGRTMIN).any(|s| {
            let dup = seen & (1 << s) != 0;
            seen |= 1 << s;
            dup
        })
    };
    repeats(&all[..nt]) || repeats(&all[nt..])
}

/// `NT_KCKPT_SIGPENDING`: `si_signo` 0, above 64, SIGKILL, SIGSTOP, a
/// standard signal twice in a queue, more than 1024 entries, counts that
/// disagree with the size (refused); another real-time signal, the
/// sender's `si_code`/pid/value, the boundary between the queues moved
/// (accepted unless it repeats a standard signal in a queue).
pub(super) fn m_sigpending(w: &mut Work, r: &mut Rng) -> bool {
    let Some(p) = w.s.img.sigpending.clone() else { return m_bits(w, r) };
    let all: Vec<Siginfo> = p.thread.iter().chain(&p.process).copied().collect();
    let nt = p.thread.len();
    let name = |k: usize| if k < nt { format!("sigpending.thread[{k}]") } else { format!("sigpending.process[{}]", k - nt) };
    if all.is_empty() || r.chance(15) {
        let (f, v) = r.pick(&[("nr_thread", 1025u32), ("nr_process", 1025), ("nr_thread", u32::MAX), ("nr_process", 1 << 31)]);
        let v = if r.chance(50) { v } else { [nt as u32, p.process.len() as u32][(f == "nr_process") as usize] + 1 };
        w.set(&format!("sigpending.{f}"), v);
        w.say(format!("sigpending {f} {v} (count and size disagree)"));
        return true;
    }
    let k = r.below(all.len());
    let signo = |w: &mut Work, k: usize, v: u32| w.set(&format!("{}.si_signo", name(k)), v);
    match r.below(7) {
        0 => {
            let v = r.pick(&[0u32, 65, 128, u32::MAX]);
            signo(w, k, v);
            w.say(format!("{} si_signo {v}", name(k)));
            true
        }
        1 => {
            let v = r.pick(&[SIGKILL, SIGSTOP]);
            signo(w, k, v);
            w.say(format!("{} si_signo {v} (SIGKILL/SIGSTOP)", name(k)));
            true
        }
        2 if all.len() >= 2 => {
            // two entries of one queue become the same standard signal
            let q: Vec<usize> = if k < nt { (0..nt).collect() } else { (nt..all.len()).collect() };
            if q.len() < 2 {
                return m_bits(w, r);
            }
            let v = r.pick(&[1u32, 10, 17, 31]);
            signo(w, q[0], v);
            signo(w, q[q.len() - 1], v);
            w.say(format!("standard signal {v} twice in {}", if k < nt { "the thread queue" } else { "the process queue" }));
            true
        }
        3 => {
            let v = 32 + r.below(33) as u32;
            signo(w, k, v);
            w.say(format!("{} si_signo {v} (real-time: valid)", name(k)));
            false
        }
        4 => {
            // nr_thread moves by one: the same entries, queued elsewhere
            let nt2 = if nt == 0 || (nt < all.len() && r.chance(50)) { nt + 1 } else { nt - 1 };
            w.set("sigpending.nr_thread", nt2 as u32);
            w.set("sigpending.nr_process", (all.len() - nt2) as u32);
            w.say(format!("sigpending nr_thread {nt2} of {} (queues' boundary moved)", all.len()));
            standard_repeats(&all, nt2)
        }
        _ => {
            let any = r.u32();
            let (f, v) = (r.pick(&["si_code", "si_errno", "si_pid", "si_uid", "si_value"]), r.pick(&[0u32, 1, 0x80, u32::MAX, 0xffff_fffa, any]));
            w.set(&format!("{}.{f}", name(k)), v);
            w.say(format!("{}.{f} {v:#x} (sender's: valid)", name(k)));
            false
        }
    }
}

/// `NT_KCKPT_ITIMERS`: a `usec` of a second or more, a `sec` above
/// `INT_MAX` (refused); the edges, a disarmed or re-armed timer (accepted).
pub(super) fn m_itimers(w: &mut Work, r: &mut Rng) -> bool {
    if w.s.img.itimers.is_none() {
        return m_bits(w, r);
    }
    let t = r.below(3);
    let f = r.pick(&["interval_sec", "interval_usec", "value_sec", "value_usec"]);
    let usec = f.ends_with("usec");
    let bad = r.chance(60);
    let v = match (usec, bad) {
        (true, true) => r.pick(&[USEC_PER_SEC, USEC_PER_SEC + 1, u32::MAX]),
        (false, true) => r.pick(&[ITIMER_SEC_MAX + 1, u32::MAX]),
        (true, false) => r.pick(&[0, 1, USEC_PER_SEC - 1]),
        (false, false) => r.pick(&[0, 1, 3600, ITIMER_SEC_MAX]),
    };
    w.set(&format!("itimer[{t}].{f}"), v);
    w.say(format!("itimer[{t}].{f} {v}{}", if bad { "" } else { " (valid)" }));
    bad
}

/// Records `k` shares its eventfd with (same id, kind EVENTFD), itself included.
fn siblings(fds: &[Fd], k: usize) -> Vec<usize> {
    (0..fds.len()).filter(|&j| fds[j].kind == FD_EVENTFD && fds[j].id == fds[k].id).collect()
}

/// Eventfd records: mode not 0/1, access not `O_RDWR`, other flags, data,
/// a path, a counter above `INT64_MAX`, id 0, a counter or mode differing
/// from the id's other records (refused); `O_NONBLOCK`/`O_CLOEXEC`
/// toggled, a new counter or semaphore flag on all of an id's records, an
/// id renumbered (accepted).
pub(super) fn m_eventfd(w: &mut Work, r: &mut Rng) -> bool {
    let fds = w.s.img.state.fds.clone();
    let efds: Vec<usize> = (0..fds.len()).filter(|&k| fds[k].kind == FD_EVENTFD).collect();
    if efds.is_empty() {
        return m_bits(w, r);
    }
    let k = r.pick(&efds);
    let f = &fds[k];
    let name = |k: usize, n: &str| format!("kckpt.fd[{k}].{n}");
    let sib = siblings(&fds, k);
    match r.below(12) {
        0 => {
            let v = r.pick(&[2u32, 3, S_IFREG | 1, 0x8000_0000]);
            w.set(&name(k, "mode"), v);
            w.say(format!("eventfd fd[{k}] mode {v:#o}"));
        }
        1 => {
            let v = f.flags & !O_ACCMODE | r.pick(&[O_RDONLY, O_WRONLY, 3]);
            w.set(&name(k, "flags"), v);
            w.say(format!("eventfd fd[{k}] flags {v:#o} (not O_RDWR)"));
        }
        2 => {
            let v = f.flags | r.pick(&[0o2000u32, 0o100, 0o40000, 0o200000, 1 << 31]);
            w.set(&name(k, "flags"), v);
            w.say(format!("eventfd fd[{k}] flags {v:#o} (other than NONBLOCK/CLOEXEC)"));
        }
        3 => {
            let v = r.pick(&[4u32, 8, u32::MAX]);
            w.set(&name(k, "data_len"), v);
            w.say(format!("eventfd fd[{k}] data_len {v}"));
        }
        4 => {
            let v = r.pick(&[0u32, 2, 5, 4096]);
            w.set(&name(k, "path_len"), v);
            w.say(format!("eventfd fd[{k}] path_len {v}"));
        }
        5 => {
            let v = r.pick(&[i64::MAX as u64 + 1, EVENTFD_MAX, u64::MAX]);
            for &j in &sib {
                w.set64(&name(j, "pos"), v);
            }
            w.say(format!("eventfd {} counter {v:#x} (above INT64_MAX)", f.id));
        }
        6 => {
            w.set(&name(k, "id"), 0);
            w.say(format!("eventfd fd[{k}] id 0"));
        }
        7 if sib.len() >= 2 => {
            let j = sib[1];
            if r.chance(50) {
                w.set64(&name(j, "pos"), fds[j].pos ^ 1);
                w.say(format!("eventfd fd[{j}] counter differs from fd[{}]'s (same id)", sib[0]));
            } else {
                w.set(&name(j, "mode"), fds[j].mode ^ EFD_SEMAPHORE);
                w.say(format!("eventfd fd[{j}] semaphore differs from fd[{}]'s (same id)", sib[0]));
            }
        }
        8 => {
            let v = f.flags ^ r.pick(&[O_NONBLOCK, O_CLOEXEC, O_NONBLOCK | O_CLOEXEC]);
            w.set(&name(k, "flags"), v);
            w.say(format!("eventfd fd[{k}] flags {v:#o} (valid)"));
            return false;
        }
        9 => {
            let v = r.pick(&[0u64, 1, 0xffff_ffff, i64::MAX as u64]);
            for &j in &sib {
                w.set64(&name(j, "pos"), v);
            }
            w.say(format!("eventfd {} counter {v:#x} on all its fds (valid)", f.id));
            return false;
        }
        10 => {
            for &j in &sib {
                w.set(&name(j, "mode"), fds[j].mode ^ EFD_SEMAPHORE);
            }
            w.say(format!("eventfd {} semaphore toggled on all its fds (valid)", f.id));
            return false;
        }
        _ => {
            let used: Vec<u32> = efds.iter().map(|&j| fds[j].id).collect();
            let v = (1..).map(|b| b * 0x1000).find(|v| !used.contains(v)).unwrap_or(u32::MAX);
            for &j in &sib {
                w.set(&name(j, "id"), v);
            }
            w.say(format!("eventfd {} renumbered {v} (valid)", f.id));
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use kckpt_image::{Builder, Image, Itimerval, Xstate};

    use super::super::{Mutant, Seed};
    use super::*;

    /// A builder-made seed with all three notes and two eventfds (id 1
    /// dup'ed), beside a pipe.
    fn seed() -> Seed {
        let mut legacy = vec![0u8; 512];
        legacy[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        let t = Itimerval { interval_sec: 1, interval_usec: 0, value_sec: 0, value_usec: 500_000 };
        let b = Builder::new()
            .segment(0x0804_8000, 1, PF_R | PF_X, VMA_FILE, vec![0x90; 16])
            .pipe_end(3, 1, false, 4096, b"x")
            .pipe_end(4, 1, true, 4096, b"")
            .eventfd(5, 1, 7, true, 0)
            .eventfd(6, 1, 7, true, O_CLOEXEC)
            .eventfd(7, 2, 0, false, O_NONBLOCK)
            .xstate(Xstate::new(&legacy, 7, 7, 832))
            .sigpending(
                vec![Siginfo::new(10, -6, 9, 0, 0), Siginfo::new(34, -1, 9, 0, 5)],
                vec![Siginfo::new(15, 0, 1, 0, 0), Siginfo::new(10, 0, 1, 0, 0), Siginfo::new(40, -1, 2, 0, 1)],
            )
            .itimers([t, Itimerval::default(), t])
            .bytes();
        Seed::new("extras", b, 0).unwrap()
    }

    /// Run `m` with many rng seeds: what it calls invalid is refused and
    /// what it calls valid is accepted; both happen (`all_refused`: only
    /// refusals are expected).
    fn check_with(s: &Seed, m: fn(&mut Work, &mut Rng) -> bool, n: u64, all_refused: bool) -> Vec<String> {
        let (mut said, mut refused) = (Vec::new(), 0);
        for k in 0..n {
            let mut r = Rng::new(k);
            let mut w = Work { s, m: Mutant { seed: 0, len: s.bytes.len() as u32, patches: vec![], mode: 0, what: vec![] } };
            let must_fail = m(&mut w, &mut r);
            let got = Image::parse(&w.m.apply(&s.bytes));
            assert_eq!(got.is_err(), must_fail, "{:?}: {got:?}", w.m.what);
            refused += must_fail as usize;
            said.extend(w.m.what);
        }
        let expected = if all_refused { refused == n as usize } else { refused > n as usize / 3 && refused < n as usize };
        assert!(expected, "{refused} of {n} mutants refused");
        said
    }

    fn check(s: &Seed, m: fn(&mut Work, &mut Rng) -> bool, n: u64) -> Vec<String> {
        check_with(s, m, n, false)
    }

    fn saw(said: &[String], what: &str) {
        assert!(said.iter().any(|s| s.contains(what)), "no mutant says {what:?}");
    }

    #[test]
    fn bits_mutants() {
        let said = check(&seed(), m_bits, 400);
        for what in ["(unknown bit 0x8)", "without its extras bit 0x1", "without its extras bit 0x4", "(record dropped)", "attrs reserved"] {
            saw(&said, what);
        }
        // on an image without the notes, a bit alone is refused
        let plain = Seed::new("plain", Builder::new().bytes(), 0).unwrap();
        let said = check_with(&plain, m_bits, 200, true);
        for what in ["bit 0x1 without its note", "bit 0x2 without its note", "bit 0x4 without its note"] {
            saw(&said, what);
        }
    }

    #[test]
    fn xstate_mutants() {
        let said = check(&seed(), m_xstate, 600);
        for what in ["sw_reserved word", "xcr0 0 under", "(compacted)", "(reserved)", "outside xcr0", "without a component in use", "mxcsr", "back to init", "xcr0 0x", "(register data: valid)"] {
            saw(&said, what);
        }
    }

    #[test]
    fn sigpending_mutants() {
        let said = check(&seed(), m_sigpending, 800);
        for what in ["si_signo 0", "si_signo 65", "(SIGKILL/SIGSTOP)", "twice in the thread queue", "twice in the process queue", "count and size disagree", "(real-time: valid)", "boundary moved", "si_code", "(sender's: valid)"] {
            saw(&said, what);
        }
        // moving process[0] (SIGTERM) into the thread queue is fine; moving
        // SIGUSR1 into a queue that has it is not
        let all: Vec<Siginfo> = [10, 34, 15, 10, 40].iter().map(|&s| Siginfo::new(s, 0, 0, 0, 0)).collect();
        assert!(!standard_repeats(&all, 2) && !standard_repeats(&all, 3));
        assert!(standard_repeats(&all, 4) && standard_repeats(&all, 0) && !standard_repeats(&all, 1));
    }

    #[test]
    fn itimer_mutants() {
        let said = check(&seed(), m_itimers, 300);
        for what in ["itimer[0].interval_usec 1000000", "itimer[2].value_sec 2147483648", "itimer[1].value_sec 2147483647 (valid)", "usec 999999 (valid)"] {
            saw(&said, what);
        }
    }

    #[test]
    fn eventfd_mutants() {
        let said = check(&seed(), m_eventfd, 800);
        for what in ["mode 0o2", "(not O_RDWR)", "(other than NONBLOCK/CLOEXEC)", "data_len", "path_len 0", "path_len 2", "(above INT64_MAX)", "id 0", "counter differs", "semaphore differs", "flags 0o2 (valid)", "on all its fds (valid)", "toggled on all its fds (valid)", "renumbered"] {
            saw(&said, what);
        }
    }

    #[test]
    fn extras_mutants_reach_generate() {
        let s = [seed()];
        let a = super::super::generate(&s, 3000, 7);
        let n = a.iter().filter(|m| m.what.iter().any(|w| w.contains("xstate") || w.contains("sigpending") || w.contains("itimer") || w.contains("eventfd") || w.contains("extras"))).count();
        assert!(n > 60, "{n} of 3000 mutants touch the extras");
    }
}
