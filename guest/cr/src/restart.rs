//! `cr -r -f FILE`: restart an image by executing it (binfmt_cr). In the
//! foreground cr's exit status is the restarted process's.

use std::ffi::CString;

use crate::error::{CrError, Result};

pub fn run(file: &str, detach: bool) -> Result<i32> {
    crate::elf::check_image_file(file)?;
    let path = CString::new(file).map_err(|_| CrError::Usage("NUL in file name".into()))?;
    // The child reports a failed exec through a close-on-exec pipe, so an
    // exec error is told apart from the restarted process's own status.
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(CrError::last_os("pipe2"));
    }
    // SAFETY: fork in a single-threaded program; the child only calls
    // async-signal-safe functions (execv, write, _exit) before exec.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(CrError::last_os("fork"));
    }
    if pid == 0 {
        let argv = [path.as_ptr(), std::ptr::null()];
        // SAFETY: path and argv are valid NUL-terminated for the call; the
        // errno buffer is 4 bytes.
        unsafe {
            libc::close(fds[0]);
            libc::execv(path.as_ptr(), argv.as_ptr());
            let e = *libc::__errno_location();
            libc::write(fds[1], (&e as *const i32).cast(), 4);
            libc::_exit(127);
        }
    }
    // SAFETY: closing our copy of the write end; reading 4 bytes into e.
    let mut e: i32 = 0;
    let n = unsafe {
        libc::close(fds[1]);
        let n = libc::read(fds[0], (&mut e as *mut i32).cast(), 4);
        libc::close(fds[0]);
        n
    };
    if n == 4 {
        let mut st = 0;
        // SAFETY: reap the child that failed to exec.
        unsafe { libc::waitpid(pid, &mut st, 0) };
        let err = std::io::Error::from_raw_os_error(e);
        return Err(if e == libc::ENOEXEC {
            CrError::BadImage(format!("{file}: the kernel refused it ({err}); see dmesg"))
        } else {
            CrError::Os(format!("exec {file}"), err)
        });
    }
    if detach {
        println!("cr: restarted {file} as pid {pid}");
        return Ok(0);
    }
    let mut st = 0;
    // SAFETY: waiting for our own child.
    if unsafe { libc::waitpid(pid, &mut st, 0) } < 0 {
        return Err(CrError::last_os("waitpid"));
    }
    if libc::WIFEXITED(st) {
        Ok(libc::WEXITSTATUS(st))
    } else {
        Ok(128 + libc::WTERMSIG(st))
    }
}
