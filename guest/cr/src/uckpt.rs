//! `cr -p PID --userspace`: write the kckpt image without sys_checkpoint.
//! The target is seized and stopped with ptrace; its state comes from
//! ptrace (registers, FPU, TLS), /proc (maps, memory, auxv, fds, cwd, mm
//! fields, umask, blocked mask), ptrace again for the XSAVE area
//! (uxstate.rs) and the pending signals (usignals.rs), and a few injected
//! system calls (brk(0), rt_sigaction(sig, NULL, &old) for every signal,
//! getitimer for each interval timer (uitimers.rs), which have no /proc
//! or ptrace interface). The image is laid out by the kckpt-image crate
//! exactly as the kernel lays it out; memory is streamed page by page from
//! /proc/PID/mem, all-zero pages left as holes. Then the target is let go.

use std::fs::File;
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};

use kckpt_image::consts::*;
use kckpt_image::{Attrs, FileEntry, Fxsave, Image, KckptState, MmFields, Prpsinfo, Prstatus, Regs as ImgRegs, Segment};
use kckpt_image::{Rlimit, Sigaction, UserDesc, Vma, MAX_VMAS, TASK_SIZE};

use crate::error::{CrError, Result};
use crate::inject::{self, read_proc, resume_regs, syscall_in, wait_stop, Regs};
use crate::sys::{self, getregs, setregs};

const NR_BRK: u32 = libc::SYS_brk as u32;
const NR_RT_SIGACTION: u32 = libc::SYS_rt_sigaction as u32;
const NR_PRCTL: u32 = libc::SYS_prctl as u32;
const NR_SIGALTSTACK: u32 = libc::SYS_sigaltstack as u32;
const PR_GET_DUMPABLE: u32 = libc::PR_GET_DUMPABLE as u32;
const PAGE: usize = 4096;
/// The first GDT TLS slot on i386 (asm/segment.h).
const GDT_ENTRY_TLS_MIN: u32 = 6;
/// Bytes read from /proc/PID/mem at a time.
const CHUNK: usize = crate::incr::CHUNK;

fn os(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> CrError {
    let w = what.into();
    move |e| CrError::Os(w, e)
}

fn readlink(p: &str) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::fs::read_link(p).map(|p| p.into_os_string().into_vec()).map_err(os(format!("readlink {p}")))
}

fn status_field<'a>(status: &'a str, key: &str) -> Result<&'a str> {
    status
        .lines()
        .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix(':')))
        .map(str::trim)
        .ok_or_else(|| CrError::Os(format!("no {key} in /proc/PID/status"), std::io::Error::other("missing")))
}

/// Fields of /proc/PID/stat after the command name; `f(n)` is field n (1-based).
struct Stat(Vec<u64>);

impl Stat {
    fn parse(s: &str) -> Stat {
        let rest = s.rfind(')').map(|i| &s[i + 1..]).unwrap_or("");
        // field 3 (state) is a letter; keep it as 0 so that indices line up.
        Stat(rest.split_whitespace().map(|t| t.parse::<i64>().map(|x| x as u64).unwrap_or(0)).collect())
    }
    fn f(&self, n: usize) -> u32 {
        self.0.get(n - 3).copied().unwrap_or(0) as u32
    }
}

/// One VMA of /proc/PID/smaps.
struct MapLine {
    start: u32,
    end: u32,
    perms: String,
    offset: u64,
    inode: u64,
    path: String,
    vmflags: Vec<String>,
}

fn parse_smaps(s: &str) -> Vec<MapLine> {
    let mut v: Vec<MapLine> = Vec::new();
    for l in s.lines() {
        let mut it = l.splitn(6, ' ');
        let first = it.next().unwrap_or("");
        if let Some((a, b)) = first.split_once('-') {
            if let (Ok(a), Ok(b)) = (u32::from_str_radix(a, 16), u32::from_str_radix(b, 16)) {
                let perms = it.next().unwrap_or("").to_string();
                let offset = u64::from_str_radix(it.next().unwrap_or("0"), 16).unwrap_or(0);
                let _dev = it.next();
                let inode = it.next().and_then(|i| i.parse().ok()).unwrap_or(0);
                let path = it.next().unwrap_or("").trim_start().to_string();
                v.push(MapLine { start: a, end: b, perms, offset, inode, path, vmflags: Vec::new() });
                continue;
            }
        }
        if let (Some(r), Some(m)) = (l.strip_prefix("VmFlags:"), v.last_mut()) {
            m.vmflags = r.split_whitespace().map(String::from).collect();
        }
    }
    v
}

