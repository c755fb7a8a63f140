//! `cr --compare A B`: decode two images with the kckpt-image crate (which
//! validates them as the loader does) and check that they describe the
//! same process state. Used as the oracle between kernel-mode and
//! userspace checkpoints of the same stopped process.
//!
//! Compared exactly: registers, FPU and SSE state, TLS, auxv, NT_FILE,
//! every kckpt field (mm fields, brk, vdso_base, umask, blocked mask, the 64
//! sigactions, the 16 rlimits, the attributes (comm, personality,
//! no_new_privs, dumpable, sigaltstack), VMAs, fds with their kinds, ids
//! and data, cwd), the segments (address, size, flags) and
//! their contents byte for byte; the XSAVE area byte for byte, the pending
//! signals entry by entry, whether each interval timer is armed and its
//! interval.
//!
//! Allowed to differ, and why:
//! - `kckpt_vma.pgoff` of anonymous VMAs: the kernel's vm_pgoff of
//!   anonymous memory is not visible in /proc (maps shows 0); userspace
//!   writes start >> 12. Restart does not use it for anonymous memory.
//! - `O_CLOEXEC` in `kckpt_fd.flags`: the kernel records f_flags, /proc's
//!   fdinfo reports the descriptor's close-on-exec state instead.
//! - NT_PRSTATUS outside pr_reg and NT_PRPSINFO (informational core notes,
//!   not used by restart): reported, not counted.
//! - The time left on an interval timer: ITIMER_REAL runs while the
//!   process is stopped, ITIMER_PROF counts the injected checkpoint call.
//!   Reported, not counted; an armed timer must be armed in both.

use kckpt_image::consts::VMA_FILE;
use kckpt_image::extras::ITIMER_NAMES;
use kckpt_image::{Attrs, Image, Itimerval, SigPending, Xstate, MM_NAMES, REG_NAMES, RLIMIT_NAMES};

use crate::error::{CrError, Result};

const O_CLOEXEC: u32 = libc::O_CLOEXEC as u32;

fn load(path: &str) -> Result<(Image, Vec<u8>)> {
    let bytes = std::fs::read(path).map_err(|e| CrError::Os(format!("read {path}"), e))?;
    let img = Image::parse(&bytes).map_err(|e| CrError::BadImage(format!("{path}: {e}")))?;
    Ok((img, bytes))
}

/// One line per `kckpt_attrs` field that differs between `a` and `b`.
fn attrs_differences(a: &Attrs, b: &Attrs) -> Vec<String> {
    let mut v = Vec::new();
    if a.comm != b.comm {
        v.push(format!("comm {:?} != {:?}", a.name(), b.name()));
    }
    let words = [
        ("personality", a.personality, b.personality),
        ("dumpable", a.dumpable, b.dumpable),
        ("ss_sp", a.ss_sp, b.ss_sp),
        ("ss_size", a.ss_size, b.ss_size),
        ("ss_flags", a.ss_flags, b.ss_flags),
    ];
    for (name, x, y) in words {
        if x != y {
            v.push(format!("{name} {x:#x} != {y:#x}"));
        }
    }
    if a.no_new_privs != b.no_new_privs {
        v.push(format!("no_new_privs {} != {}", a.no_new_privs, b.no_new_privs));
    }
    v
}

/// Where two XSAVE areas of the same size first differ: the legacy area,
/// the header, or the components after it.
fn xstate_difference(a: Option<&Xstate>, b: Option<&Xstate>) -> Option<String> {
    match (a, b) {
        (None, None) => None,
        (Some(_), None) | (None, Some(_)) => Some(format!("NT_X86_XSTATE present {} != {}", a.is_some(), b.is_some())),
        (Some(x), Some(y)) if x.0.len() != y.0.len() => Some(format!("NT_X86_XSTATE {} bytes != {} bytes", x.0.len(), y.0.len())),
        (Some(x), Some(y)) => {
            let at = x.0.iter().zip(&y.0).position(|(p, q)| p != q)?;
            let part = match at {
                0..512 => "legacy area",
                512..576 => "XSAVE header",
                _ => "extended components",
            };
            Some(format!(
                "NT_X86_XSTATE differs from byte {at} ({part}); xfeatures {:#x} != {:#x}",
                x.xfeatures(),
                y.xfeatures()
            ))
        }
    }
}

