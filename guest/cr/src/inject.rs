//! `cr -p PID`: seize the target with ptrace, make it call sys_checkpoint
//! through an `int $0x80` in its vDSO, then put back exactly what it had
//! and detach. The image is patched to hold the target's original state.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::fs::FileExt;

use kckpt_image::consts::{NT_PRSTATUS, PRSTATUS_REG_OFF};
use kckpt_image::{Image, Limits};

use crate::error::{CrError, Result};
use crate::sys;

/// The checkpoint syscall number, from the generated header's value.
pub const NR_CHECKPOINT: u32 = match option_env!("KCKPT_NR_CHECKPOINT") {
    Some(s) => parse_u32(s),
    None => 327,
};

const fn parse_u32(s: &str) -> u32 {
    let b = s.as_bytes();
    let mut i = 0;
    let mut v = 0u32;
    while i < b.len() {
        v = v * 10 + (b[i] - b'0') as u32;
        i += 1;
    }
    v
}

const ERESTARTSYS: i32 = 512;
const ERESTARTNOINTR: i32 = 513;
const ERESTARTNOHAND: i32 = 514;
const ERESTART_RESTARTBLOCK: i32 = 516;

pub(crate) use crate::sys::Regs;

/// Wait for a ptrace stop of `pid`; a target that exits is an error.
pub(crate) fn wait_stop(pid: i32) -> Result<i32> {
    let st = sys::wait_all(pid)?;
    if libc::WIFEXITED(st) || libc::WIFSIGNALED(st) {
        return Err(CrError::TargetExited(pid));
    }
    Ok(st)
}

/// The registers a stopped task resumes with: an interrupted syscall that
/// the kernel would restart is set up to run again, as the kernel would.
pub fn resume_regs(r: &Regs) -> Regs {
    let mut o = *r;
    if (r.orig_eax as i32) >= 0 {
        let e = -(r.eax as i32);
        if [ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND, ERESTART_RESTARTBLOCK].contains(&e) {
            // RESTART_RESTARTBLOCK would use restart_syscall(), whose
            // state does not survive a checkpoint: run the call again.
            o.eax = r.orig_eax;
            o.eip = r.eip.wrapping_sub(2);
        }
    }
    o.orig_eax = -1i32 as _;
    o
}

pub(crate) fn regs_array(r: &Regs) -> [u32; 17] {
    [
        r.ebx as u32, r.ecx as u32, r.edx as u32, r.esi as u32, r.edi as u32, r.ebp as u32, r.eax as u32,
        r.xds as u32, r.xes as u32, r.xfs as u32, r.xgs as u32, r.orig_eax as u32, r.eip as u32, r.xcs as u32,
        r.eflags as u32, r.esp as u32, r.xss as u32,
    ]
}

/// An `int $0x80` instruction in the target's vDSO.
pub(crate) fn find_int80(pid: i32, mem: &File) -> Result<u32> {
    let maps = read_proc(pid, "maps")?;
    let line = maps
        .lines()
        .find(|l| l.ends_with("[vdso]"))
        .ok_or_else(|| CrError::NotPermitted(format!("process {pid} has no vDSO to borrow int $0x80 from")))?;
    let (a, b) = line.split_whitespace().next().unwrap_or("").split_once('-').unwrap_or(("", ""));
    let (a, b) = (u32::from_str_radix(a, 16).unwrap_or(0), u32::from_str_radix(b, 16).unwrap_or(0));
    let mut text = vec![0u8; b.saturating_sub(a) as usize];
    mem.read_exact_at(&mut text, a as u64).map_err(|e| CrError::Os("reading the vDSO".into(), e))?;
    text.windows(2)
        .position(|w| w == [0xcd, 0x80])
        .map(|i| a + i as u32)
        .ok_or_else(|| CrError::NotPermitted("no int $0x80 in the vDSO".into()))
}

pub(crate) fn absolute(file: &str) -> Result<String> {
    if file.starts_with('/') {
        return Ok(file.to_string());
    }
    let cwd = std::env::current_dir().map_err(|e| CrError::Os("getcwd".into(), e))?;
    Ok(format!("{}/{file}", cwd.display()))
}

/// Is `pid` gone or on its way out (zombie, or PF_EXITING)?
pub(crate) fn dying(pid: i32) -> bool {
    // Without a readable /proc nothing can be told: not "dying".
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return std::path::Path::new("/proc/self/stat").exists();
    };
    let rest = s.rfind(')').map(|i| &s[i + 1..]).unwrap_or("");
    let mut f = rest.split_whitespace();
    let state = f.next().unwrap_or("X");
    let flags: u32 = f.nth(5).and_then(|x| x.parse().ok()).unwrap_or(0);
    const PF_EXITING: u32 = 4;
    matches!(state, "Z" | "X" | "x") || flags & PF_EXITING != 0
}

