//! NT_FILE: decoded as information, and checked as binfmt_cr's
//! `cr_open_mapped()` checks it when the image has a shared file mapping
//! (a `kckpt_vma` with flags exactly `SHARED|FILE`): then the loader opens
//! the file its entry names, so the entry must describe that VMA.

use crate::bytes::{u32_at, Rd};
use crate::consts::*;
use crate::model::{FileEntry, Vma};
use crate::{Error, PAGE_SIZE};

/// Decode what is well-formed (count, page size, {start, end, pgoff} x
/// count, C strings); without a shared file mapping nothing else is asked.
pub(crate) fn parse_file_note(d: &[u8]) -> Vec<FileEntry> {
    let mut r = Rd::new(d);
    let count = r.u32().unwrap_or(0) as usize;
    let _page = r.u32();
    let mut out = Vec::new();
    for _ in 0..count {
        match (r.u32(), r.u32(), r.u32()) {
            (Some(start), Some(end), Some(pgoff)) => out.push(FileEntry { start, end, pgoff, path: Vec::new() }),
            _ => return Vec::new(),
        }
    }
    let mut paths = d.get(r.pos..).unwrap_or(&[]).split(|&c| c == 0);
    for e in out.iter_mut() {
        e.path = paths.next().unwrap_or(&[]).to_vec();
    }
    out
}

/// The raw NT_FILE bytes when re-encoding the decoded entries would differ.
pub(crate) fn file_raw_if_odd(d: &[u8]) -> Vec<u8> {
    let decoded = parse_file_note(d);
    if crate::write::encode_files(&decoded) == d {
        Vec::new()
    } else {
        d.to_vec()
    }
}

/// The loader's NT_FILE rules, only if some VMA is a shared file mapping:
/// a header with page size 4096 and a count that fits; the k-th
/// file-backed VMA (shared or not) has the k-th entry and the k-th name
/// (non-empty, NUL-terminated in the note); a shared file mapping's entry
/// has its start, end and pgoff, and pgoff is at most 0xfffff.
pub(crate) fn check_mapped(d: &[u8], vmas: &[Vma]) -> Result<(), Error> {
    if !vmas.iter().any(|v| v.flags == VMA_SHARED_FILE) {
        return Ok(());
    }
    let size = d.len();
    let (Some(count), Some(page_size)) = (u32_at(d, 0), u32_at(d, 4)) else {
        return Err(Error::NtFileShort { size });
    };
    if page_size != PAGE_SIZE {
        return Err(Error::NtFilePageSize { page_size });
    }
    if count as usize > (size - 8) / 12 {
        return Err(Error::NtFileCount { count, size });
    }
    let mut name = 8 + 12 * count as usize;
    let mut k = 0usize;
    for (i, v) in vmas.iter().enumerate().filter(|(_, v)| v.flags & VMA_FILE != 0) {
        if k == count as usize || name == size {
            return Err(Error::NtFileLacksVma { i });
        }
        let rest = d.get(name..).unwrap_or(&[]);
        let len = match rest.iter().position(|&c| c == 0) {
            Some(len) if len > 0 => len,
            _ => return Err(Error::NtFileName { k }),
        };
        name += len + 1;
        k += 1;
        if v.flags & VMA_SHARED == 0 {
            continue; // a private copy, in the image
        }
        let e = 8 + 12 * (k - 1);
        let entry = [u32_at(d, e), u32_at(d, e + 4), u32_at(d, e + 8)];
        if entry != [Some(v.start), Some(v.end), Some(v.pgoff)] {
            return Err(Error::NtFileMismatch { k: k - 1, i });
        }
        if v.pgoff > SHARED_FILE_MAX_PGOFF {
            return Err(Error::NtFilePgoff { i, pgoff: v.pgoff });
        }
    }
    Ok(())
}