/// The pending signals that differ, one line per queue.
fn sigpending_differences(a: Option<&SigPending>, b: Option<&SigPending>) -> Vec<String> {
    let empty = SigPending::default();
    let (a, b) = (a.unwrap_or(&empty), b.unwrap_or(&empty));
    let mut v = Vec::new();
    for (name, x, y) in [("thread", &a.thread, &b.thread), ("process", &a.process, &b.process)] {
        let signos = |q: &[kckpt_image::Siginfo]| q.iter().map(|s| s.signo()).collect::<Vec<_>>();
        if x.len() != y.len() {
            v.push(format!("pending signals ({name}) {:?} != {:?}", signos(x), signos(y)));
        } else if let Some(k) = x.iter().zip(y).position(|(p, q)| p != q) {
            v.push(format!("pending signal {k} ({name}, signal {}): siginfo differs", x[k].signo()));
        }
    }
    v
}

/// The interval timers: (differences, informational notes).
fn itimer_differences(a: Option<&[Itimerval; 3]>, b: Option<&[Itimerval; 3]>) -> (Vec<String>, Vec<String>) {
    let off = [Itimerval::default(); 3];
    let (a, b) = (a.unwrap_or(&off), b.unwrap_or(&off));
    let (mut diffs, mut notes) = (Vec::new(), Vec::new());
    for (k, (x, y)) in a.iter().zip(b).enumerate() {
        let armed = |t: &Itimerval| t.value_sec != 0 || t.value_usec != 0;
        let name = ITIMER_NAMES[k];
        if (x.interval_sec, x.interval_usec) != (y.interval_sec, y.interval_usec) || armed(x) != armed(y) {
            diffs.push(format!("{name} {x:?} != {y:?}"));
        } else if (x.value_sec, x.value_usec) != (y.value_sec, y.value_usec) {
            notes.push(format!(
                "{name} time left {}.{:06} s != {}.{:06} s (informational)",
                x.value_sec, x.value_usec, y.value_sec, y.value_usec
            ));
        }
    }
    (diffs, notes)
}