/// How checkpoint takes a VMA, as the kernel's `ckpt_collect_vmas()`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Take {
    /// Copied into the image (private memory, private file mappings).
    Private,
    /// Shared anonymous memory (`KCKPT_VMA_SHARED`), copied.
    SharedAnon,
    /// A shared mapping of a regular file that still has its name
    /// (`KCKPT_VMA_SHARED | KCKPT_VMA_FILE`): by path and offset, no data.
    SharedFile,
    /// Cannot be restarted: checkpoint fails with EBUSY, saying why.
    Busy(&'static str),
}

/// Classify smaps line `m`; `lookup(path)` is (a regular file, its inode)
/// for the path as it is now (not following a last symlink), `None` if it
/// is gone. A VM_MAYSHARE ("ms") mapping is a shared file mapping only if
/// its file can be opened again by that name: not memfd or System V shm,
/// not unlinked, not replaced by another file since.
fn classify(m: &MapLine, lookup: impl Fn(&str) -> Option<(bool, u64)>) -> Take {
    let has = |f: &str| m.vmflags.iter().any(|x| x == f);
    if has("io") || has("pf") {
        return Take::Busy("an I/O or PFN mapping");
    }
    // MAP_SHARED|MAP_ANONYMOUS and shared /dev/zero: a shmem object.
    if has("sh") && m.path == "/dev/zero (deleted)" {
        return Take::SharedAnon;
    }
    if !has("ms") && !has("sh") {
        return Take::Private;
    }
    let p = m.path.as_str();
    if !p.starts_with('/') || p.ends_with(" (deleted)") || p.starts_with("/SYSV") || p.starts_with("/memfd:") {
        return Take::Busy("a shared mapping of a file that has no name any more");
    }
    match lookup(p) {
        Some((true, ino)) if ino == m.inode => Take::SharedFile,
        Some((true, _)) => Take::Busy("a shared mapping of a file since replaced by another"),
        Some((false, _)) => Take::Busy("a shared mapping of something other than a regular file"),
        None => Take::Busy("a shared mapping of a file that has no name any more"),
    }
}

/// (a regular file, inode) of `path` now, without following a last symlink.
fn lookup_file(path: &str) -> Option<(bool, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::symlink_metadata(path).ok().map(|md| (md.is_file(), md.ino()))
}

/// Do two shared anonymous VMAs (inode, first page, pages) map the same
/// pages of one object? Restart makes one object per VMA, so that would
/// come back as two copies: refused, as the kernel refuses it.
fn shm_alias(r: &[(u64, u64, u64)]) -> bool {
    r.iter().enumerate().any(|(i, a)| r[i + 1..].iter().any(|b| a.0 == b.0 && a.1 < b.1 + b.2 && b.1 < a.1 + a.2))
}

/// The 16 resource limits of `pid`, as prlimit(2) reports them.
fn rlimits(pid: i32) -> Result<[Rlimit; NRLIMITS]> {
    let mut out = [Rlimit::default(); NRLIMITS];
    for (r, slot) in out.iter_mut().enumerate() {
        let mut old = libc::rlimit64 { rlim_cur: 0, rlim_max: 0 };
        // SAFETY: no new limit; `old` is live for the call.
        if unsafe { libc::prlimit64(pid, r as _, std::ptr::null(), &mut old) } < 0 {
            return Err(CrError::last_os(format!("prlimit({pid}, {r})")));
        }
        *slot = Rlimit { cur: old.rlim_cur, max: old.rlim_max };
    }
    Ok(out)
}

/// Checkpoint `pid` into `file`; with `parent`, an incremental image
/// holding only the pages that differ from the parent chain's.
pub fn checkpoint(pid: i32, file: &str, parent: Option<&str>) -> Result<()> {
    crate::incr::phase("start");
    let path = inject::absolute(file)?;
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(CrError::FileExists(path));
    }
    // A bad parent is refused before the target is touched.
    let parent = parent.map(|p| crate::incr::open_parent(p, &path)).transpose()?;
    crate::incr::phase("open_parent");
    inject::seize(pid)?;
    let mut created = false;
    let r = dump(pid, &path, &mut created, parent.as_ref()).map_err(|e| inject::exited_or(pid, e));
    sys::detach(pid);
    if r.is_err() && created {
        let _ = std::fs::remove_file(&path);
    }
    r
}

