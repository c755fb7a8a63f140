//! `cr -r --userspace -f FILE`: rebuild the process without binfmt_cr.
//!
//! cr validates the image with the kckpt-image crate, forks, and the child
//! becomes the restored process. What can be done from Rust without
//! disturbing cr itself is done first: all signals blocked, sigactions,
//! umask, descriptors of every kind (ufds.rs), hard limits the image
//! raises, cwd, and the task attributes but the alternate signal stack
//! (name, personality, no_new_privs, dumpable only lowered). The rest runs in a restorer: straight-line
//! i386 code generated here into a fresh mapping placed outside every
//! image segment and outside cr's own mappings, with its own stack and
//! data. Its absolute addresses are known when it is generated, so it
//! needs no position independence. It unmaps all of cr, moves the vDSO
//! and vvar to the image's vdso_base if they are elsewhere, maps each
//! segment anonymous (the stack MAP_GROWSDOWN, shared memory MAP_SHARED)
//! and reads the image's data ranges into it, holes left unallocated
//! (a shared file mapping maps its file again, MAP_SHARED, from a
//! descriptor opened before the restorer: umapped.rs),
//! installs the image's rlimits, sets the mm fields and auxv (PR_SET_MM, needs
//! CAP_SYS_RESOURCE), TLS (set_thread_area), the blocked mask, the
//! alternate signal stack (always: cr's own is gone with cr), queues the
//! pending signals (usignals.rs) and arms the interval timers
//! (uitimers.rs), all signals still blocked, and ends with rt_sigreturn
//! from a frame (usigframe.rs) that holds the image's registers, blocked
//! mask and FPU state, the XSAVE area included (uxstate.rs): the kernel
//! loads them at once and delivers what the mask leaves unblocked into the
//! restored context. A failure before that point is reported by cr with
//! its exit code; a failed call inside the restorer exits with status 127.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::io::AsRawFd;

use kckpt_image::consts::*;
use kckpt_image::{Attrs, Image, Limits, Rlimit, RLIMIT_NAMES, USER_CS, USER_DS};

use crate::error::{CrError, Result};
use crate::sys::{self, Started};

// The i386 numbers the restorer is generated with, from libc.
const NR_EXIT_GROUP: u32 = libc::SYS_exit_group as u32;
const NR_CLOSE: u32 = libc::SYS_close as u32;
const NR_MUNMAP: u32 = libc::SYS_munmap as u32;
const NR_MPROTECT: u32 = libc::SYS_mprotect as u32;
const NR_MREMAP: u32 = libc::SYS_mremap as u32;
const NR_PRCTL: u32 = libc::SYS_prctl as u32;
const NR_RT_SIGRETURN: u32 = libc::SYS_rt_sigreturn as u32;
const NR_PREAD64: u32 = libc::SYS_pread64 as u32;
const NR_MMAP2: u32 = libc::SYS_mmap2 as u32;
const NR_SET_THREAD_AREA: u32 = libc::SYS_set_thread_area as u32;
const NR_PRLIMIT64: u32 = libc::SYS_prlimit64 as u32;
const NR_SIGALTSTACK: u32 = libc::SYS_sigaltstack as u32;
const PR_SET_MM: u32 = libc::PR_SET_MM as u32;
const PR_SET_MM_AUXV: u32 = libc::PR_SET_MM_AUXV as u32;
const MREMAP_MAYMOVE: u32 = libc::MREMAP_MAYMOVE as u32;
const MREMAP_FIXED: u32 = libc::MREMAP_FIXED as u32;
const PAGE: u32 = 4096;

/// A little i386 assembler for the restorer: absolute addressing only.
struct Asm {
    base: u32,
    code: Vec<u8>,
    fail: u32,
}

impl Asm {
    fn d(&mut self, b: &[u8]) {
        self.code.extend_from_slice(b);
    }
    fn imm(&mut self, v: u32) {
        self.code.extend_from_slice(&v.to_le_bytes());
    }
    fn here(&self) -> u32 {
        self.base + self.code.len() as u32
    }
    /// mov r32, imm32 (r: eax 0, ecx 1, edx 2, ebx 3, esp 4, ebp 5, esi 6, edi 7)
    fn mov_ri(&mut self, r: u8, v: u32) {
        self.d(&[0xb8 + r]);
        self.imm(v);
    }
    /// mov r32, cs:[abs]
    fn mov_rm(&mut self, r: u8, abs: u32) {
        self.d(&[0x2e, 0x8b, 0x05 | (r << 3)]);
        self.imm(abs);
    }
    /// A system call with immediate arguments; `check`: exit 127 on error.
    fn sys(&mut self, nr: u32, args: &[u32], check: bool) {
        self.mov_ri(0, nr);
        for (r, &a) in [3u8, 1, 2, 6, 7, 5].iter().zip(args) {
            self.mov_ri(*r, a);
        }
        self.d(&[0xcd, 0x80]);
        if check {
            // cmp eax, -4095; jae fail
            self.d(&[0x3d]);
            self.imm(-4095i32 as u32);
            let rel = self.fail.wrapping_sub(self.here() + 6);
            self.d(&[0x0f, 0x83]);
            self.imm(rel);
        }
    }
}