/// An error met while the target was being killed is "target exited".
/// ESRCH from a request on the seized, stopped target means it is not
/// stopped any more: only SIGKILL does that, so it is on its way out even
/// while /proc does not show it exiting yet.
pub(crate) fn exited_or(pid: i32, e: CrError) -> CrError {
    match e {
        CrError::TargetExited(_) | CrError::FileExists(_) | CrError::Usage(_) => e,
        CrError::Os(_, ref err) if err.raw_os_error() == Some(libc::ESRCH) => CrError::TargetExited(pid),
        _ if dying(pid) => CrError::TargetExited(pid),
        _ => e,
    }
}

/// PTRACE_SEIZE `pid`, mapping errors to cr's exit codes.
pub(crate) fn seize(pid: i32) -> Result<()> {
    sys::seize(pid).map_err(|e| match e.raw_os_error() {
        Some(libc::ESRCH) => CrError::NoSuchPid(pid),
        Some(libc::EPERM) => CrError::NotPermitted(format!("cannot trace {pid}: {e}")),
        _ => CrError::Os(format!("PTRACE_SEIZE {pid}"), e),
    })
}

/// /proc/PID/NAME of the target. A missing entry is told apart: the
/// target gone (exit 5), or /proc itself not mounted or not readable.
pub(crate) fn read_proc(pid: i32, name: &str) -> Result<String> {
    let p = format!("/proc/{pid}/{name}");
    std::fs::read_to_string(&p).map_err(|e| proc_error(pid, &p, e))
}

/// What a failed access to `path` under /proc/PID means.
pub(crate) fn proc_error(pid: i32, path: &str, e: std::io::Error) -> CrError {
    let gone = matches!(e.raw_os_error(), Some(libc::ESRCH) | Some(libc::ENOENT));
    match (gone, std::path::Path::new("/proc/self/stat").exists(), std::path::Path::new(&format!("/proc/{pid}")).exists()) {
        (true, false, _) => CrError::Os(format!("{path}: /proc is not mounted"), e),
        (true, true, false) => CrError::TargetExited(pid),
        _ => CrError::Os(path.to_string(), e),
    }
}

/// Run one system call in the stopped tracee `pid`: `base` registers with
/// eax = `nr`, ebx.. = `args`, eip at an `int $0x80`. Returns eax after the
/// call; a signal that arrives meanwhile is recorded in `pending`.
pub(crate) fn syscall_in(pid: i32, int80: u32, base: &Regs, nr: u32, args: &[u32], pending: &mut i32) -> Result<i32> {
    let mut call = *base;
    call.eax = nr as _;
    let slots: [&mut _; 6] = [&mut call.ebx, &mut call.ecx, &mut call.edx, &mut call.esi, &mut call.edi, &mut call.ebp];
    for (slot, &a) in slots.into_iter().zip(args) {
        *slot = a as _;
    }
    call.eip = int80 as _;
    call.orig_eax = -1i32 as _;
    sys::setregs(pid, &call)?;
    let mut stops = 0;
    while stops < 2 {
        sys::step_syscall(pid)?;
        let st = wait_stop(pid)?;
        let sig = libc::WSTOPSIG(st);
        if sig == libc::SIGTRAP | 0x80 {
            stops += 1;
        } else if st >> 16 == 0 && sig != libc::SIGTRAP && sig != libc::SIGSTOP {
            *pending = sig;
        }
    }
    Ok(sys::getregs(pid)?.eax as i32)
}

pub fn checkpoint(pid: i32, file: &str) -> Result<()> {
    let path = absolute(file)?;
    if std::fs::symlink_metadata(&path).is_ok() {
        return Err(CrError::FileExists(path));
    }
    let cpath = CString::new(path.clone()).map_err(|_| CrError::Usage("NUL in file name".into()))?;
    seize(pid)?;
    let r = inject(pid, &cpath, &path).map_err(|e| exited_or(pid, e));
    // Whatever happened, let the target go (it may be gone already).
    sys::detach(pid);
    if r.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    r
}

fn inject(pid: i32, cpath: &CString, path: &str) -> Result<()> {
    sys::interrupt(pid)?;
    wait_stop(pid)?;
    let orig = sys::getregs(pid)?;
    let resume = resume_regs(&orig);
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| proc_error(pid, &format!("/proc/{pid}/mem"), e))?;
    let int80 = find_int80(pid, &mem)?;
    // The path goes on the target's stack, well below its stack pointer.
    let bytes = cpath.as_bytes_with_nul();
    let scratch = (orig.esp as u32).wrapping_sub(512 + bytes.len() as u32) & !15;
    let mut saved = vec![0u8; bytes.len()];
    mem.read_exact_at(&mut saved, scratch as u64).map_err(|e| CrError::Os("reading the stack".into(), e))?;
    mem.write_all_at(bytes, scratch as u64).map_err(|e| CrError::Os("writing the stack".into(), e))?;
    // Signals that arrive during the call are held back and delivered
    // after detach.
    let mut pending = 0;
    let ret = syscall_in(pid, int80, &resume, NR_CHECKPOINT, &[scratch], &mut pending)?;
    mem.write_all_at(&saved, scratch as u64).map_err(|e| CrError::Os("restoring the stack".into(), e))?;
    sys::setregs(pid, &resume)?;
    if pending != 0 {
        // The held-back signal, back to the target.
        sys::kill(pid, pending);
    }
    if ret < 0 {
        let e = std::io::Error::from_raw_os_error(-ret);
        return Err(match -ret {
            libc::EEXIST => CrError::FileExists(path.into()),
            libc::EPERM | libc::EACCES => CrError::NotPermitted(format!("checkpoint of {pid}: {e}")),
            _ => CrError::Os(format!("sys_checkpoint in {pid}"), e),
        });
    }
    patch_image(path, &regs_array(&resume), scratch, &saved)
}