/// State only injected system calls can give.
struct Injected {
    brk: u32,
    sigactions: Vec<Sigaction>,
    dumpable: u32,
    /// sigaltstack as stored: (ss_sp, ss_size, ss_flags), see `stored_altstack`.
    altstack: (u32, u32, u32),
    /// ITIMER_REAL, ITIMER_VIRTUAL, ITIMER_PROF.
    itimers: crate::uitimers::Timers,
}

/// An i386 `stack_t` as sigaltstack(2) writes it: u32 ss_sp, i32 ss_flags,
/// u32 ss_size (in that order), as stored in the image: without
/// `SS_ONSTACK` (the restarted task is not on its alternate stack), and
/// (0, 0, SS_DISABLE) for a disabled one. Returns (ss_sp, ss_size, ss_flags).
pub(crate) fn stored_altstack(b: &[u8; 12]) -> (u32, u32, u32) {
    let (sp, flags, size) = (u32le(b, 0), u32le(b, 4), u32le(b, 8));
    if flags & SS_DISABLE != 0 {
        (0, 0, SS_DISABLE)
    } else {
        (sp, size, flags & !SS_ONSTACK)
    }
}

/// Fail a syscall injected into `pid` that returned `r` < 0.
fn injected_ok(r: i32, what: &str, pid: i32) -> Result<i32> {
    if r < 0 {
        return Err(CrError::Os(format!("{what} in {pid}"), std::io::Error::from_raw_os_error(-r)));
    }
    Ok(r)
}

fn injected_state(pid: i32, mem: &File, resume: &Regs) -> Result<Injected> {
    let int80 = inject::find_int80(pid, mem)?;
    let orig_esp = resume.esp as u32;
    let scratch = orig_esp.wrapping_sub(512 + 32) & !15;
    let mut saved = [0u8; 32];
    mem.read_exact_at(&mut saved, scratch as u64).map_err(os("reading the stack"))?;
    let mut pending = 0;
    let mut run = || -> Result<Injected> {
        let brk = syscall_in(pid, int80, resume, NR_BRK, &[0], &mut pending)? as u32;
        let mut acts = Vec::with_capacity(NSIG);
        for sig in 1..=NSIG as u32 {
            let r = syscall_in(pid, int80, resume, NR_RT_SIGACTION, &[sig, 0, scratch, 8], &mut pending)?;
            injected_ok(r, &format!("rt_sigaction({sig})"), pid)?;
            let mut b = [0u8; 20];
            mem.read_exact_at(&mut b, scratch as u64).map_err(os("reading a sigaction"))?;
            let w = |k: usize| u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]]);
            acts.push(Sigaction { handler: w(0), flags: w(4), restorer: w(8), mask: w(12) as u64 | (w(16) as u64) << 32 });
        }
        let r = syscall_in(pid, int80, resume, NR_PRCTL, &[PR_GET_DUMPABLE, 0, 0, 0, 0], &mut pending)?;
        let dumpable = injected_ok(r, "prctl(PR_GET_DUMPABLE)", pid)? as u32;
        let r = syscall_in(pid, int80, resume, NR_SIGALTSTACK, &[0, scratch], &mut pending)?;
        injected_ok(r, "sigaltstack", pid)?;
        let mut b = [0u8; 12];
        mem.read_exact_at(&mut b, scratch as u64).map_err(os("reading a stack_t"))?;
        let mut timers = [[0u8; 16]; 3];
        for (which, t) in timers.iter_mut().enumerate() {
            let r = syscall_in(pid, int80, resume, crate::uitimers::NR_GETITIMER, &[which as u32, scratch], &mut pending)?;
            injected_ok(r, &format!("getitimer({which})"), pid)?;
            mem.read_exact_at(t, scratch as u64).map_err(os("reading an itimerval"))?;
        }
        let itimers = crate::uitimers::parse(&timers);
        Ok(Injected { brk, sigactions: acts, dumpable, altstack: stored_altstack(&b), itimers })
    };
    let r = run();
    // Put back the stack and the registers, whatever happened.
    let _ = mem.write_all_at(&saved, scratch as u64);
    let _ = setregs(pid, resume);
    if pending != 0 {
        // The held-back signal, back to the target.
        sys::kill(pid, pending);
    }
    r
}

/// /proc/PID/personality: the value in hex ("00000000\n").
fn parse_personality(s: &str) -> Option<u32> {
    u32::from_str_radix(s.trim(), 16).ok()
}