/// Words per table entry: the call number, six arguments, one pad word.
const TABLE_WORDS: usize = 8;

/// One checked system call in the restorer's table (see `Asm::run_table`).
fn table_entry(t: &mut Vec<u32>, nr: u32, args: &[u32]) {
    let mut e = [0u32; TABLE_WORDS];
    e[0] = nr;
    e[1..=args.len()].copy_from_slice(args);
    t.extend_from_slice(&e);
}

impl Asm {
    /// Run the table of system calls whose address is in the word at
    /// `cursor`, one entry after the other until one with number 0; a
    /// failed call jumps to `fail`. DS is still the flat user segment here.
    fn run_table(&mut self, cursor: u32) {
        let top = self.here();
        self.mov_rm(0, cursor); // mov eax, cs:[cursor]
        self.d(&[0x83, 0x38, 0x00]); // cmp dword [eax], 0
        self.d(&[0x0f, 0x84]); // je done (patched below)
        let je = self.code.len();
        self.imm(0);
        // ebx ecx edx esi edi ebp from [eax+4..28], then eax = [eax]
        for (modrm, disp) in [(0x58u8, 4u8), (0x48, 8), (0x50, 12), (0x70, 16), (0x78, 20), (0x68, 24)] {
            self.d(&[0x8b, modrm, disp]);
        }
        self.d(&[0x8b, 0x00, 0xcd, 0x80]); // mov eax, [eax]; int 0x80
        self.d(&[0x3d]); // cmp eax, -4095; jae fail
        self.imm(-4095i32 as u32);
        let rel = self.fail.wrapping_sub(self.here() + 6);
        self.d(&[0x0f, 0x83]);
        self.imm(rel);
        self.d(&[0x2e, 0x83, 0x05]); // add dword cs:[cursor], 32
        self.imm(cursor);
        self.d(&[(TABLE_WORDS * 4) as u8]);
        let rel = top.wrapping_sub(self.here() + 5);
        self.d(&[0xe9]); // jmp top
        self.imm(rel);
        let done = self.code.len();
        let rel = (done - (je + 4)) as u32;
        self.code[je..je + 4].copy_from_slice(&rel.to_le_bytes());
    }
}

/// Data the restorer reads, laid out in its mapping after the code.
struct Data {
    base: u32,
    bytes: Vec<u8>,
}

impl Data {
    /// Append `b` aligned to `align`; returns its absolute address.
    fn put(&mut self, b: &[u8], align: usize) -> u32 {
        while self.bytes.len() % align != 0 {
            self.bytes.push(0);
        }
        let a = self.base + self.bytes.len() as u32;
        self.bytes.extend_from_slice(b);
        a
    }
    fn word(&mut self, v: u32) -> u32 {
        self.put(&v.to_le_bytes(), 4)
    }
}

struct Map {
    start: u32,
    end: u32,
    name: String,
}

fn self_maps() -> Result<Vec<Map>> {
    let s = std::fs::read_to_string("/proc/self/maps").map_err(|e| CrError::Os("/proc/self/maps".into(), e))?;
    Ok(s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (a, b) = it.next()?.split_once('-')?;
            let name = it.nth(4).unwrap_or("").to_string();
            Some(Map { start: u32::from_str_radix(a, 16).ok()?, end: u32::from_str_radix(b, 16).ok()?, name })
        })
        .collect())
}

fn overlaps(a: u32, b: u32, c: u32, d: u32) -> bool {
    a < d && c < b
}

/// The image's limits as this restart can install them, as binfmt_cr
/// takes them: a hard limit above ours is raised now, before the point
/// of no return, if prlimit(2) lets us (CAP_SYS_RESOURCE); otherwise it
/// is lowered to ours (RLIMIT_NOFILE's also to fs.nr_open), the soft
/// limit with it: a restart never raises what its caller could not.
fn fit_rlimits(want: &[Rlimit]) -> Result<Vec<Rlimit>> {
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open").ok().and_then(|s| s.trim().parse::<u64>().ok());
    let mut out = Vec::with_capacity(want.len());
    for (r, w) in want.iter().enumerate() {
        let mut cur = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: no new limit; `cur` is live for the call.
        if unsafe { libc::prlimit64(0, r as _, std::ptr::null(), &mut cur) } < 0 {
            return Err(CrError::last_os(format!("getrlimit {}", RLIMIT_NAMES[r])));
        }
        let mut max = w.max;
        if r == RLIMIT_NOFILE {
            max = max.min(nr_open.unwrap_or(max));
        }
        if max > cur.rlim_max {
            let new = libc::rlimit64 { rlim_cur: cur.rlim_cur, rlim_max: max };
            // SAFETY: `new` is live for the call.
            if unsafe { libc::prlimit64(0, r as _, &new, std::ptr::null_mut()) } < 0 {
                max = cur.rlim_max;
            }
        }
        out.push(clamped(w, max));
    }
    Ok(out)
}