/// Make the kernel's image of the injected call hold the target's own
/// state: its registers in NT_PRSTATUS, and the stack bytes cr borrowed.
/// The image is located through kckpt-image, which validates it first.
fn patch_image(path: &str, regs: &[u32; 17], addr: u32, data: &[u8]) -> Result<()> {
    let f = std::fs::OpenOptions::new().read(true).write(true).open(path).map_err(|e| CrError::Os(format!("open {path}"), e))?;
    let img = Image::parse_reader(&mut &f, &Limits::default()).map_err(|e| CrError::BadImage(format!("{path}: {e}")))?;
    let (regs_at, data_at) = patch_offsets(&img, addr, data.len()).map_err(|m| CrError::BadImage(format!("{path}: {m}")))?;
    let b: Vec<u8> = regs.iter().flat_map(|r| r.to_le_bytes()).collect();
    f.write_all_at(&b, regs_at).map_err(|e| CrError::Os("writing registers into the image".into(), e))?;
    f.write_all_at(data, data_at).map_err(|e| CrError::Os("writing memory into the image".into(), e))
}

/// File offsets of NT_PRSTATUS's pr_reg and of user address `addr` (`len`
/// bytes, in one segment) in a parsed image.
pub(crate) fn patch_offsets(img: &Image, addr: u32, len: usize) -> std::result::Result<(u64, u64), String> {
    let pr = img
        .notes
        .iter()
        .find(|n| n.ntype == NT_PRSTATUS && n.name == "CORE")
        .ok_or("no NT_PRSTATUS note")?;
    let seg = img
        .segments
        .iter()
        .find(|s| addr >= s.vaddr && (addr - s.vaddr) as u64 + len as u64 <= s.memsz as u64)
        .ok_or_else(|| format!("no segment holds {addr:#x}+{len}"))?;
    Ok(((pr.desc_offset + PRSTATUS_REG_OFF) as u64, seg.offset as u64 + (addr - seg.vaddr) as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn esrch_from_the_stopped_target_is_target_exited() {
        // A pid that is not ours and not dying: only the ESRCH decides.
        let me = std::process::id() as i32;
        let gone = CrError::Os("PTRACE_SETREGS on 1".into(), std::io::Error::from_raw_os_error(libc::ESRCH));
        assert!(matches!(exited_or(me, gone), CrError::TargetExited(p) if p == me));
        let other = CrError::Os("write".into(), std::io::Error::from_raw_os_error(libc::ENOSPC));
        assert!(matches!(exited_or(me, other), CrError::Os(..)));
    }

    #[test]
    fn interrupted_nanosleep_is_restarted() {
        let mut r = sys::zero_regs();
        r.orig_eax = 162;
        r.eax = (-ERESTART_RESTARTBLOCK) as _;
        r.eip = 0x1000;
        let o = resume_regs(&r);
        assert_eq!((o.eax, o.eip, o.orig_eax as i32), (162, 0xffe, -1));
        r.eax = (-4i32) as _; // EINTR: not restarted
        assert_eq!(resume_regs(&r).eip, 0x1000);
    }

    #[test]
    fn patch_offsets_find_pr_reg_and_memory_in_a_real_image() {
        let bytes = include_bytes!("../../../tests/fuzz-seeds/tiny.kckpt");
        let img = Image::parse(bytes).unwrap();
        let s = img.segments.iter().find(|s| s.memsz >= 0x2000).unwrap();
        let (regs_at, mem_at) = patch_offsets(&img, s.vaddr + 0x1004, 8).unwrap();
        // pr_reg starts with ebx: the file holds the parsed value there.
        let at = regs_at as usize;
        assert_eq!(u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()), img.prstatus.regs.to_array()[0]);
        assert_eq!(mem_at, s.offset as u64 + 0x1004);
        let end = img.segments.iter().map(|s| s.vaddr + s.memsz).max().unwrap();
        assert!(patch_offsets(&img, end, 4).is_err());
        assert!(patch_offsets(&img, s.vaddr + s.memsz - 2, 4).is_err(), "straddling the end of a segment");
    }

    #[test]
    fn proc_errors_say_what_failed() {
        let e = std::io::Error::from_raw_os_error(libc::EACCES);
        assert!(matches!(proc_error(1, "/proc/1/mem", e), CrError::Os(..)));
    }
}
