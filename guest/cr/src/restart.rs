//! `cr -r -f FILE`: restart an image by executing it (binfmt_cr). In the
//! foreground cr's exit status is the restarted process's.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;

use kckpt_image::{Image, Limits};

use crate::error::{CrError, Result};
use crate::sys::{self, Started};

/// Before the exec: the image passes kckpt-image's checks (the loader's
/// rules), so a refusal is named here rather than as the kernel's ENOEXEC.
/// Returns the image and the open file it was read from.
pub fn check_image(file: &str) -> Result<(Image, std::fs::File)> {
    let f = std::fs::File::open(file).map_err(|e| CrError::Os(format!("open {file}"), e))?;
    check_open(file, f)
}

/// [`check_image`] of an open image file (`file` names it in errors).
pub fn check_open(file: &str, f: std::fs::File) -> Result<(Image, std::fs::File)> {
    let md = f.metadata().map_err(|e| CrError::Os(format!("stat {file}"), e))?;
    kckpt_image::check_file_mode(md.mode()).map_err(|e| CrError::BadImage(format!("{file}: {e}")))?;
    let img = Image::parse_reader(&mut &f, &Limits::default()).map_err(|e| CrError::BadImage(format!("{file}: {e}")))?;
    Ok((img, f))
}

pub fn run(file: &str, detach: bool) -> Result<i32> {
    check_image(file)?;
    let path = CString::new(file).map_err(|_| CrError::Usage("NUL in file name".into()))?;
    // The child reports a failed exec through the pipe, so an exec error is
    // told apart from the restarted process's own status.
    match sys::fork_reporting(|_| (sys::exec(&path), 127))? {
        Started::Failed(e) => {
            let err = std::io::Error::from_raw_os_error(e);
            Err(if e == libc::ENOEXEC {
                CrError::BadImage(format!("{file}: the kernel refused it ({err}); see dmesg"))
            } else {
                CrError::Os(format!("exec {file}"), err)
            })
        }
        Started::Running(pid) => finish(file, pid, detach),
    }
}

/// A restarted process is running as `pid`: leave it (`--detach`) or
/// take its exit status as cr's.
pub fn finish(file: &str, pid: i32, detach: bool) -> Result<i32> {
    if detach {
        println!("cr: restarted {file} as pid {pid}");
        return Ok(0);
    }
    sys::wait_exit(pid)
}