/// The task attributes: comm, personality and no_new_privs from /proc
/// (`comm` and `status` as already read), dumpable and the alternate
/// stack from `inj`. A personality or alternate stack no image can carry
/// fails as the kernel fails: EBUSY, naming it.
fn task_attrs(pid: i32, comm: &str, status: &str, inj: &Injected) -> Result<Attrs> {
    let busy = |what: String| CrError::Os(what, std::io::Error::from_raw_os_error(libc::EBUSY));
    let text = read_proc(pid, "personality")?;
    let personality = parse_personality(&text)
        .ok_or_else(|| CrError::Os(format!("/proc/{pid}/personality: {text:?}"), std::io::Error::other("parse")))?;
    if !kckpt_image::personality_ok(personality) {
        return Err(busy(format!("personality {personality:#x} of {pid} cannot be restarted")));
    }
    // checkpoint() refuses a process that is not dumpable (EPERM): its
    // owner asked for its memory not to be written out. So does cr.
    if inj.dumpable != 1 {
        return Err(CrError::NotPermitted(format!("process {pid} is not dumpable (dumpable {})", inj.dumpable)));
    }
    let (ss_sp, ss_size, ss_flags) = inj.altstack;
    if !kckpt_image::sigaltstack_ok(ss_sp, ss_size, ss_flags, TASK_SIZE) {
        return Err(busy(format!("sigaltstack {ss_sp:#x} size {ss_size:#x} flags {ss_flags:#x} of {pid} cannot be restarted")));
    }
    Ok(Attrs {
        comm: Attrs::comm_from(comm.trim_end_matches('\n').as_bytes()),
        personality,
        no_new_privs: status_field(status, "NoNewPrivs")? == "1",
        dumpable: inj.dumpable,
        ss_sp,
        ss_size,
        ss_flags,
    })
}

fn u32le(b: &[u8], k: usize) -> u32 {
    u32::from_le_bytes([b[k], b[k + 1], b[k + 2], b[k + 3]])
}

fn put(d: &mut [u8], off: usize, v: &[u8]) {
    d[off..off + v.len()].copy_from_slice(v);
}

/// Every private page of the target, zero pages left as holes.
fn write_all_pages(mem: &File, out: &File, img: &Image, path: &str) -> Result<()> {
    let mut buf = vec![0u8; CHUNK];
    for (s, v) in img.segments.iter().zip(&img.state.vmas) {
        if v.flags == VMA_SHARED | VMA_FILE {
            continue; // a shared file mapping: the data is in the file
        }
        let mut done = 0usize;
        let len = s.memsz as usize;
        while done < len {
            let n = (len - done).min(CHUNK);
            let b = &mut buf[..n];
            crate::incr::read_target(mem, b, s.vaddr as u64 + done as u64);
            for (k, p) in b.chunks(PAGE).enumerate() {
                if p.iter().any(|&x| x != 0) {
                    out.write_all_at(p, s.offset as u64 + (done + k * PAGE) as u64).map_err(os(format!("writing {path}")))?;
                }
            }
            done += n;
        }
    }
    Ok(())
}

