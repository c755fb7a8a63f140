//! Incremental images: the chain from an image through its `NT_KCKPT_PARENT`
//! links down to a complete image, each link checked (present, unchanged,
//! valid, depth, no cycle, every page taken from a parent held by it);
//! the page an address resolves to; and flattening into one complete image.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use crate::bytes::u32_at;
use crate::consts::*;
use crate::model::{Image, PAGE_SIZE_USIZE};
use crate::{Error, Sink, PAGE_SIZE};

/// An image file's bytes as a chain reads them: the whole file (a `Vec`
/// in tests, an `mmap` in cr) and, optionally, where its holes are, so
/// that a sparse file's holes need not be touched.
pub trait Source {
    /// The whole file.
    fn bytes(&self) -> &[u8];
    /// False when the file's page at `off` is known to be a hole (reads
    /// as zeroes); true when it may hold data.
    fn has_data(&self, _off: u64) -> bool {
        true
    }
}

impl Source for Vec<u8> {
    fn bytes(&self) -> &[u8] {
        self
    }
}

/// The identity a child records of its parent: (file size, FNV-1a 64 of
/// the bytes from 0 to the end of the `PT_NOTE` segment). It catches a
/// parent replaced by another image (other registers, pids, VMAs,
/// descriptors, parent...) or truncated/extended; not a change to
/// segment data alone, which would cost reading the whole parent.
pub fn identity(file: &[u8]) -> (u64, u64) {
    let note_end = u32_at(file, EHDR_SIZE + 4)
        .zip(u32_at(file, EHDR_SIZE + 16))
        .map_or(0, |(o, s)| o as usize + s as usize)
        .min(file.len());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in &file[..note_end] {
        h = (h ^ b as u64).wrapping_mul(0x0100_0000_01b3);
    }
    (file.len() as u64, h)
}

/// The parent path a child at `child` records for the parent at
/// `parent`: relative to the child's directory when the parent lies in
/// it or below (so a directory of images can move as a whole), else
/// absolute. Both paths must be absolute.
pub fn path_for_child(parent: &Path, child: &Path) -> Vec<u8> {
    let dir = child.parent().unwrap_or(Path::new("/"));
    match parent.strip_prefix(dir) {
        Ok(rel) if !rel.as_os_str().is_empty() => rel.as_os_str().as_bytes().to_vec(),
        _ => parent.as_os_str().as_bytes().to_vec(),
    }
}

/// Where the parent named `p` by the image at `child` is: `p` itself if
/// absolute, else `p` in the child's directory.
pub fn parent_path(child: &Path, p: &[u8]) -> PathBuf {
    let p = Path::new(OsStr::from_bytes(p));
    if p.is_absolute() {
        return p.to_path_buf();
    }
    child.parent().unwrap_or(Path::new("")).join(p)
}

/// One image of a chain.
pub struct Link<S> {
    pub path: PathBuf,
    pub img: Image,
    pub src: S,
}

/// An image and its ancestors: `links[0]` is the image, `links[k + 1]`
/// the parent of `links[k]`, the last one complete.
pub struct Chain<S> {
    pub links: Vec<Link<S>>,
}

fn shown(p: &Path) -> String {
    p.display().to_string()
}

