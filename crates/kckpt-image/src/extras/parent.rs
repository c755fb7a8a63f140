//! `KCKPT`/`NT_KCKPT_PARENT`: the parent of an incremental image — its
//! identity, the chain depth, the page ranges taken from it, its path.
//!
//! ```text
//! 0   u64 size        the parent file's size
//! 8   u64 hash        FNV-1a 64 of the parent's bytes up to the end of its notes
//! 16  u32 depth       1..=16
//! 20  u32 nr_ranges
//! 24  u32 path_len    with the NUL, 2..=4096
//! 28  u32 reserved    0
//! 32  {u32 vaddr, u32 npages}[nr_ranges]
//! ..  path, path_len bytes, zero padded to 4
//! ```

use crate::bytes::{pad4, u32_at, u64_at, Put};
use crate::consts::*;
use crate::model::{Segment, Vma};
use crate::{Error, PageRange, Parent, PAGE_SIZE, PATH_MAX};

/// Decode and check an `NT_KCKPT_PARENT` descriptor (the rules that need
/// only the note; [`check_ranges`] checks the ranges against the segments).
pub(crate) fn parse(d: &[u8]) -> Result<Parent, Error> {
    let descsz = d.len().min(u32::MAX as usize) as u32;
    let w = |o: usize| u32_at(d, o).unwrap_or(0);
    if d.len() < PARENT_HDR_SIZE {
        return Err(Error::ParentShort { descsz });
    }
    let (size, hash) = (u64_at(d, 0).unwrap_or(0), u64_at(d, 8).unwrap_or(0));
    let (depth, nr, path_len, reserved) = (w(16), w(20), w(24), w(28));
    if depth == 0 || depth > MAX_CHAIN_DEPTH {
        return Err(Error::ParentDepth { depth });
    }
    if reserved != 0 {
        return Err(Error::ParentReserved { value: reserved });
    }
    if !(2..=PATH_MAX).contains(&path_len) {
        return Err(Error::ParentPathLen { len: path_len });
    }
    let expected = PARENT_HDR_SIZE as u64 + 8 * nr as u64 + pad4(path_len as usize).unwrap_or(0) as u64;
    if d.len() as u64 != expected {
        return Err(Error::ParentSize { descsz, expected });
    }
    let mut ranges = Vec::with_capacity(nr as usize);
    let mut prev_end = 0u64;
    for k in 0..nr as usize {
        let r = PageRange { vaddr: w(PARENT_HDR_SIZE + 8 * k), npages: w(PARENT_HDR_SIZE + 8 * k + 4) };
        if r.npages == 0 || !r.vaddr.is_multiple_of(PAGE_SIZE) {
            return Err(Error::ParentRange { k, vaddr: r.vaddr, npages: r.npages });
        }
        if (r.vaddr as u64) < prev_end {
            return Err(Error::ParentRangeOrder { k, vaddr: r.vaddr });
        }
        prev_end = r.end();
        ranges.push(r);
    }
    let at = PARENT_HDR_SIZE + 8 * nr as usize;
    let all = d.get(at..).unwrap_or(&[]);
    let (p, pad) = all.split_at((path_len as usize).min(all.len()));
    if p.iter().position(|&c| c == 0) != Some(p.len() - 1) {
        return Err(Error::ParentPathNul);
    }
    if pad.iter().any(|&c| c != 0) {
        return Err(Error::ParentPadding);
    }
    Ok(Parent { path: p[..p.len() - 1].to_vec(), size, hash, depth, ranges })
}

/// Every range lies inside one segment whose pages are the image's own
/// (not a shared file mapping, whose data is the file's).
pub(crate) fn check_ranges(p: &Parent, segs: &[Segment], vmas: &[Vma]) -> Result<(), Error> {
    for (k, r) in p.ranges.iter().enumerate() {
        let i = segs.partition_point(|s| s.vaddr as u64 + s.memsz as u64 <= r.vaddr as u64);
        let inside = segs.get(i).is_some_and(|s| {
            s.vaddr <= r.vaddr && r.end() <= s.vaddr as u64 + s.memsz as u64 && vmas.get(i).is_some_and(|v| v.flags != VMA_SHARED_FILE)
        });
        if !inside {
            return Err(Error::ParentRangeOutside { k, vaddr: r.vaddr, npages: r.npages });
        }
    }
    Ok(())
}

pub(crate) fn encode(p: &Parent) -> Vec<u8> {
    let mut d = Vec::with_capacity(PARENT_HDR_SIZE + 8 * p.ranges.len() + p.path.len() + 4);
    d.u64(p.size);
    d.u64(p.hash);
    for x in [p.depth, p.ranges.len() as u32, p.path.len() as u32 + 1, 0] {
        d.u32(x);
    }
    for r in &p.ranges {
        d.u32(r.vaddr);
        d.u32(r.npages);
    }
    d.extend_from_slice(&p.path);
    d.push(0);
    d.pad_to4();
    d
}
