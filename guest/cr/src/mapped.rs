//! An image file mapped read-only (no copy) with its data extents, as the
//! parent chain of an incremental image reads it (`kckpt_image::Source`):
//! holes are known from SEEK_DATA/SEEK_HOLE and never touched, so reading
//! a sparse parent allocates nothing on tmpfs.

use std::os::unix::io::AsRawFd;
use std::path::Path;

use kckpt_image::{Chain, Source};

use crate::error::{CrError, Result};

/// linux/mman.h: populate (prefault) page tables readable.
const MADV_POPULATE_READ: libc::c_int = 22;

pub struct Mapped {
    ptr: *mut libc::c_void,
    len: usize,
    /// (offset, length) of the file's data, ascending.
    data: Vec<(u64, u64)>,
}

impl Mapped {
    pub fn open(path: &Path) -> std::io::Result<Mapped> {
        let f = std::fs::File::open(path)?;
        let len = usize::try_from(f.metadata()?.len()).map_err(std::io::Error::other)?;
        let data = crate::sys::data_ranges(f.as_raw_fd(), 0, len as u64).unwrap_or_else(|_| vec![(0, len as u64)]);
        if len == 0 {
            return Ok(Mapped { ptr: std::ptr::null_mut(), len, data });
        }
        // SAFETY: a fresh read-only private mapping of an open file; kept
        // until Drop, never written.
        let ptr = unsafe { libc::mmap(std::ptr::null_mut(), len, libc::PROT_READ, libc::MAP_PRIVATE, f.as_raw_fd(), 0) };
        if ptr == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error());
        }
        // Map the data pages in one call each extent rather than one
        // fault per page (costly under TCG); holes stay untouched (a
        // fault there would allocate a page of a tmpfs file). Best effort:
        // without MADV_POPULATE_READ (5.14) the pages fault in one by one.
        for &(o, l) in &data {
            let start = o & !4095;
            // SAFETY: a range inside our own mapping; advice only.
            unsafe { libc::madvise((ptr as *mut u8).add(start as usize).cast(), (o + l - start) as usize, MADV_POPULATE_READ) };
        }
        Ok(Mapped { ptr, len, data })
    }
}

impl Drop for Mapped {
    fn drop(&mut self) {
        if self.len != 0 {
            // SAFETY: our own mapping, unmapped once.
            unsafe { libc::munmap(self.ptr, self.len) };
        }
    }
}

impl Source for Mapped {
    fn bytes(&self) -> &[u8] {
        if self.len == 0 {
            return &[];
        }
        // SAFETY: `len` readable bytes mapped at `ptr` while self lives.
        unsafe { std::slice::from_raw_parts(self.ptr as *const u8, self.len) }
    }
    fn has_data(&self, off: u64) -> bool {
        let i = self.data.partition_point(|&(o, l)| o + l <= off);
        self.data.get(i).is_some_and(|&(o, _)| o < off + 4096)
    }
}

/// The chain of the image at `path`, every link checked; a broken chain is
/// an invalid image (exit 7), named.
pub fn open_chain(path: &str) -> Result<Chain<Mapped>> {
    Chain::open(Path::new(path), Mapped::open).map_err(|e| CrError::BadImage(format!("{path}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::FileExt;

    #[test]
    fn holes_are_known_and_data_is_mapped() {
        let p = std::env::temp_dir().join(format!("cr-mapped-{}", std::process::id()));
        let f = std::fs::File::create(&p).unwrap();
        f.write_all_at(&[7u8; 4096], 0).unwrap();
        f.write_all_at(&[9u8; 4096], 64 * 4096).unwrap();
        f.set_len(80 * 4096).unwrap();
        let m = Mapped::open(&p).unwrap();
        assert_eq!(m.bytes().len(), 80 * 4096);
        assert_eq!((m.bytes()[0], m.bytes()[64 * 4096]), (7, 9));
        assert!(m.has_data(0) && m.has_data(64 * 4096));
        // a file system without SEEK_DATA reports all data: only check
        // holes where it told us of any
        if m.data.len() > 1 {
            assert!(!m.has_data(4096) && !m.has_data(63 * 4096) && !m.has_data(65 * 4096));
        }
        std::fs::remove_file(&p).unwrap();
    }
}
