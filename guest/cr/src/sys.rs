//! The FFI edge: the ptrace requests and raw system calls cr makes, as
//! typed wrappers. Callers pass references and sizes the types fix, never
//! pointers as integers; the `unsafe` for them lives here.

use kckpt_image::consts::{FPREGS_SIZE, FXSAVE_SIZE};

use crate::error::{CrError, Result};

pub type Regs = libc::user_regs_struct;

/// PTRACE_GET_THREAD_AREA (asm/ptrace-abi.h): not in the libc crate.
const PTRACE_GET_THREAD_AREA: libc::c_uint = 25;

/// A ptrace request whose addr and data are plain integers.
fn ptrace_int(req: libc::c_uint, pid: i32, addr: usize, data: usize) -> Result<()> {
    // SAFETY: no pointer is passed: the kernel reads addr and data as values.
    if unsafe { libc::ptrace(req, pid, addr, data) } < 0 {
        return Err(CrError::last_os(format!("ptrace({req}) on {pid}")));
    }
    Ok(())
}

/// A ptrace request that fills `out` (whose size the request fixes).
fn ptrace_read<T: Copy>(req: libc::c_uint, pid: i32, addr: usize, out: &mut T) -> Result<()> {
    // SAFETY: `out` is a live, writable buffer of the size the request
    // writes (each caller names the request together with its type).
    if unsafe { libc::ptrace(req, pid, addr, out as *mut T) } < 0 {
        return Err(CrError::last_os(format!("ptrace({req}) on {pid}")));
    }
    Ok(())
}