fn dump(pid: i32, path: &str, created: &mut bool, parent: Option<&crate::incr::ParentChain>) -> Result<()> {
    sys::interrupt(pid)?;
    wait_stop(pid)?;
    let status = read_proc(pid, "status")?;
    if status_field(&status, "Threads")?.parse::<u32>().unwrap_or(1) > 1 {
        return Err(CrError::Os(format!("process {pid} has several threads"), std::io::Error::from_raw_os_error(libc::EBUSY)));
    }
    crate::uitimers::refuse_posix_timers(pid, &read_proc(pid, "timers")?)?;
    let hex = |k: &str| -> Result<u64> {
        u64::from_str_radix(status_field(&status, k)?, 16).map_err(|_| CrError::Os(format!("bad {k}"), std::io::Error::other("parse")))
    };
    // Before any injected call: one could take an unblocked signal off
    // the queue.
    let sigqueues = crate::usignals::read(pid, hex("SigPnd")?, hex("ShdPnd")?)?;
    let orig = getregs(pid)?;
    let resume = resume_regs(&orig);
    let fpregs = sys::getfpregs(pid)?;
    let xstate = crate::uxstate::read(pid, &crate::uxstate::cpu())?;
    // Without FXSR there is no SSE state: left zero, as the kernel does.
    let fxsave = sys::getfpxregs(pid).unwrap_or([0; FXSAVE_SIZE]);
    let mut tls = [UserDesc::default(); 3];
    for (k, t) in tls.iter_mut().enumerate() {
        let b = sys::get_thread_area(pid, GDT_ENTRY_TLS_MIN + k as u32)?;
        *t = UserDesc { entry_number: u32le(&b, 0), base_addr: u32le(&b, 4), limit: u32le(&b, 8), flags: u32le(&b, 12) };
    }
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| inject::proc_error(pid, &format!("/proc/{pid}/mem"), e))?;
    let inj = injected_state(pid, &mem, &resume)?;
    let brk = inj.brk;

    let stat = Stat::parse(&read_proc(pid, "stat")?);
    let sigblocked = hex("SigBlk")?;
    let sigpend = hex("SigPnd")?;
    let umask = u32::from_str_radix(status_field(&status, "Umask")?, 8).unwrap_or(0o022);
    let first = |k: &str| -> Result<u32> { Ok(status_field(&status, k)?.split_whitespace().next().unwrap_or("0").parse().unwrap_or(0)) };
    let (uid, gid) = (first("Uid")?, first("Gid")?);
    let mm = MmFields {
        start_code: stat.f(26),
        end_code: stat.f(27),
        start_data: stat.f(45),
        end_data: stat.f(46),
        start_brk: stat.f(47),
        brk,
        start_stack: stat.f(28),
        arg_start: stat.f(48),
        arg_end: stat.f(49),
        env_start: stat.f(50),
        env_end: stat.f(51),
    };

    // VMAs, without the vDSO and vvar.
    let smaps = parse_smaps(&read_proc(pid, "smaps")?);
    let mut vdso_base = 0;
    let mut segments = Vec::new();
    let mut vmas = Vec::new();
    let mut files = Vec::new();
    let mut shm_ranges = Vec::new();
    for m in &smaps {
        if m.path == "[vdso]" {
            vdso_base = m.start;
            continue;
        }
        if m.path.starts_with("[vvar") {
            continue;
        }
        let has = |f: &str| m.vmflags.iter().any(|x| x == f);
        let take = classify(m, lookup_file);
        if let Take::Busy(why) = take {
            return Err(CrError::Os(
                format!("{:#x}-{:#x} {} cannot be checkpointed: {why}", m.start, m.end, m.path),
                std::io::Error::from_raw_os_error(libc::EBUSY),
            ));
        }
        if vmas.len() == MAX_VMAS as usize {
            return Err(CrError::Os(format!("more than {MAX_VMAS} VMAs"), std::io::Error::from_raw_os_error(libc::E2BIG)));
        }
        let p = m.perms.as_bytes();
        let prot = if p.first() == Some(&b'r') { PF_R } else { 0 }
            | if p.get(1) == Some(&b'w') { PF_W } else { 0 }
            | if p.get(2) == Some(&b'x') { PF_X } else { 0 };
        let pgoff = (m.offset / PAGE as u64) as u32;
        if take == Take::SharedFile {
            // its data is the file's: the segment stays a hole
            vmas.push(Vma { start: m.start, end: m.end, flags: VMA_SHARED | VMA_FILE, pgoff });
            files.push(FileEntry { start: m.start, end: m.end, pgoff, path: m.path.as_bytes().to_vec() });
            segments.push(Segment { vaddr: m.start, memsz: m.end - m.start, offset: 0, flags: prot });
            continue;
        }
        if take == Take::SharedAnon {
            shm_ranges.push((m.inode, m.offset / PAGE as u64, (m.end - m.start) as u64 / PAGE as u64));
            vmas.push(Vma { start: m.start, end: m.end, flags: VMA_SHARED, pgoff });
            segments.push(Segment { vaddr: m.start, memsz: m.end - m.start, offset: 0, flags: prot });
            continue;
        }
        let is_file = !m.path.is_empty() && !m.path.starts_with('[');
        let mut flags = 0;
        if has("gd") {
            flags |= VMA_GROWSDOWN;
        }
        if mm.brk > mm.start_brk && m.start <= mm.start_brk && m.end >= mm.brk {
            flags |= VMA_HEAP;
        }
        // vm_pgoff of anonymous memory is not visible in /proc: the start
        // page, as for a fresh anonymous mmap (restart does not use it).
        let pgoff = if is_file { pgoff } else { m.start / PAGE as u32 };
        if is_file {
            flags |= VMA_FILE;
            files.push(FileEntry { start: m.start, end: m.end, pgoff, path: m.path.as_bytes().to_vec() });
        }
        vmas.push(Vma { start: m.start, end: m.end, flags, pgoff });
        segments.push(Segment { vaddr: m.start, memsz: m.end - m.start, offset: 0, flags: prot });
    }

    if shm_alias(&shm_ranges) {
        return Err(CrError::Os(
            "two mappings share pages of one shared anonymous object".into(),
            std::io::Error::from_raw_os_error(libc::EBUSY),
        ));
    }
    let fds = crate::ufds::collect(pid)?;
    let rlimits = rlimits(pid)?;
    let cwd = readlink(&format!("/proc/{pid}/cwd"))?;

    let auxv_b = std::fs::read(format!("/proc/{pid}/auxv")).map_err(|e| inject::proc_error(pid, &format!("/proc/{pid}/auxv"), e))?;
    let auxv: Vec<(u32, u32)> = auxv_b.chunks_exact(8).map(|c| (u32le(c, 0), u32le(c, 4))).collect();

    // NT_PRSTATUS and NT_PRPSINFO as the kernel fills them.
    let (ppid, pgrp, sid) = (stat.f(4), stat.f(5), stat.f(6));
    let mut prs = vec![0u8; PRSTATUS_SIZE];
    put(&mut prs, 16, &(sigpend as u32).to_le_bytes());
    put(&mut prs, 20, &(sigblocked as u32).to_le_bytes());
    for (k, v) in [pid as u32, ppid, pgrp, sid].iter().enumerate() {
        put(&mut prs, 24 + 4 * k, &v.to_le_bytes());
    }
    put(&mut prs, 140, &1u32.to_le_bytes());
    let mut psi = vec![0u8; PRPSINFO_SIZE];
    psi[1] = b'R';
    psi[3] = stat.f(19) as u8;
    put(&mut psi, 4, &stat.f(9).to_le_bytes());
    put(&mut psi, 8, &(uid as u16).to_le_bytes());
    put(&mut psi, 10, &(gid as u16).to_le_bytes());
    for (k, v) in [pid as u32, ppid, pgrp, sid].iter().enumerate() {
        put(&mut psi, 12 + 4 * k, &v.to_le_bytes());
    }
    let comm_text = read_proc(pid, "comm")?;
    let attrs = task_attrs(pid, &comm_text, &status, &inj)?;
    psi[28..28 + 16].copy_from_slice(&attrs.comm);
    let alen = (mm.arg_end.saturating_sub(mm.arg_start) as usize).min(79);
    let mut args = vec![0u8; alen];
    if mem.read_exact_at(&mut args, mm.arg_start as u64).is_ok() {
        for c in args.iter_mut().filter(|c| **c == 0) {
            *c = b' ';
        }
        psi[44..44 + alen].copy_from_slice(&args);
    }

    let a = inject::regs_array(&resume);
    let mut img = Image {
        prstatus: Prstatus { pid: pid as u32, regs: ImgRegs::from_array(a), raw: prs },
        prpsinfo: Prpsinfo::from_raw(&psi),
        auxv,
        files,
        files_raw: Vec::new(),
        fpregs: fpregs.to_vec(),
        fxsave: Fxsave(fxsave.to_vec()),
        tls,
        state: KckptState { mm, vdso_base, umask, sigblocked, sigactions: inj.sigactions, rlimits, attrs, vmas, fds, cwd },
        segments,
        xstate: None,
        sigpending: None,
        itimers: None,
        parent: None,
        extra_notes: Vec::new(),
        notes: Vec::new(),
    };
    crate::uextras::set(&mut img, xstate, sigqueues, inj.itimers);
    crate::incr::phase("state");
    // Incremental: which pages the parent chain already holds.
    let plan = parent.map(|p| crate::incr::classify(&mem, &img, p)).transpose()?;
    crate::incr::phase("compare");
    img.parent = plan.as_ref().map(|p| p.parent.clone());
    img.relayout();

    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o700)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => CrError::FileExists(path.into()),
            _ => CrError::Os(format!("create {path}"), e),
        })?;
    *created = true;
    // 0700 whatever our umask: an image must be executable to restart.
    out.set_permissions(std::fs::Permissions::from_mode(0o700)).map_err(os(format!("chmod {path}")))?;
    let empty: Vec<&[u8]> = vec![&[]; img.segments.len()];
    img.write_to(&empty, &mut out).map_err(|e| CrError::Os(format!("writing {path}"), std::io::Error::other(e.to_string())))?;
    match &plan {
        Some(p) => {
            crate::incr::write_runs(&mem, &out, &img, &p.runs, path)?;
        }
        None => write_all_pages(&mem, &out, &img, path)?,
    }
    crate::incr::phase("write");
    out.flush().map_err(os("flush"))?;
    // Memory of a task that died meanwhile reads as holes: make sure it
    // is still there, stopped, before calling the image good.
    getregs(pid)?;
    if inject::dying(pid) {
        return Err(CrError::TargetExited(pid));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMAPS: &str = "08048000-080e9000 r-xp 00000000 00:02 12          /bin/counter
Size:                644 kB
VmFlags: rd ex mr mw me
080ea000-080ed000 rw-p 000a1000 00:02 12          /bin/counter
Size:                 12 kB
VmFlags: rd wr mr mw me ac
0a000000-0a021000 rw-p 00000000 00:00 0           [heap]
VmFlags: rd wr mr mw me ac
bfd00000-bfd21000 rw-p 00000000 00:00 0           [stack]
Rss:                   8 kB
VmFlags: rd wr mr mw me gd ac
";

    #[test]
    fn smaps_lines_and_their_flags() {
        let m = parse_smaps(SMAPS);
        assert_eq!(m.len(), 4);
        assert_eq!((m[0].start, m[0].end, m[0].perms.as_str(), m[0].path.as_str()), (0x0804_8000, 0x080e_9000, "r-xp", "/bin/counter"));
        assert_eq!(m[1].offset, 0xa1000);
        assert_eq!(m[2].path, "[heap]");
        assert!(m[3].vmflags.iter().any(|f| f == "gd"));
        assert!(!m[2].vmflags.iter().any(|f| f == "gd"));
    }

    #[test]
    fn stat_fields_survive_a_comm_with_spaces_and_parens() {
        // pid (comm) state ppid pgrp session ...: field 4 is ppid.
        let s = Stat::parse("42 (a) b (c) S 1 42 42 0 -1 4194560 0 0 0 0 0 0 0 0 20 0 1 0 100 1000 50 4294967295 134512640 135184896 3217031152");
        assert_eq!((s.f(4), s.f(5), s.f(6)), (1, 42, 42));
        assert_eq!((s.f(18), s.f(19)), (20, 0));
        assert_eq!(s.f(26), 134512640);
        assert_eq!(s.f(28), 3217031152);
        assert_eq!(s.f(60), 0, "a missing field reads 0");
    }

    #[test]
    fn shared_objects_alias_only_when_pages_overlap() {
        // split halves of one mapping: disjoint pages of one object
        assert!(!shm_alias(&[(7, 0, 2), (7, 2, 2)]));
        // mremap(MREMAP_DONTUNMAP)-like: the same page twice
        assert!(shm_alias(&[(7, 0, 2), (9, 0, 1), (7, 1, 1)]));
        // another object at the same offsets
        assert!(!shm_alias(&[(7, 0, 2), (8, 0, 2)]));
    }

    #[test]
    fn smaps_inode_is_kept_for_shared_objects() {
        let m = parse_smaps("b7000000-b7001000 rw-s 00000000 00:01 1041                  /dev/zero (deleted)\nVmFlags: rd wr sh mr mw me ms\n");
        assert_eq!((m[0].inode, m[0].path.as_str()), (1041, "/dev/zero (deleted)"));
        assert!(m[0].vmflags.iter().any(|f| f == "sh"));
    }

    fn one(line: &str, flags: &str) -> MapLine {
        parse_smaps(&format!("{line}\nVmFlags: {flags}\n")).remove(0)
    }

    /// A lookup that finds `/data/db` (inode 77) and the directory `/data`.
    fn fs(path: &str) -> Option<(bool, u64)> {
        match path {
            "/data/db" => Some((true, 77)),
            "/data" => Some((false, 2)),
            _ => None,
        }
    }

    #[test]
    fn shared_file_mappings_are_taken_by_name() {
        // writable and read-only MAP_SHARED of a regular file
        let rw = one("b7000000-b7002000 rw-s 00003000 00:02 77    /data/db", "rd wr sh mr mw me ms");
        assert_eq!(classify(&rw, fs), Take::SharedFile);
        let ro = one("b7000000-b7002000 r--s 00000000 00:02 77    /data/db", "rd mr me ms");
        assert_eq!(classify(&ro, fs), Take::SharedFile);
        // private mappings of the same file are copied
        let private = one("b7000000-b7002000 rw-p 00000000 00:02 77    /data/db", "rd wr mr mw me ac");
        assert_eq!(classify(&private, fs), Take::Private);
    }

    #[test]
    fn shared_mappings_without_a_name_are_busy() {
        let busy = |line: &str, flags: &str| matches!(classify(&one(line, flags), fs), Take::Busy(_));
        let rw = "rd wr sh mr mw me ms";
        assert!(busy("b7000000-b7001000 rw-s 00000000 00:01 1040  /memfd:buf (deleted)", rw));
        assert!(busy("b7000000-b7001000 rw-s 00000000 00:01 32768 /SYSV00000000 (deleted)", rw));
        assert!(busy("b7000000-b7001000 rw-s 00000000 00:02 77    /data/db (deleted)", rw));
        assert!(busy("b7000000-b7001000 r--s 00000000 00:02 78    /data/gone", "rd mr me ms"));
        // the name now belongs to another file
        assert!(busy("b7000000-b7001000 rw-s 00000000 00:02 76    /data/db", rw));
        // not a regular file
        assert!(busy("b7000000-b7001000 rw-s 00000000 00:02 2     /data", rw));
        assert!(busy("b7000000-b7001000 rw-s 00000000 00:05 9     /dev/fb0", "rd wr sh mr mw me ms io pf"));
        // shared anonymous memory is neither
        let shm = one("b7000000-b7001000 rw-s 00000000 00:01 1041  /dev/zero (deleted)", rw);
        assert_eq!(classify(&shm, fs), Take::SharedAnon);
    }

    fn stack_t(sp: u32, flags: u32, size: u32) -> [u8; 12] {
        let mut b = [0u8; 12];
        for (k, v) in [sp, flags, size].iter().enumerate() {
            b[4 * k..4 * k + 4].copy_from_slice(&v.to_le_bytes());
        }
        b
    }

    #[test]
    fn stack_t_is_sp_flags_size() {
        assert_eq!(stored_altstack(&stack_t(0x0804_d000, 0, 0x2000)), (0x0804_d000, 0x2000, 0));
        assert_eq!(stored_altstack(&stack_t(0xb000_0000, SS_AUTODISARM, 8192)), (0xb000_0000, 8192, SS_AUTODISARM));
        // the bytes, not a struct of the host's layout
        let b = [0x00, 0xd0, 0x04, 0x08, 0, 0, 0, 0, 0x00, 0x40, 0, 0];
        assert_eq!(stored_altstack(&b), (0x0804_d000, 0x4000, 0));
    }

    #[test]
    fn stack_t_on_the_alt_stack_is_stored_without_ss_onstack() {
        assert_eq!(stored_altstack(&stack_t(0x1000_0000, SS_ONSTACK, 8192)), (0x1000_0000, 8192, 0));
        let f = SS_ONSTACK | SS_AUTODISARM;
        assert_eq!(stored_altstack(&stack_t(0x1000_0000, f, 8192)), (0x1000_0000, 8192, SS_AUTODISARM));
    }

    #[test]
    fn stack_t_disabled_is_stored_as_zeroes() {
        assert_eq!(stored_altstack(&stack_t(0, SS_DISABLE, 0)), (0, 0, SS_DISABLE));
        // whatever sp/size the kernel leaves with SS_DISABLE
        assert_eq!(stored_altstack(&stack_t(0x1234, SS_DISABLE, 99)), (0, 0, SS_DISABLE));
        for (sp, size, flags) in [(0x1234, 99, SS_DISABLE), (0x1000_0000, 8192, SS_ONSTACK)] {
            let (sp, size, flags) = stored_altstack(&stack_t(sp, flags, size));
            assert!(kckpt_image::sigaltstack_ok(sp, size, flags, TASK_SIZE));
        }
    }

    #[test]
    fn personality_is_hex_text() {
        assert_eq!(parse_personality("00000000\n"), Some(0));
        assert_eq!(parse_personality("00440000\n"), Some(0x0044_0000));
        assert_eq!(parse_personality("zz"), None);
    }

    #[test]
    fn status_fields_by_name() {
        let st = "Name:\tcounter\nUmask:\t0022\nThreads:\t1\nSigBlk:\t0000000000010000\n";
        assert_eq!(status_field(st, "Umask").unwrap(), "0022");
        assert_eq!(status_field(st, "SigBlk").unwrap(), "0000000000010000");
        assert!(status_field(st, "Uid").is_err());
    }
}