/// `w` with its hard limit lowered to `max` if above, the soft one with it.
fn clamped(w: &Rlimit, max: u64) -> Rlimit {
    let max = w.max.min(max);
    Rlimit { cur: w.cur.min(max), max }
}

/// An i386 `stack_t` for sigaltstack(2): u32 ss_sp, i32 ss_flags, u32 ss_size.
fn stack_t(sp: u32, size: u32, flags: u32) -> [u8; 12] {
    let mut b = [0u8; 12];
    for (k, v) in [sp, flags, size].iter().enumerate() {
        b[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
    }
    b
}

/// The dumpable value to set, if any: the image's only lowers ours
/// (`current`), so a restart is never more dumpable than exec made it;
/// PR_SET_DUMPABLE takes 0 or 1 only, and a lower value is one of them.
fn lowered_dumpable(image: u32, current: u32) -> Option<u32> {
    (image < current).then_some(image)
}

/// The task attributes that do not disturb cr: the name, personality
/// (READ_IMPLIES_EXEC also makes the restorer's mappings executable:
/// harmless), no_new_privs (set, never cleared) and dumpable (lowered).
/// The alternate signal stack is the restorer's (see `child`).
fn set_attrs(a: &Attrs) -> Result<()> {
    let prctl = |what: &str, op: i32, arg: libc::c_ulong| -> Result<i32> {
        // SAFETY: integer arguments, or (PR_SET_NAME) a pointer to a
        // NUL-terminated 16-byte name live for the call.
        let r = unsafe { libc::prctl(op, arg, 0 as libc::c_ulong, 0 as libc::c_ulong, 0 as libc::c_ulong) };
        if r < 0 {
            return Err(CrError::last_os(what.to_string()));
        }
        Ok(r)
    };
    prctl("prctl(PR_SET_NAME)", libc::PR_SET_NAME, a.comm.as_ptr() as libc::c_ulong)?;
    // SAFETY: an integer argument.
    if unsafe { libc::personality(a.personality as libc::c_ulong) } < 0 {
        return Err(CrError::last_os(format!("personality({:#x})", a.personality)));
    }
    if a.no_new_privs {
        prctl("prctl(PR_SET_NO_NEW_PRIVS)", libc::PR_SET_NO_NEW_PRIVS, 1)?;
    }
    let current = prctl("prctl(PR_GET_DUMPABLE)", libc::PR_GET_DUMPABLE, 0)? as u32;
    if let Some(d) = lowered_dumpable(a.dumpable, current) {
        prctl("prctl(PR_SET_DUMPABLE)", libc::PR_SET_DUMPABLE, d as libc::c_ulong)?;
    }
    Ok(())
}

/// The restorer's last calls, run from a second table: the pending
/// signals queued to the restarted process itself, then the armed
/// interval timers; and the siginfos and itimervals they read.
struct Late {
    pid: u32,
    queues: crate::usignals::Queues,
    timers: crate::uitimers::Timers,
}

impl Late {
    fn of(img: &Image, pid: u32) -> Late {
        Late { pid, queues: crate::uextras::sigpending(img), timers: crate::uextras::itimers(img) }
    }

    fn nr_siginfos(&self) -> usize {
        self.queues.thread.len() + self.queues.process.len()
    }

    fn calls(&self, base: u32) -> Vec<(u32, Vec<u32>)> {
        let n_calls = self.nr_siginfos() + 3;
        let infos = base + ((n_calls + 1) * TABLE_WORDS * 4) as u32;
        let timers = infos + (self.nr_siginfos() * crate::sys::SIGINFO_SIZE) as u32;
        let mut c = crate::usignals::queue_calls(&self.queues, self.pid, |i| infos + (i * crate::sys::SIGINFO_SIZE) as u32);
        c.extend(crate::uitimers::arm_calls(&self.timers, |w| timers + 16 * w as u32));
        c
    }

    /// Bytes of the table (room for a call per siginfo and timer, and the
    /// end mark), the siginfos, the three itimervals.
    fn len(&self) -> usize {
        (self.nr_siginfos() + 3 + 1) * TABLE_WORDS * 4 + self.nr_siginfos() * crate::sys::SIGINFO_SIZE + 3 * 16
    }

    /// The late table placed at `base`.
    fn bytes(&self, base: u32) -> Vec<u8> {
        let mut t = Vec::new();
        for (nr, args) in self.calls(base) {
            table_entry(&mut t, nr, &args);
        }
        t.resize((self.nr_siginfos() + 3 + 1) * TABLE_WORDS, 0);
        let mut b: Vec<u8> = t.iter().flat_map(|w| w.to_le_bytes()).collect();
        for s in self.queues.thread.iter().chain(&self.queues.process) {
            b.extend_from_slice(s);
        }
        for v in &self.timers {
            b.extend_from_slice(&crate::uitimers::itimerval_bytes(v));
        }
        b
    }
}

/// Validate in the parent; fork; the child restores, the parent waits.
pub fn run(file: &str, detach: bool) -> Result<i32> {
    let (img, f) = crate::restart::check_image(file)?;
    run_checked(file, img, f, detach)
}

/// [`run`] of an image already checked and open as `f` (a flattened chain).
pub fn run_checked(file: &str, img: Image, f: std::fs::File, detach: bool) -> Result<i32> {
    let r = img.prstatus.regs;
    if r.cs & 0xffff != USER_CS || r.ss & 0xffff != USER_DS {
        return Err(CrError::BadImage(format!("{file}: cs {:#x} ss {:#x} are not the user segments", r.cs, r.ss)));
    }
    // Refused before anything is touched, as binfmt_cr refuses it.
    let cpu = crate::uxstate::cpu();
    if let Some(x) = crate::uextras::xstate(&img) {
        crate::uxstate::check(file, x, &cpu)?;
    }
    // The child restores; an error before the restorer runs comes back
    // as cr's exit code through the pipe.
    match sys::fork_reporting(|pipe_w| {
        let e = child(&img, &f, pipe_w, &cpu).unwrap_err();
        eprintln!("cr: {e}");
        (e.code(), e.code())
    })? {
        Started::Failed(code) => std::process::exit(code),
        Started::Running(pid) => {
            drop(f);
            crate::restart::finish(file, pid, detach)
        }
    }
}

/// The child: everything up to the jump into the restorer.
fn child(img: &Image, f: &std::fs::File, pipe_w: i32, cpu: &crate::uxstate::Cpu) -> Result<std::convert::Infallible> {
    let st = &img.state;
    // All signals blocked until the restorer sets the image's mask.
    sys::block_all_signals()?;
    // The image file on a descriptor above all of the image's.
    let top = st.fds.iter().map(|x| x.fd).max().unwrap_or(0).max(pipe_w as u32) + 1;
    let img_fd = sys::dup_at_least(f.as_raw_fd(), top.max(100) as i32)?;
    let pipe_fd = sys::dup_at_least(pipe_w, img_fd + 1)?;
    // The child never returns into Rust's drop of `f`: the duplicated image
    // fd survives until the restorer has mapped the segments.
    sys::close(pipe_w);
    sys::close(f.as_raw_fd());
    crate::ufds::install(&st.fds, pipe_fd + 1)?;
    // The files of the shared file mappings, above every descriptor of
    // the image and of cr (as binfmt_cr opens them before the point of no
    // return); the restorer maps and closes them.
    let mut mapped: Vec<Option<i32>> = vec![None; st.vmas.len()];
    for (i, path) in crate::umapped::mapped_paths(img)? {
        let pf = img.segments[i].flags;
        mapped[i] = Some(crate::umapped::open_mapped(path, pf & PF_W != 0, pf & PF_X != 0, pipe_fd + 1)?);
    }
    let rlimits = fit_rlimits(&st.rlimits)?;
    for (k, a) in st.sigactions.iter().enumerate() {
        let sig = k as u32 + 1;
        if sig == libc::SIGKILL as u32 || sig == libc::SIGSTOP as u32 {
            continue;
        }
        let act = sys::KernelSigaction { handler: a.handler, flags: a.flags, restorer: a.restorer, mask: [a.mask as u32, (a.mask >> 32) as u32] };
        sys::set_sigaction(sig, &act)?;
    }
    sys::set_umask(st.umask);
    let cwd = std::ffi::OsStr::from_bytes(&st.cwd);
    std::env::set_current_dir(cwd).map_err(|e| CrError::Os(format!("chdir {cwd:?}"), e))?;
    set_attrs(&st.attrs)?;

    // The system calls that map the segments, as a table the restorer
    // runs through: its code stays the same size whatever the number of
    // VMAs and data ranges (up to vm.max_map_count).
    let mut table: Vec<u32> = Vec::new();
    for ((s, v), fd) in img.segments.iter().zip(&st.vmas).zip(&mapped) {
        let prot = (if s.flags & PF_R != 0 { 1 } else { 0 })
            | (if s.flags & PF_W != 0 { 2 } else { 0 })
            | (if s.flags & PF_X != 0 { 4 } else { 0 });
        // A shared file mapping maps its file again, with its final
        // protection: no data to read, no mprotect (mmap2 takes pages).
        if let Some(fd) = *fd {
            let fl = (libc::MAP_SHARED | libc::MAP_FIXED) as u32;
            table_entry(&mut table, NR_MMAP2, &[s.vaddr, s.memsz, prot, fl, fd as u32, v.pgoff]);
            continue;
        }
        // Anonymous memory, as in the checkpointed process (and as
        // binfmt_cr restores it): read in, holes left unallocated.
        // Shared anonymous memory comes back shared: a child the
        // restarted process forks shares it.
        let share = if v.flags & VMA_SHARED != 0 { libc::MAP_SHARED } else { libc::MAP_PRIVATE };
        let mut fl = (share | libc::MAP_ANONYMOUS | libc::MAP_FIXED) as u32;
        if v.flags & VMA_GROWSDOWN != 0 {
            fl |= libc::MAP_GROWSDOWN as u32;
        }
        table_entry(&mut table, NR_MMAP2, &[s.vaddr, s.memsz, 3, fl, u32::MAX, 0]);
        for (off, len) in sys::data_ranges(img_fd, s.offset as u64, s.memsz as u64)? {
            let at = s.vaddr + (off - s.offset as u64) as u32;
            table_entry(&mut table, NR_PREAD64, &[img_fd as u32, at, len as u32, off as u32, (off >> 32) as u32]);
        }
        if prot != 3 {
            table_entry(&mut table, NR_MPROTECT, &[s.vaddr, s.memsz, prot]);
        }
    }
    // Then the mapped files are closed (the mappings keep them), still from
    // the table, so the restorer's code does not grow with their number.
    for fd in mapped.iter().flatten() {
        table_entry(&mut table, NR_CLOSE, &[*fd as u32]);
    }
    table.extend_from_slice(&[0; TABLE_WORDS]);
    let mut table_bytes: Vec<u8> = table.iter().flat_map(|w| w.to_le_bytes()).collect();
    // After it, the late table (signals to queue, timers to arm) and the
    // siginfos and itimervals its calls point to.
    let late = Late::of(img, std::process::id());
    let tail_len = late.len();

    // Place the restorer: outside the image's segments, the vvar+vDSO
    // range it needs, and everything of ours.
    let segs: Vec<(u32, u32)> = img.segments.iter().map(|s| (s.vaddr, s.vaddr + s.memsz)).collect();
    let lim = Limits::default();
    let vd = st.vdso_base;
    let vrange = if vd != 0 { (vd - lim.vdso_vvar_bytes, vd + lim.vdso_text_bytes) } else { (0, 0) };
    let area_len: u32 = 64 * PAGE + ((table_bytes.len() + tail_len) as u32).div_ceil(PAGE) * PAGE;
    let mine = self_maps()?;
    let mut area = 0u32;
    let mut cand = 0x1000_0000u32;
    while cand < 0xb000_0000 {
        let end = cand + area_len;
        let clash = segs.iter().any(|&(a, b)| overlaps(a, b, cand, end))
            || overlaps(vrange.0, vrange.1, cand, end)
            || mine.iter().any(|m| overlaps(m.start, m.end, cand, end));
        if !clash && sys::map_rwx_at(cand, area_len) {
            area = cand;
            break;
        }
        cand += 0x0100_0000;
    }
    if area == 0 {
        return Err(CrError::Os("no room for the restorer".into(), std::io::Error::from_raw_os_error(libc::ENOMEM)));
    }
    // Layout: code [0, 32 pages), data [32, 60), stack [60, 62), vDSO
    // scratch [58..64) is not used by data (data ends well before).
    let code_base = area;
    let data_base = area + 32 * PAGE;
    let stack_top = area + 58 * PAGE;
    let scratch = area + 58 * PAGE; // 6 pages: vvar (4) + vdso (2) in passing
    let table_base = area + 64 * PAGE;
    let late_base = table_base + table_bytes.len() as u32;
    table_bytes.extend_from_slice(&late.bytes(late_base));

    let mut d = Data { base: data_base, bytes: Vec::new() };
    let regs = img.prstatus.regs;
    let fpstate = crate::uxstate::sigframe_fpstate(&img.fpregs, &img.fxsave.0, crate::uextras::xstate(img), cpu);
    let fpstate_at = d.put(&fpstate, 64);
    let mut tls_addrs = Vec::new();
    for t in &img.tls {
        let mut b = Vec::new();
        for v in [t.entry_number, t.base_addr, t.limit, t.flags] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        tls_addrs.push(d.put(&b, 4));
    }
    let cursor = d.word(table_base);
    let late_cursor = d.word(late_base);
    let at = &st.attrs;
    let altstack = d.put(&stack_t(at.ss_sp, at.ss_size, at.ss_flags), 4);
    let rlim_at: Vec<u32> = rlimits.iter().map(|l| d.put(&[l.cur.to_le_bytes(), l.max.to_le_bytes()].concat(), 8)).collect();
    let mut auxv = Vec::new();
    for &(k, v) in &img.auxv {
        auxv.extend_from_slice(&k.to_le_bytes());
        auxv.extend_from_slice(&v.to_le_bytes());
    }
    let auxv_len = auxv.len() as u32;
    let auxv_at = d.put(&auxv, 4);
    let ra = regs.to_array(); // ebx ecx edx esi edi ebp eax ds es fs gs orig_eax eip cs eflags esp ss
    let frame = crate::usigframe::rt_sigframe(&ra, st.sigblocked, (at.ss_sp, at.ss_size, at.ss_flags), fpstate_at);
    let frame_at = d.put(&frame, 16);
    if d.bytes.len() > (26 * PAGE) as usize {
        return Err(CrError::Os("restorer data too large".into(), std::io::Error::from_raw_os_error(libc::E2BIG)));
    }

    // Capacity first: no allocation below may map memory after the maps
    // are read.
    let mut a = Asm { base: code_base, code: Vec::with_capacity((32 * PAGE) as usize), fail: 0 };
    // fail: exit_group(127)
    a.fail = a.here();
    a.sys(NR_EXIT_GROUP, &[127], false);
    let entry = a.here();
    a.mov_ri(4, stack_top);
    // 1. Unmap all of cr (maps read again just before the jump, below).
    let mine = self_maps()?;
    let cur_vdso = mine.iter().find(|m| m.name == "[vdso]").map(|m| m.start).unwrap_or(0);
    for m in &mine {
        if m.start == area || m.name == "[vdso]" || m.name.starts_with("[vvar") {
            continue;
        }
        a.sys(NR_MUNMAP, &[m.start, m.end - m.start], true);
    }
    // 2. The vvar and vDSO to the image's vdso_base, through the scratch
    //    pages so that source and destination never overlap.
    if vd != 0 && cur_vdso != vd {
        if cur_vdso == 0 {
            return Err(CrError::Os("cr has no vDSO to move".into(), std::io::Error::from_raw_os_error(libc::ENOEXEC)));
        }
        let parts: Vec<&Map> =
            mine.iter().filter(|m| m.name == "[vdso]" || m.name.starts_with("[vvar")).collect();
        for m in &parts {
            let off = m.start.wrapping_sub(cur_vdso).wrapping_add(lim.vdso_vvar_bytes);
            let len = m.end - m.start;
            if off.checked_add(len).map_or(true, |e| e > 6 * PAGE) {
                return Err(CrError::Os(format!("unexpected {} layout", m.name), std::io::Error::from_raw_os_error(libc::ENOEXEC)));
            }
            a.sys(NR_MREMAP, &[m.start, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, scratch + off], true);
        }
        for m in &parts {
            let off = m.start.wrapping_sub(cur_vdso).wrapping_add(lim.vdso_vvar_bytes);
            let len = m.end - m.start;
            a.sys(NR_MREMAP, &[scratch + off, len, len, MREMAP_MAYMOVE | MREMAP_FIXED, vrange.0 + off], true);
        }
    }
    // 3. The segments, from the table (as many as the image has VMAs).
    a.run_table(cursor);
    a.sys(NR_CLOSE, &[img_fd as u32], false);
    // The image's resource limits, now that its memory is in place (the
    // hard ones it raises were raised, or refused, before the restorer).
    for (r, &at) in rlim_at.iter().enumerate() {
        a.sys(NR_PRLIMIT64, &[0, r as u32, at, 0], true);
    }
    // 4. mm fields and auxv; the kernel checks each against the others,
    //    so three passes let every field reach its value whatever order.
    let mm = st.mm;
    let fields = [
        (1, mm.start_code), (2, mm.end_code), (3, mm.start_data), (4, mm.end_data), (6, mm.start_brk), (7, mm.brk),
        (5, mm.start_stack), (8, mm.arg_start), (9, mm.arg_end), (10, mm.env_start), (11, mm.env_end),
    ];
    for _ in 0..3 {
        for &(opt, v) in &fields {
            a.sys(NR_PRCTL, &[PR_SET_MM, opt, v, 0, 0], false);
        }
    }
    a.sys(NR_PRCTL, &[PR_SET_MM, PR_SET_MM_AUXV, auxv_at, auxv_len, 0], false);
    // 5. TLS, then tell cr we got here.
    for &t in &tls_addrs {
        a.sys(NR_SET_THREAD_AREA, &[t], true);
    }
    a.sys(NR_CLOSE, &[pipe_fd as u32], false);
    // The image's alternate signal stack, or none (SS_DISABLE): cr's own
    // (Rust's, for stack overflows) was unmapped with cr. The restorer's
    // stack is not on it, so the kernel lets it change.
    a.sys(NR_SIGALTSTACK, &[altstack, 0], true);
    // 6. Pending signals queued, timers armed: every signal is still
    //    blocked, so nothing is delivered to the restorer.
    a.run_table(late_cursor);
    // 7. Registers, blocked mask, FPU: rt_sigreturn takes its frame at
    //    esp - 4. It does not return, but to fail.
    a.mov_ri(4, frame_at + 4);
    a.sys(NR_RT_SIGRETURN, &[], false);
    a.sys(NR_EXIT_GROUP, &[127], false);
    if a.code.len() > (32 * PAGE) as usize {
        return Err(CrError::Os("restorer code too large".into(), std::io::Error::from_raw_os_error(libc::E2BIG)));
    }
    // SAFETY: the area is ours, RWX, and large enough (checked above).
    unsafe {
        std::ptr::copy_nonoverlapping(a.code.as_ptr(), code_base as *mut u8, a.code.len());
        std::ptr::copy_nonoverlapping(d.bytes.as_ptr(), data_base as *mut u8, d.bytes.len());
        std::ptr::copy_nonoverlapping(table_bytes.as_ptr(), table_base as *mut u8, table_bytes.len());
        // No allocation may happen from here on: the maps were read above.
        std::arch::asm!("jmp {0}", in(reg) entry, options(noreturn));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn asm() -> Asm {
        Asm { base: 0x1000_0000, code: Vec::new(), fail: 0x1000_0000 }
    }

    #[test]
    fn encodes_moves_as_the_sdm_says() {
        let mut a = asm();
        a.mov_ri(0, 0x1234_5678); // mov eax, imm32
        a.mov_ri(4, 1); // mov esp, imm32
        a.mov_rm(3, 0xdead_beef); // mov ebx, cs:[abs]
        assert_eq!(a.code, [0xb8, 0x78, 0x56, 0x34, 0x12, 0xbc, 1, 0, 0, 0, 0x2e, 0x8b, 0x1d, 0xef, 0xbe, 0xad, 0xde]);
        assert_eq!(a.here(), 0x1000_0000 + a.code.len() as u32);
    }

    #[test]
    fn a_checked_syscall_jumps_to_fail_on_error() {
        let mut a = asm();
        a.sys(NR_CLOSE, &[3], false);
        // mov eax, 6; mov ebx, 3; int 0x80
        assert_eq!(a.code, [0xb8, 6, 0, 0, 0, 0xbb, 3, 0, 0, 0, 0xcd, 0x80]);
        let mut a = asm();
        a.sys(NR_MMAP2, &[1, 2, 3, 4, 5, 6], true);
        // Arguments in ebx ecx edx esi edi ebp order.
        let regs: Vec<u8> = a.code.chunks(5).take(7).map(|c| c[0]).collect();
        assert_eq!(regs, [0xb8, 0xbb, 0xb9, 0xba, 0xbe, 0xbf, 0xbd]);
        let n = a.code.len();
        // cmp eax, -4095; jae rel32 back to fail.
        assert_eq!(&a.code[n - 13..n - 4], &[0xcd, 0x80, 0x3d, 0x01, 0xf0, 0xff, 0xff, 0x0f, 0x83]);
        let rel = u32::from_le_bytes(a.code[n - 4..].try_into().unwrap());
        assert_eq!(a.here().wrapping_add(rel), a.fail);
    }

    #[test]
    fn the_table_loop_reads_entries_and_ends_on_zero() {
        let mut a = asm();
        a.fail = 0x0fff_0000;
        a.run_table(0x2000_0000);
        let c = &a.code;
        // mov eax, cs:[cursor]; cmp dword [eax], 0; je rel32 to the end
        assert_eq!(&c[..12], &[0x2e, 0x8b, 0x05, 0, 0, 0, 0x20, 0x83, 0x38, 0x00, 0x0f, 0x84]);
        let je = u32::from_le_bytes(c[12..16].try_into().unwrap());
        assert_eq!(16 + je as usize, c.len(), "je lands just past the loop");
        // six argument loads in ebx ecx edx esi edi ebp order, disp 4..24
        assert_eq!(&c[16..34], &[0x8b, 0x58, 4, 0x8b, 0x48, 8, 0x8b, 0x50, 12, 0x8b, 0x70, 16, 0x8b, 0x78, 20, 0x8b, 0x68, 24]);
        assert_eq!(&c[34..38], &[0x8b, 0x00, 0xcd, 0x80]);
        // jae rel32 to fail
        let jae = u32::from_le_bytes(c[45..49].try_into().unwrap());
        assert_eq!(a.base.wrapping_add(49).wrapping_add(jae), a.fail);
        // add dword cs:[cursor], 32; jmp back to the top
        assert_eq!(&c[49..57], &[0x2e, 0x83, 0x05, 0, 0, 0, 0x20, 32]);
        let back = u32::from_le_bytes(c[58..62].try_into().unwrap());
        assert_eq!(a.base.wrapping_add(62).wrapping_add(back), a.base);
        let mut t = Vec::new();
        table_entry(&mut t, NR_MPROTECT, &[1, 2, 3]);
        assert_eq!(t, [NR_MPROTECT, 1, 2, 3, 0, 0, 0, 0]);
    }

    #[test]
    fn the_late_table_queues_then_arms_and_ends() {
        let mut si = [0u8; 128];
        si[0] = 34;
        let late = Late {
            pid: 42,
            queues: crate::usignals::Queues { thread: vec![], process: vec![si] },
            timers: [[0, 0, 5, 0], [0; 4], [0; 4]],
        };
        let base = 0x2000_0000;
        let b = late.bytes(base);
        assert_eq!(b.len(), late.len());
        let w = |k: usize| u32::from_le_bytes(b[4 * k..4 * k + 4].try_into().unwrap());
        let infos = base + 5 * 32;
        assert_eq!((w(0), w(1), w(2), w(3)), (178, 42, 34, infos), "rt_sigqueueinfo(pid, sig, &info)");
        assert_eq!((w(8), w(9), w(10), w(11)), (104, 0, infos + 128, 0), "setitimer(ITIMER_REAL, &value, NULL)");
        assert_eq!(w(16), 0, "the end mark right after the last call");
        assert_eq!(b[5 * 32], 34);
        assert_eq!(u32::from_le_bytes(b[5 * 32 + 128 + 8..5 * 32 + 128 + 12].try_into().unwrap()), 5, "value_sec");
    }

    #[test]
    fn an_xsave_area_this_cpu_cannot_load_is_refused_before_the_fork() {
        use kckpt_image::{Builder, Xstate};
        use std::os::unix::fs::PermissionsExt;
        let cpu = crate::uxstate::cpu();
        // one size this CPU does not have, with features it enables
        // (a CPU whose own area is beyond what an image may hold, as
        // AVX-512's 11008 bytes, gets the largest size an image may hold)
        let size = (cpu.size as usize + 64).min(kckpt_image::consts::XSTATE_MAX_SIZE);
        let x = Xstate::new(&[0; 512], cpu.xcr0.max(3), 3, size);
        let bytes = Builder::new().segment(0x0804_8000, 1, PF_R | PF_X, 0, vec![]).xstate(x).bytes();
        assert!(!bytes.is_empty(), "the crate accepts the area: only this CPU refuses it");
        let path = std::env::temp_dir().join(format!("cr-xstate-{}.kckpt", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700)).unwrap();
        let e = run(path.to_str().unwrap(), false).unwrap_err();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(e.code(), 7, "{e}");
        let want = if cpu.xsave { "XSAVE layout differs" } else { "does not use XSAVE" };
        assert!(e.to_string().contains(want), "{e}");
    }

    #[test]
    fn the_restorer_ends_in_rt_sigreturn_with_esp_past_pretcode() {
        let mut a = asm();
        a.mov_ri(4, 0x2000_0100 + 4);
        a.sys(NR_RT_SIGRETURN, &[], false);
        assert_eq!(a.code, [0xbc, 0x04, 0x01, 0x00, 0x20, 0xb8, 173, 0, 0, 0, 0xcd, 0x80]);
    }

    #[test]
    fn data_is_aligned_and_addressed() {
        let mut d = Data { base: 0x2000, bytes: Vec::new() };
        assert_eq!(d.put(&[1], 1), 0x2000);
        assert_eq!(d.word(7), 0x2004);
        assert_eq!(d.put(&[9; 3], 16), 0x2010);
        assert_eq!(&d.bytes[4..8], &7u32.to_le_bytes());
    }

    #[test]
    fn stack_t_is_sp_flags_size() {
        let b = stack_t(0x0804_d000, 0x4000, SS_AUTODISARM);
        assert_eq!(b, [0x00, 0xd0, 0x04, 0x08, 0, 0, 0, 0x80, 0x00, 0x40, 0, 0]);
        assert_eq!(stack_t(0, 0, SS_DISABLE), [0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0]);
        // what the kernel writes back for it is what the checkpoint stores
        assert_eq!(crate::uckpt::stored_altstack(&b), (0x0804_d000, 0x4000, SS_AUTODISARM));
    }

    #[test]
    fn limits_are_only_ever_lowered() {
        let inf = u64::MAX;
        let w = Rlimit { cur: 1024, max: 4096 };
        assert_eq!(clamped(&w, 64), Rlimit { cur: 64, max: 64 });
        assert_eq!(clamped(&w, 2048), Rlimit { cur: 1024, max: 2048 });
        assert_eq!(clamped(&w, inf), w, "never raised");
        assert_eq!(clamped(&Rlimit { cur: inf, max: inf }, 3928), Rlimit { cur: 3928, max: 3928 });
    }

    #[test]
    fn dumpable_is_only_lowered() {
        assert_eq!(lowered_dumpable(0, 1), Some(0));
        assert_eq!(lowered_dumpable(0, 2), Some(0));
        assert_eq!(lowered_dumpable(1, 2), Some(1));
        assert_eq!(lowered_dumpable(1, 1), None);
        // image 2 (suid_dumpable root-only) never raises, and is never passed to PR_SET_DUMPABLE
        assert_eq!(lowered_dumpable(2, 1), None);
        assert_eq!(lowered_dumpable(2, 0), None);
        assert_eq!(lowered_dumpable(2, 2), None);
        assert_eq!(lowered_dumpable(1, 0), None);
    }

    #[test]
    fn ranges_overlap_only_when_they_share_a_byte() {
        assert!(overlaps(0, 10, 9, 20));
        assert!(!overlaps(0, 10, 10, 20));
        assert!(!overlaps(10, 20, 0, 10));
    }
}