/// PTRACE_SEIZE with PTRACE_O_TRACESYSGOOD; the OS error as it came.
pub fn seize(pid: i32) -> std::io::Result<()> {
    // SAFETY: no pointer is passed.
    if unsafe { libc::ptrace(libc::PTRACE_SEIZE, pid, 0, libc::PTRACE_O_TRACESYSGOOD) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

pub fn interrupt(pid: i32) -> Result<()> {
    ptrace_int(libc::PTRACE_INTERRUPT, pid, 0, 0)
}

/// Resume to the next system-call stop.
pub fn step_syscall(pid: i32) -> Result<()> {
    ptrace_int(libc::PTRACE_SYSCALL, pid, 0, 0)
}

/// Let the tracee go; it may be gone already, which is fine.
pub fn detach(pid: i32) {
    let _ = ptrace_int(libc::PTRACE_DETACH, pid, 0, 0);
}

/// All-zero registers (a starting value to fill in).
pub fn zero_regs() -> Regs {
    // SAFETY: Regs is plain integers; all-zero is a valid value.
    unsafe { std::mem::zeroed() }
}

pub fn getregs(pid: i32) -> Result<Regs> {
    let mut r = zero_regs();
    ptrace_read(libc::PTRACE_GETREGS, pid, 0, &mut r)?;
    Ok(r)
}

pub fn setregs(pid: i32, r: &Regs) -> Result<()> {
    // SAFETY: the kernel reads a user_regs_struct from `r`, which is one.
    if unsafe { libc::ptrace(libc::PTRACE_SETREGS, pid, 0, r as *const Regs) } < 0 {
        return Err(CrError::last_os(format!("PTRACE_SETREGS on {pid}")));
    }
    Ok(())
}

/// The i387 state (user_i387_struct).
pub fn getfpregs(pid: i32) -> Result<[u8; FPREGS_SIZE]> {
    let mut b = [0u8; FPREGS_SIZE];
    ptrace_read(libc::PTRACE_GETFPREGS, pid, 0, &mut b)?;
    Ok(b)
}

/// The fxsave area (user_fxsr_struct); an error without FXSR.
pub fn getfpxregs(pid: i32) -> Result<[u8; FXSAVE_SIZE]> {
    let mut b = [0u8; FXSAVE_SIZE];
    ptrace_read(libc::PTRACE_GETFPXREGS, pid, 0, &mut b)?;
    Ok(b)
}

/// The GDT TLS entry `entry` as a struct user_desc (16 bytes).
pub fn get_thread_area(pid: i32, entry: u32) -> Result<[u8; 16]> {
    let mut b = [0u8; 16];
    ptrace_read(PTRACE_GET_THREAD_AREA, pid, entry as usize, &mut b)?;
    Ok(b)
}

/// PTRACE_GETREGSET (linux/ptrace.h) and the XSAVE regset's note type.
const PTRACE_GETREGSET: libc::c_uint = 0x4204;
const NT_X86_XSTATE: usize = 0x202;

/// The XSAVE area of `pid` as PTRACE_GETREGSET(NT_X86_XSTATE) gives it
/// (what an ELF core dump's NT_X86_XSTATE holds): at most `max` bytes,
/// cut to the length the kernel wrote.
pub fn get_xstate(pid: i32, max: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; max];
    let mut iov = libc::iovec { iov_base: buf.as_mut_ptr().cast(), iov_len: buf.len() };
    // SAFETY: `iov` describes `buf`, live and writable for `iov_len` bytes;
    // the kernel writes at most that and updates `iov_len`.
    if unsafe { libc::ptrace(PTRACE_GETREGSET, pid, NT_X86_XSTATE, &mut iov as *mut libc::iovec) } < 0 {
        return Err(CrError::last_os(format!("PTRACE_GETREGSET(NT_X86_XSTATE) on {pid}")));
    }
    let n = iov.iov_len.min(max);
    buf.truncate(n);
    Ok(buf)
}

/// PTRACE_PEEKSIGINFO and its flag (linux/ptrace.h).
const PTRACE_PEEKSIGINFO: libc::c_uint = 0x4209;
pub const PTRACE_PEEKSIGINFO_SHARED: u32 = 1;
/// An i386 siginfo_t.
pub const SIGINFO_SIZE: usize = 128;

/// struct ptrace_peeksiginfo_args.
#[repr(C)]
struct PeekArgs {
    off: u64,
    flags: u32,
    nr: i32,
}

/// Up to `out.len()` queued siginfos of `pid` from position `off`
/// (the process's queue with `PTRACE_PEEKSIGINFO_SHARED`), without
/// dequeuing them; the number copied (0 past the end).
pub fn peek_siginfo(pid: i32, off: u64, flags: u32, out: &mut [[u8; SIGINFO_SIZE]]) -> Result<usize> {
    let args = PeekArgs { off, flags, nr: out.len() as i32 };
    // SAFETY: `args` is a live ptrace_peeksiginfo_args; `out` has room for
    // `nr` siginfos of the i386 size, which is what the kernel writes.
    let n = unsafe { libc::ptrace(PTRACE_PEEKSIGINFO, pid, &args as *const PeekArgs, out.as_mut_ptr()) };
    if n < 0 {
        return Err(CrError::last_os(format!("PTRACE_PEEKSIGINFO on {pid}")));
    }
    Ok(n as usize)
}

/// eventfd2(initval 0, flags): a new eventfd.
/// kcmp(KCMP_FILE): do `fd1` and `fd2` of `pid` refer to one open file?
pub fn same_file(pid: i32, fd1: u32, fd2: u32) -> bool {
    const KCMP_FILE: libc::c_long = 0;
    // SAFETY: kcmp takes integers only.
    unsafe { libc::syscall(libc::SYS_kcmp, pid, pid, KCMP_FILE, fd1 as libc::c_long, fd2 as libc::c_long) == 0 }
}

pub fn eventfd(flags: i32) -> std::io::Result<i32> {
    // SAFETY: integer arguments.
    let fd = unsafe { libc::eventfd(0, flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// waitpid(pid, __WALL); the raw status.
pub fn wait_all(pid: i32) -> Result<i32> {
    let mut st = 0;
    // SAFETY: `st` is a live int for the status.
    if unsafe { libc::waitpid(pid, &mut st, libc::__WALL) } < 0 {
        return Err(CrError::last_os("waitpid"));
    }
    Ok(st)
}

/// Send `sig` to `pid` (a held-back signal given back); best effort.
pub fn kill(pid: i32, sig: i32) {
    // SAFETY: plain values.
    unsafe { libc::kill(pid, sig) };
}

/// Block every signal (rt_sigprocmask with the kernel's 8-byte mask).
pub fn block_all_signals() -> Result<()> {
    let all: u64 = !0;
    // SAFETY: `all` is a live 8-byte mask, the size passed.
    if unsafe { libc::syscall(libc::SYS_rt_sigprocmask, libc::SIG_SETMASK, &all as *const u64, 0usize, 8usize) } < 0 {
        return Err(CrError::last_os("rt_sigprocmask"));
    }
    Ok(())
}

/// The kernel's i386 struct sigaction: handler, flags, restorer, mask.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KernelSigaction {
    pub handler: u32,
    pub flags: u32,
    pub restorer: u32,
    pub mask: [u32; 2],
}

/// rt_sigaction(sig, act, NULL, 8) with the kernel's struct, not libc's.
pub fn set_sigaction(sig: u32, act: &KernelSigaction) -> Result<()> {
    // SAFETY: `act` is a live struct of the layout the i386 kernel reads.
    let r = unsafe { libc::syscall(libc::SYS_rt_sigaction, sig, act as *const KernelSigaction, 0usize, 8usize) };
    if r < 0 {
        return Err(CrError::Os(format!("rt_sigaction({sig})"), std::io::Error::last_os_error()));
    }
    Ok(())
}

/// How a forked child that reports failure through a pipe started.
pub enum Started {
    /// It reported this number before reaching its point of no return (it
    /// has been reaped).
    Failed(i32),
    /// It got past that point (exec or the restorer closed the pipe).
    Running(i32),
}

/// Fork. The child runs `child` with the write end of a close-on-exec pipe:
/// when it passes its point of no return the pipe closes unseen; when it
/// returns `(report, exit)` instead, `report` goes to the parent and the
/// child `_exit`s with `exit`.
pub fn fork_reporting(child: impl FnOnce(i32) -> (i32, i32)) -> Result<Started> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(CrError::last_os("pipe2"));
    }
    // SAFETY: cr is single-threaded; the child only runs `child` and the
    // calls below before it ends.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(CrError::last_os("fork"));
    }
    if pid == 0 {
        // SAFETY: closing the child's copy of the read end.
        unsafe { libc::close(fds[0]) };
        let (report, exit) = child(fds[1]);
        // SAFETY: writing the 4 bytes of `report`, then leaving at once.
        unsafe {
            libc::write(fds[1], (&report as *const i32).cast(), 4);
            libc::_exit(exit);
        }
    }
    let mut report: i32 = 0;
    // SAFETY: closing our write end; reading at most 4 bytes into `report`.
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], (&mut report as *mut i32).cast(), 4);
        libc::close(fds[0]);
        n
    };
    if n == 4 {
        let _ = wait_exit(pid);
        return Ok(Started::Failed(report));
    }
    Ok(Started::Running(pid))
}

