//! Shared file mappings at `cr -r --userspace`: the files are opened before
//! the restorer, as binfmt_cr's `cr_open_mapped()` opens them before the
//! point of no return, and the restorer maps them again MAP_SHARED.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;

use kckpt_image::consts::*;
use kckpt_image::Image;

use crate::error::{CrError, Result};
use crate::sys;

/// The NT_FILE path of each shared file mapping (`SHARED|FILE`), as (VMA
/// index, path): the k-th file-backed VMA, shared or not, has the k-th
/// entry. The image passed kckpt-image's NT_FILE rules, so every such VMA
/// has its entry; one without is reported rather than guessed.
pub fn mapped_paths(img: &Image) -> Result<Vec<(usize, &[u8])>> {
    let mut entries = img.files.iter();
    let mut out = Vec::new();
    for (i, v) in img.state.vmas.iter().enumerate().filter(|(_, v)| v.flags & VMA_FILE != 0) {
        let e = entries.next().ok_or_else(|| CrError::BadImage(format!("NT_FILE lacks kckpt_vma {i}")))?;
        if v.flags == VMA_SHARED_FILE {
            out.push((i, e.path.as_slice()));
        }
    }
    Ok(out)
}

/// Open the file of a shared file mapping as the loader does: read-write
/// if the mapping was writable, else read-only; never following a last
/// symlink, never blocking (a FIFO put in its place); a regular file, on a
/// mount that allows exec if the mapping was executable. The descriptor
/// is moved to `min` or above.
pub fn open_mapped(path: &[u8], write: bool, exec: bool, min: i32) -> Result<i32> {
    let p = OsStr::from_bytes(path);
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(write)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open(p)
        .map_err(|e| CrError::Os(format!("cannot open {p:?} to map it again"), e))?;
    let md = f.metadata().map_err(|e| CrError::Os(format!("stat {p:?}"), e))?;
    let again = |why: &str| CrError::Os(format!("cannot map {p:?} again: {why}"), std::io::Error::from_raw_os_error(libc::ENOEXEC));
    if !md.is_file() {
        return Err(again("not a regular file"));
    }
    if exec && sys::noexec_mount(f.as_raw_fd())? {
        return Err(again("executable mapping on a noexec mount"));
    }
    sys::dup_at_least(f.as_raw_fd(), min)
}

#[cfg(test)]
mod tests {
    use super::*;
    use kckpt_image::Builder;

    #[test]
    fn each_shared_file_mapping_gets_the_entry_of_its_rank() {
        let (img, _) = Builder::new()
            .segment(0x0804_8000, 1, PF_R | PF_X, VMA_FILE, vec![])
            .file_mapping(0x0804_8000, 0x0804_9000, 0, "/bin/db")
            .segment(0x0900_0000, 1, PF_R | PF_W, VMA_HEAP, vec![])
            .shared_file(0x1000_0000, 2, PF_R | PF_W, 3, "/data/db")
            .shared_file(0x1100_0000, 1, PF_R, 0, "/data/log")
            .build();
        let got = mapped_paths(&img).unwrap();
        assert_eq!(got, vec![(2, &b"/data/db"[..]), (3, &b"/data/log"[..])]);
        let (mut img, _) = Builder::new().segment(0x1000_0000, 1, PF_R, VMA_SHARED_FILE, vec![]).build();
        assert!(mapped_paths(&img).is_err());
        img.state.vmas[0].flags = VMA_SHARED;
        assert!(mapped_paths(&img).unwrap().is_empty());
    }

    #[test]
    fn opens_regular_files_only_and_as_the_mapping_needs() {
        let dir = std::env::temp_dir().join(format!("cr-umapped-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("db");
        std::fs::write(&file, b"data").unwrap();
        let link = dir.join("link");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(&file, &link).unwrap();
        let path = |p: &std::path::Path| p.as_os_str().as_bytes().to_vec();

        let fd = open_mapped(&path(&file), true, false, 200).unwrap();
        assert!(fd >= 200);
        // SAFETY: integer arguments on our descriptor.
        let fl = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        assert_eq!(fl & libc::O_ACCMODE, libc::O_RDWR);
        sys::close(fd);
        let fd = open_mapped(&path(&file), false, false, 3).unwrap();
        // SAFETY: as above.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFL) } & libc::O_ACCMODE, libc::O_RDONLY);
        sys::close(fd);
        assert!(open_mapped(&path(&link), false, false, 3).is_err(), "a symlink is not followed");
        assert!(open_mapped(&path(&dir), false, false, 3).is_err(), "a directory is no regular file");
        assert!(open_mapped(&path(&dir.join("gone")), false, false, 3).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