/// Returns the number of differences (0 = same state).
pub fn run(a_path: &str, b_path: &str) -> Result<i32> {
    let (a, fa) = load(a_path)?;
    let (b, fb) = load(b_path)?;
    let mut diffs = 0;
    let mut differ = |what: String| {
        println!("differ: {what}");
        diffs += 1;
    };
    let (ra, rb) = (a.prstatus.regs.to_array(), b.prstatus.regs.to_array());
    for k in 0..17 {
        if ra[k] != rb[k] {
            differ(format!("register {} {:#x} != {:#x}", REG_NAMES[k], ra[k], rb[k]));
        }
    }
    if a.fpregs != b.fpregs {
        differ("NT_PRFPREG".into());
    }
    if a.fxsave != b.fxsave {
        differ("NT_PRXFPREG".into());
    }
    if let Some(d) = xstate_difference(a.xstate.as_ref(), b.xstate.as_ref()) {
        differ(d);
    }
    for d in sigpending_differences(a.sigpending.as_ref(), b.sigpending.as_ref()) {
        differ(d);
    }
    let (timer_diffs, timer_notes) = itimer_differences(a.itimers.as_ref(), b.itimers.as_ref());
    for d in timer_diffs {
        differ(d);
    }
    if a.tls != b.tls {
        differ(format!("TLS {:?} != {:?}", a.tls, b.tls));
    }
    if a.auxv != b.auxv {
        differ(format!("auxv {:x?} != {:x?}", a.auxv, b.auxv));
    }
    if a.files != b.files {
        differ(format!("NT_FILE {:?} != {:?}", a.files, b.files));
    }
    let (sa, sb) = (&a.state, &b.state);
    let (ma, mb) = (sa.mm.to_array(), sb.mm.to_array());
    for k in 0..ma.len() {
        if ma[k] != mb[k] {
            differ(format!("{} {:#x} != {:#x}", MM_NAMES[k], ma[k], mb[k]));
        }
    }
    if sa.vdso_base != sb.vdso_base {
        differ(format!("vdso_base {:#x} != {:#x}", sa.vdso_base, sb.vdso_base));
    }
    if sa.umask != sb.umask {
        differ(format!("umask {:o} != {:o}", sa.umask, sb.umask));
    }
    if sa.sigblocked != sb.sigblocked {
        differ(format!("sigblocked {:#x} != {:#x}", sa.sigblocked, sb.sigblocked));
    }
    for (k, (x, y)) in sa.sigactions.iter().zip(&sb.sigactions).enumerate() {
        if x != y {
            differ(format!("sigaction {}: {x:x?} != {y:x?}", k + 1));
        }
    }
    if sa.vmas.len() != sb.vmas.len() {
        differ(format!("{} VMAs != {} VMAs", sa.vmas.len(), sb.vmas.len()));
    }
    for (x, y) in sa.vmas.iter().zip(&sb.vmas) {
        let pgoff_matters = x.flags & VMA_FILE != 0;
        if (x.start, x.end, x.flags) != (y.start, y.end, y.flags) || (pgoff_matters && x.pgoff != y.pgoff) {
            differ(format!("VMA {x:x?} != {y:x?}"));
        }
    }
    if sa.fds.len() != sb.fds.len() {
        differ(format!("{} fds != {} fds", sa.fds.len(), sb.fds.len()));
    }
    for (x, y) in sa.fds.iter().zip(&sb.fds) {
        let key = |f: &kckpt_image::Fd| (f.fd, f.flags & !O_CLOEXEC, f.pos, f.mode, f.kind, f.id, f.path.clone());
        if key(x) != key(y) {
            differ(format!("fd {} {:?} != {:?}", x.fd, key(x), key(y)));
        } else if x.data != y.data {
            differ(format!("fd {}: {} bytes of data != {} bytes", x.fd, x.data.len(), y.data.len()));
        }
    }
    for (k, (x, y)) in sa.rlimits.iter().zip(&sb.rlimits).enumerate() {
        if x != y {
            differ(format!("{} {x:?} != {y:?}", RLIMIT_NAMES[k]));
        }
    }
    for d in attrs_differences(&sa.attrs, &sb.attrs) {
        differ(d);
    }
    if sa.cwd != sb.cwd {
        differ(format!("cwd {:?} != {:?}", String::from_utf8_lossy(&sa.cwd), String::from_utf8_lossy(&sb.cwd)));
    }
    if a.segments.len() != b.segments.len() {
        differ(format!("{} segments != {} segments", a.segments.len(), b.segments.len()));
    }
    let mut bytes = 0usize;
    for (i, (x, y)) in a.segments.iter().zip(&b.segments).enumerate() {
        if (x.vaddr, x.memsz, x.flags) != (y.vaddr, y.memsz, y.flags) {
            differ(format!("segment {i}: {x:x?} != {y:x?}"));
            continue;
        }
        let (da, db) = (a.segment_data(&fa, i).unwrap_or(&[]), b.segment_data(&fb, i).unwrap_or(&[]));
        bytes += da.len();
        if let Some(p) = da.chunks(4096).zip(db.chunks(4096)).position(|(p, q)| p != q) {
            differ(format!("segment {i} at {:#x}: contents differ from page {:#x}", x.vaddr, x.vaddr as usize + p * 4096));
        }
    }
    // Informational notes.
    let skip_regs = |r: &[u8]| [&r[..72], &r[140..]].concat();
    if skip_regs(&a.prstatus.raw) != skip_regs(&b.prstatus.raw) {
        println!("note: NT_PRSTATUS outside pr_reg differs (informational)");
    }
    if a.prpsinfo.raw != b.prpsinfo.raw {
        println!("note: NT_PRPSINFO differs (informational)");
    }
    for n in timer_notes {
        println!("note: {n}");
    }
    println!(
        "compared {} registers, {} VMAs, {} segments ({} bytes), {} fds, 64 sigactions, 16 rlimits, attrs, extras {:#x}, cwd {:?}: {}",
        17,
        sa.vmas.len(),
        a.segments.len(),
        bytes,
        sa.fds.len(),
        a.extras(),
        String::from_utf8_lossy(&sa.cwd),
        if diffs == 0 { "same state".to_string() } else { format!("{diffs} differences") }
    );
    Ok(if diffs == 0 { 0 } else { 1 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use kckpt_image::Siginfo;

    #[test]
    fn xstate_differences_say_where() {
        let x = Xstate::new(&[0; 512], 7, 3, 832);
        assert_eq!(xstate_difference(Some(&x), Some(&x)), None);
        assert_eq!(xstate_difference(None, None), None);
        assert!(xstate_difference(Some(&x), None).unwrap().contains("present true != false"));
        let mut y = x.clone();
        y.0[600] = 1;
        assert!(xstate_difference(Some(&x), Some(&y)).unwrap().contains("byte 600 (extended components)"));
        let z = Xstate::new(&[0; 512], 7, 7, 832);
        assert!(xstate_difference(Some(&x), Some(&z)).unwrap().contains("XSAVE header"));
        assert!(xstate_difference(Some(&x), Some(&Xstate::new(&[0; 512], 7, 3, 1088))).unwrap().contains("832 bytes != 1088"));
    }

    #[test]
    fn pending_signals_are_compared_entry_by_entry() {
        let p = SigPending { thread: vec![Siginfo::new(10, -6, 1, 0, 0)], process: vec![Siginfo::new(34, -1, 1, 0, 5)] };
        assert!(sigpending_differences(Some(&p), Some(&p)).is_empty());
        assert!(sigpending_differences(None, None).is_empty());
        assert_eq!(sigpending_differences(Some(&p), None), ["pending signals (thread) [10] != []", "pending signals (process) [34] != []"]);
        let mut q = p.clone();
        q.process[0] = Siginfo::new(34, -1, 1, 0, 6);
        assert_eq!(sigpending_differences(Some(&p), Some(&q)), ["pending signal 0 (process, signal 34): siginfo differs"]);
    }

    #[test]
    fn timers_must_agree_on_interval_and_being_armed_only() {
        let t = |value_sec, value_usec| {
            let mut v = [Itimerval::default(); 3];
            v[0] = Itimerval { interval_sec: 1, interval_usec: 0, value_sec, value_usec };
            v
        };
        let (d, n) = itimer_differences(Some(&t(5, 0)), Some(&t(4, 999_000)));
        assert!(d.is_empty());
        assert_eq!(n, ["ITIMER_REAL time left 5.000000 s != 4.999000 s (informational)"]);
        let (d, _) = itimer_differences(Some(&t(5, 0)), None);
        assert_eq!(d.len(), 1, "armed in one image only");
        let (d, n) = itimer_differences(None, None);
        assert!(d.is_empty() && n.is_empty());
    }

    #[test]
    fn every_attrs_field_is_compared() {
        let a = Attrs::default();
        assert!(attrs_differences(&a, &a).is_empty());
        let changes: [(fn(&mut Attrs), &str); 7] = [
            (|b| b.comm = Attrs::comm_from(b"other"), "comm \"kckpt\" != \"other\""),
            (|b| b.personality = 0x40000, "personality 0x0 != 0x40000"),
            (|b| b.no_new_privs = true, "no_new_privs false != true"),
            (|b| b.dumpable = 0, "dumpable 0x1 != 0x0"),
            (|b| b.ss_sp = 0x1000, "ss_sp 0x0 != 0x1000"),
            (|b| b.ss_size = 0x2000, "ss_size 0x0 != 0x2000"),
            (|b| b.ss_flags = 0, "ss_flags 0x2 != 0x0"),
        ];
        for (change, want) in changes {
            let mut b = a;
            change(&mut b);
            assert_eq!(attrs_differences(&a, &b), [want.to_string()]);
        }
    }
}