/// execv(path, [path]); returns only on failure, with errno.
pub fn exec(path: &std::ffi::CStr) -> i32 {
    let argv = [path.as_ptr(), std::ptr::null()];
    // SAFETY: path and argv are NUL-terminated and live for the call.
    unsafe { libc::execv(path.as_ptr(), argv.as_ptr()) };
    std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO)
}

/// Wait for child `pid`; its exit status, or 128 + the signal that ended it.
pub fn wait_exit(pid: i32) -> Result<i32> {
    let mut st = 0;
    // SAFETY: `st` is a live int for the status.
    if unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {
        return Err(CrError::last_os("waitpid"));
    }
    Ok(if libc::WIFEXITED(st) { libc::WEXITSTATUS(st) } else { 128 + libc::WTERMSIG(st) })
}

/// A duplicate of `fd` at the lowest free number >= `min` (F_DUPFD).
pub fn dup_at_least(fd: i32, min: i32) -> Result<i32> {
    // SAFETY: F_DUPFD takes an integer; a bad fd is an error return.
    let n = unsafe { libc::fcntl(fd, libc::F_DUPFD, min) };
    if n < 0 {
        return Err(CrError::last_os("F_DUPFD"));
    }
    Ok(n)
}

/// The data (non-hole) byte ranges of `fd` within `[off, off + len)`, as
/// (offset, length), from lseek's SEEK_DATA/SEEK_HOLE; a file system
/// without them reports everything as data.
pub fn data_ranges(fd: i32, off: u64, len: u64) -> Result<Vec<(u64, u64)>> {
    let end = off + len;
    let mut out = Vec::new();
    let mut pos = off;
    while pos < end {
        // SAFETY: integers only; errors come back as -1 with errno.
        let data = unsafe { libc::lseek64(fd, pos as i64, libc::SEEK_DATA) };
        if data < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::ENXIO) {
                break;
            }
            return Err(CrError::last_os("lseek SEEK_DATA"));
        }
        let data = data as u64;
        if data >= end {
            break;
        }
        // SAFETY: as above.
        let hole = unsafe { libc::lseek64(fd, data as i64, libc::SEEK_HOLE) };
        if hole < 0 {
            return Err(CrError::last_os("lseek SEEK_HOLE"));
        }
        let hole = (hole as u64).min(end);
        out.push((data, hole - data));
        pos = hole;
    }
    Ok(out)
}

/// Is the file system of `fd` mounted noexec (`ST_NOEXEC`)?
pub fn noexec_mount(fd: i32) -> Result<bool> {
    // SAFETY: statvfs is plain integers: all zeroes is a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: fstatvfs fills the struct we own; a bad fd is an error return.
    if unsafe { libc::fstatvfs(fd, &mut st) } < 0 {
        return Err(CrError::last_os("fstatvfs"));
    }
    Ok(st.f_flag & libc::ST_NOEXEC != 0)
}

