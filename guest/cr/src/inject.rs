//! `cr -p PID`: seize the target with ptrace, make it call sys_checkpoint
//! through an `int $0x80` in its vDSO, then put back exactly what it had
//! and detach. The image is patched to hold the target's original state.

use std::ffi::CString;
use std::fs::File;
use std::os::unix::fs::FileExt;

use crate::elf::Image;
use crate::error::{CrError, Result};

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

pub(crate) type Regs = libc::user_regs_struct;

pub(crate) fn ptrace(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> Result<libc::c_long> {
    // SAFETY: the requests used here take plain integers or pointers to
    // live, correctly sized buffers owned by the caller.
    let r = unsafe { libc::ptrace(req, pid, addr, data) };
    if r < 0 {
        return Err(CrError::last_os(format!("ptrace({req}) on {pid}")));
    }
    Ok(r)
}

pub(crate) fn getregs(pid: i32) -> Result<Regs> {
    // SAFETY: Regs is plain data; zeroed is a valid value.
    let mut r: Regs = unsafe { std::mem::zeroed() };
    ptrace(libc::PTRACE_GETREGS, pid, 0, &mut r as *mut Regs as usize)?;
    Ok(r)
}

pub(crate) fn setregs(pid: i32, r: &Regs) -> Result<()> {
    ptrace(libc::PTRACE_SETREGS, pid, 0, r as *const Regs as usize).map(|_| ())
}

/// Wait for a ptrace stop of `pid`; a target that exits is an error.
pub(crate) fn wait_stop(pid: i32) -> Result<i32> {
    let mut st = 0;
    // SAFETY: waiting for a tracee of ours.
    if unsafe { libc::waitpid(pid, &mut st, libc::__WALL) } < 0 {
        return Err(CrError::last_os("waitpid"));
    }
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
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).map_err(|e| CrError::Os("maps".into(), e))?;
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
    let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return true };
    let rest = s.rfind(')').map(|i| &s[i + 1..]).unwrap_or("");
    let mut f = rest.split_whitespace();
    let state = f.next().unwrap_or("X");
    let flags: u32 = f.nth(5).and_then(|x| x.parse().ok()).unwrap_or(0);
    const PF_EXITING: u32 = 4;
    matches!(state, "Z" | "X" | "x") || flags & PF_EXITING != 0
}

/// An error met while the target was being killed is "target exited".
pub(crate) fn exited_or(pid: i32, e: CrError) -> CrError {
    match e {
        CrError::TargetExited(_) | CrError::FileExists(_) | CrError::Usage(_) => e,
        _ if dying(pid) => CrError::TargetExited(pid),
        _ => e,
    }
}

/// PTRACE_SEIZE `pid`, mapping errors to cr's exit codes.
pub(crate) fn seize(pid: i32) -> Result<()> {
    // SAFETY: seizing a pid; failures come back as errno.
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, libc::PTRACE_O_TRACESYSGOOD) } < 0 {
        let e = std::io::Error::last_os_error();
        return Err(match e.raw_os_error() {
            Some(libc::ESRCH) => CrError::NoSuchPid(pid),
            Some(libc::EPERM) => CrError::NotPermitted(format!("cannot trace {pid}: {e}")),
            _ => CrError::Os(format!("PTRACE_SEIZE {pid}"), e),
        });
    }
    Ok(())
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
    setregs(pid, &call)?;
    let mut stops = 0;
    while stops < 2 {
        ptrace(libc::PTRACE_SYSCALL, pid, 0, 0)?;
        let st = wait_stop(pid)?;
        let sig = libc::WSTOPSIG(st);
        if sig == libc::SIGTRAP | 0x80 {
            stops += 1;
        } else if st >> 16 == 0 && sig != libc::SIGTRAP && sig != libc::SIGSTOP {
            *pending = sig;
        }
    }
    Ok(getregs(pid)?.eax as i32)
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
    // SAFETY: detaching our tracee.
    unsafe { libc::ptrace(libc::PTRACE_DETACH, pid, 0, 0) };
    if r.is_err() {
        let _ = std::fs::remove_file(&path);
    }
    r
}

fn inject(pid: i32, cpath: &CString, path: &str) -> Result<()> {
    ptrace(libc::PTRACE_INTERRUPT, pid, 0, 0)?;
    wait_stop(pid)?;
    let orig = getregs(pid)?;
    let resume = resume_regs(&orig);
    let mem = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/{pid}/mem"))
        .map_err(|e| CrError::Os(format!("/proc/{pid}/mem"), e))?;
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
    setregs(pid, &resume)?;
    if pending != 0 {
        // SAFETY: re-queue the held-back signal for the target.
        unsafe { libc::kill(pid, pending) };
    }
    if ret < 0 {
        let e = std::io::Error::from_raw_os_error(-ret);
        return Err(match -ret {
            libc::EEXIST => CrError::FileExists(path.into()),
            libc::EPERM | libc::EACCES => CrError::NotPermitted(format!("checkpoint of {pid}: {e}")),
            _ => CrError::Os(format!("sys_checkpoint in {pid}"), e),
        });
    }
    let img = Image::open(path)?;
    img.set_regs(&regs_array(&resume))?;
    img.write_mem(scratch, &saved)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interrupted_nanosleep_is_restarted() {
        // SAFETY: plain data.
        let mut r: Regs = unsafe { std::mem::zeroed() };
        r.orig_eax = 162;
        r.eax = (-ERESTART_RESTARTBLOCK) as _;
        r.eip = 0x1000;
        let o = resume_regs(&r);
        assert_eq!((o.eax, o.eip, o.orig_eax as i32), (162, 0xffe, -1));
        r.eax = (-4i32) as _; // EINTR: not restarted
        assert_eq!(resume_regs(&r).eip, 0x1000);
    }
}