impl<S: Source> Chain<S> {
    /// Open the image at `path` and every ancestor (`load` opens one
    /// file) and check the chain: each parent present, with the identity
    /// its child recorded, a valid image, at the depth its child says,
    /// never twice; each page a child takes from its parent a hole in the
    /// child and inside one of the parent's private segments.
    pub fn open(path: &Path, mut load: impl FnMut(&Path) -> std::io::Result<S>) -> Result<Self, Error> {
        let src = load(path).map_err(|e| Error::Io(format!("{}: {e}", shown(path))))?;
        let img = Image::parse(src.bytes())?;
        let mut seen = HashSet::new();
        seen.insert(std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()));
        let mut links = vec![Link { path: path.to_path_buf(), img, src }];
        while let Some(p) = links.last().and_then(|l| l.img.parent.clone()) {
            let child = &links[links.len() - 1];
            let pp = parent_path(&child.path, &p.path);
            let name = shown(&pp);
            if !seen.insert(std::fs::canonicalize(&pp).unwrap_or_else(|_| pp.clone())) {
                return Err(Error::ChainCycle { path: name });
            }
            let src = load(&pp).map_err(|e| Error::ParentMissing { path: name.clone(), err: e.to_string() })?;
            let (size, hash) = identity(src.bytes());
            for (what, recorded, found) in [("size", p.size, size), ("header hash", p.hash, hash)] {
                if recorded != found {
                    return Err(Error::ParentChanged { path: name, what, recorded, found });
                }
            }
            let img = Image::parse(src.bytes()).map_err(|e| Error::ParentInvalid { path: name.clone(), err: e.to_string() })?;
            let depth = img.parent.as_ref().map_or(0, |q| q.depth);
            if depth + 1 != p.depth {
                return Err(Error::ChainDepth { path: name, depth, expected: p.depth - 1 });
            }
            links.push(Link { path: pp, img, src });
        }
        let chain = Chain { links };
        chain.check_ranges()?;
        Ok(chain)
    }

    /// Links above the complete image at the bottom (0: `links[0]` is complete).
    pub fn depth(&self) -> u32 {
        self.links[0].img.parent.as_ref().map_or(0, |p| p.depth)
    }

    fn check_ranges(&self) -> Result<(), Error> {
        for (k, l) in self.links.iter().enumerate() {
            let Some(p) = &l.img.parent else { continue };
            for r in &p.ranges {
                for n in 0..r.npages {
                    let addr = r.vaddr + n * PAGE_SIZE;
                    if own_page(l, addr).flatten().is_some_and(|d| d.iter().any(|&b| b != 0)) {
                        return Err(Error::ParentRangeHasData { vaddr: addr });
                    }
                    if self.page(k + 1, addr).is_none() {
                        return Err(Error::ParentLacksPage { path: shown(&self.links[k + 1].path), vaddr: addr });
                    }
                }
            }
        }
        Ok(())
    }

    /// The page at `addr` as link `k` holds it, following the chain:
    /// `None` if link `k` has no private segment there, `Some(None)` for
    /// a hole (zeroes), `Some(Some(page))` for the bytes in some file.
    pub fn page(&self, mut k: usize, addr: u32) -> Option<Option<&[u8]>> {
        loop {
            let l = self.links.get(k)?;
            let own = own_page(l, addr)?;
            if !l.img.parent.as_ref().is_some_and(|p| p.holds(addr)) {
                return Some(own);
            }
            k += 1;
        }
    }

    /// The image as one complete image: `links[0]` without its parent
    /// note, laid out afresh (segment data not included).
    pub fn flat_image(&self) -> Image {
        let mut img = self.links[0].img.clone();
        img.parent = None;
        img.relayout();
        img
    }

    /// Write the complete image to `out` (replacing what it held): the
    /// headers and notes of [`Chain::flat_image`], every page as the
    /// chain resolves it, zero pages as holes. Returns the page bytes written.
    pub fn flatten<W: Sink>(&self, out: &mut W) -> Result<u64, Error> {
        let img = self.flat_image();
        let empty: Vec<&[u8]> = vec![&[]; img.segments.len()];
        img.write_to(&empty, out)?;
        let mut run: Vec<u8> = Vec::with_capacity(RUN);
        let mut run_off = 0u64;
        let mut written = 0u64;
        for (s, v) in img.segments.iter().zip(&img.state.vmas) {
            if v.flags == VMA_SHARED_FILE {
                continue;
            }
            for n in 0..s.memsz / PAGE_SIZE {
                let off = s.offset as u64 + (n * PAGE_SIZE) as u64;
                let data = self.page(0, s.vaddr + n * PAGE_SIZE).flatten().filter(|d| d.iter().any(|&b| b != 0));
                let contiguous = run_off + run.len() as u64 == off && run.len() < RUN;
                if data.is_none() || !contiguous {
                    written += flush(out, run_off, &mut run)?;
                    run_off = off;
                }
                if let Some(d) = data {
                    run.extend_from_slice(d);
                }
            }
        }
        written += flush(out, run_off, &mut run)?;
        out.flush()?;
        Ok(written)
    }
}

/// Bytes gathered before one write when flattening.
const RUN: usize = 64 * PAGE_SIZE_USIZE;

fn flush<W: Sink>(out: &mut W, off: u64, run: &mut Vec<u8>) -> Result<u64, Error> {
    if run.is_empty() {
        return Ok(0);
    }
    out.seek(std::io::SeekFrom::Start(off))?;
    out.write_all(run)?;
    let n = run.len() as u64;
    run.clear();
    Ok(n)
}

/// Link `l`'s own page at `addr`, ignoring its parent: `None` outside its
/// private segments, `Some(None)` a hole, `Some(Some(page))` the file's page.
fn own_page<S: Source>(l: &Link<S>, addr: u32) -> Option<Option<&[u8]>> {
    let segs = &l.img.segments;
    let i = segs.partition_point(|s| s.vaddr as u64 + s.memsz as u64 <= addr as u64);
    let s = segs.get(i).filter(|s| s.vaddr <= addr)?;
    if l.img.state.vmas.get(i).is_none_or(|v| v.flags == VMA_SHARED_FILE) {
        return None;
    }
    let off = s.offset as u64 + (addr & !(PAGE_SIZE - 1)) as u64 - s.vaddr as u64;
    if !l.src.has_data(off) {
        return Some(None);
    }
    Some(l.src.bytes().get(off as usize..off as usize + PAGE_SIZE_USIZE))
}