/// Close a descriptor by number (one whose owner will never close it).
pub fn close(fd: i32) {
    // SAFETY: an integer; closing an unused number is a harmless EBADF.
    unsafe { libc::close(fd) };
}

/// Open `path` with `flags`, seek to `pos`, and put it at descriptor
/// `want` (close-on-exec as `flags` says). `ftype`, if not 0, is the
/// `S_IFMT` type the opened file must have. Only regular files must
/// seek: a device or directory that cannot is left where it opens.
pub fn reopen_at(path: &std::ffi::CStr, flags: i32, pos: u64, want: i32, ftype: u32) -> std::io::Result<()> {
    // SAFETY: path is NUL-terminated and live for the call.
    let fd = unsafe { libc::open(path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let r = place(fd, flags, pos, want, ftype);
    if fd != want {
        close(fd);
    }
    r
}

fn place(fd: i32, flags: i32, pos: u64, want: i32, ftype: u32) -> std::io::Result<()> {
    // SAFETY: a zeroed stat is a valid out-parameter for fstat.
    let mut st: libc::stat64 = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is live and the right type.
    if unsafe { libc::fstat64(fd, &mut st) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    let got = st.st_mode & libc::S_IFMT;
    if ftype != 0 && got != ftype {
        return Err(std::io::Error::other(format!("the file is now of type {got:o}, was {ftype:o}")));
    }
    // SAFETY: integer arguments on the descriptor just opened.
    if unsafe { libc::lseek64(fd, pos as i64, libc::SEEK_SET) } < 0 && got == libc::S_IFREG {
        return Err(std::io::Error::last_os_error());
    }
    if fd != want {
        dup_to(fd, want, flags & libc::O_CLOEXEC != 0)?;
    }
    Ok(())
}

/// `fd` duplicated onto `want` (replacing it), close-on-exec if asked.
pub fn dup_to(fd: i32, want: i32, cloexec: bool) -> std::io::Result<()> {
    let fl = if cloexec { libc::O_CLOEXEC } else { 0 };
    // SAFETY: integer arguments; `want` is replaced, as intended.
    if unsafe { libc::dup3(fd, want, fl) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The status flags F_SETFL can change (O_APPEND, O_NONBLOCK, …) of a record.
pub fn set_status_flags(fd: i32, flags: u32) -> std::io::Result<()> {
    // SAFETY: integer arguments.
    if unsafe { libc::fcntl(fd, libc::F_SETFL, (flags & !(libc::O_CLOEXEC as u32)) as i32) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// A pipe (close-on-exec), read end first.
pub fn pipe() -> Result<(std::fs::File, std::fs::File)> {
    use std::os::unix::io::FromRawFd;
    let mut p = [0i32; 2];
    // SAFETY: `p` holds the two descriptors pipe2 writes.
    if unsafe { libc::pipe2(p.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(CrError::last_os("pipe2"));
    }
    // SAFETY: both descriptors are new and owned by the Files from here.
    Ok(unsafe { (std::fs::File::from_raw_fd(p[0]), std::fs::File::from_raw_fd(p[1])) })
}

/// All of `data` written to `fd`.
pub fn write_all(fd: i32, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        // SAFETY: `data` is live for the call.
        let n = unsafe { libc::write(fd, data.as_ptr().cast(), data.len()) };
        if n <= 0 {
            return Err(if n < 0 { std::io::Error::last_os_error() } else { std::io::ErrorKind::WriteZero.into() });
        }
        data = &data[n as usize..];
    }
    Ok(())
}

/// An unlinked shared-memory file (memfd_create) named `name`, with
/// permission bits `mode`.
pub fn memfd(name: &std::ffi::CStr, mode: u32) -> std::io::Result<i32> {
    // SAFETY: NUL-terminated name.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: integer arguments on our descriptor.
    if unsafe { libc::fchmod(fd, mode) } < 0 {
        let e = std::io::Error::last_os_error();
        close(fd);
        return Err(e);
    }
    Ok(fd)
}

pub fn set_umask(mask: u32) {
    // SAFETY: an integer argument.
    unsafe { libc::umask(mask) };
}

/// A private read/write/exec anonymous mapping at exactly `addr`, unless
/// something is mapped there (MAP_FIXED_NOREPLACE).
pub fn map_rwx_at(addr: u32, len: u32) -> bool {
    // SAFETY: NOREPLACE never touches an existing mapping; the new one is
    // ours, and nothing refers to it yet.
    let p = unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len as usize,
            libc::PROT_READ | libc::PROT_WRITE | libc::PROT_EXEC,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    p as u32 == addr
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_ranges_cover_the_data_within_bounds() {
        use std::io::{Seek, SeekFrom, Write};
        use std::os::unix::io::AsRawFd;
        let path = std::env::temp_dir().join(format!("cr-ranges-{}", std::process::id()));
        let mut f = std::fs::File::create(&path).unwrap();
        f.write_all(&[1u8; 4096]).unwrap();
        f.seek(SeekFrom::Start(1 << 20)).unwrap();
        f.write_all(&[2u8; 4096]).unwrap();
        let r = data_ranges(f.as_raw_fd(), 0, (1 << 20) + 4096).unwrap();
        std::fs::remove_file(&path).unwrap();
        // Sorted, disjoint, inside the window, and covering both blocks
        // (a file system without SEEK_HOLE reports one range: all data).
        let mut at = 0;
        for &(off, len) in &r {
            assert!(off >= at && len > 0 && off + len <= (1 << 20) + 4096, "{r:?}");
            at = off + len;
        }
        let covers = |x: u64| r.iter().any(|&(o, l)| x >= o && x < o + l);
        assert!(covers(0) && covers(4095) && covers(1 << 20) && covers((1 << 20) + 4095), "{r:?}");
    }

    #[test]
    fn kernel_sigaction_is_the_i386_layout() {
        assert_eq!(std::mem::size_of::<KernelSigaction>(), 20);
        assert_eq!(std::mem::size_of::<Regs>(), 17 * 4);
    }

    #[test]
    fn a_child_reports_or_runs() {
        match fork_reporting(|_| (42, 3)).unwrap() {
            Started::Failed(r) => assert_eq!(r, 42),
            Started::Running(_) => panic!("the child reported"),
        }
        let Started::Running(pid) = fork_reporting(|w| {
            // Past the point of no return: the report pipe closes unseen.
            // SAFETY: closing the pipe, then leaving with status 5.
            unsafe {
                libc::close(w);
                libc::_exit(5)
            }
        })
        .unwrap() else {
            panic!("the child did not report")
        };
        assert_eq!(wait_exit(pid).unwrap(), 5);
        assert_eq!(exec(c"/nonexistent/kckpt"), libc::ENOENT);
    }

    #[test]
    fn descriptors_are_reopened_where_asked() {
        let p = std::env::temp_dir().join(format!("cr-sys-{}", std::process::id()));
        std::fs::write(&p, b"0123456789").unwrap();
        let c = std::ffi::CString::new(p.to_str().unwrap()).unwrap();
        let want = dup_at_least(0, 200).unwrap();
        reopen_at(&c, libc::O_RDONLY, 4, want, libc::S_IFREG).unwrap();
        let mut b = [0u8; 3];
        // SAFETY: reading into a live 3-byte buffer.
        assert_eq!(unsafe { libc::read(want, b.as_mut_ptr().cast(), 3) }, 3);
        assert_eq!(&b, b"456");
        close(want);
        assert!(reopen_at(c"/nonexistent/kckpt", libc::O_RDONLY, 0, want, 0).is_err());
        // a file that is now of another type is an error, not a wrong fd
        assert!(reopen_at(&c, libc::O_RDONLY, 0, want, libc::S_IFDIR).is_err());
        // close-on-exec survives the move to `want`
        reopen_at(&c, libc::O_RDONLY | libc::O_CLOEXEC, 0, want, 0).unwrap();
        // SAFETY: integer arguments.
        assert_eq!(unsafe { libc::fcntl(want, libc::F_GETFD) }, libc::FD_CLOEXEC);
        close(want);
        std::fs::remove_file(&p).unwrap();
    }

    #[test]
    fn memfd_has_the_mode_asked_and_no_name_in_the_tree() {
        let fd = memfd(c"x", 0o640).unwrap();
        write_all(fd, b"abc").unwrap();
        let md = std::fs::metadata(format!("/proc/self/fd/{fd}")).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert_eq!((md.mode() & 0o7777, md.len(), md.nlink()), (0o640, 3, 0));
        close(fd);
    }

    #[test]
    fn a_mapping_is_never_placed_over_another() {
        let addr = 0x3000_0000;
        assert!(map_rwx_at(addr, 4096));
        assert!(!map_rwx_at(addr, 4096), "NOREPLACE must refuse an occupied range");
    }

    #[test]
    fn wrappers_report_the_os_error() {
        // No such tracee: ESRCH through the typed wrappers, not a crash.
        let e = getregs(i32::MAX).unwrap_err();
        assert!(e.to_string().contains("PTRACE") || e.to_string().contains("ptrace"), "{e}");
        assert!(seize(i32::MAX).is_err());
    }
}
