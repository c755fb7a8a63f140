//! Incremental checkpoints: `cr -p PID --parent OLD` keeps out of the new
//! image every page whose contents equal what OLD's chain holds at the
//! same address (compared page by page against the mapped parent files;
//! i386 has no soft-dirty bits), and lists those pages in
//! `NT_KCKPT_PARENT`. `cr --flatten` and `cr -r` of such an image merge
//! the chain into one complete image. Phase times go to stderr when
//! `CR_TIMES` is set.

use std::cell::Cell;
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::io::{AsRawFd, FromRawFd};
use std::path::Path;
use std::time::Instant;

use kckpt_image::consts::*;
use kckpt_image::{Chain, Image, PageRange, Parent, Source};

use crate::error::{CrError, Result};
use crate::mapped::Mapped;

const PAGE: usize = 4096;
/// Bytes read from the target at a time.
pub const CHUNK: usize = 256 * PAGE;

thread_local! {
    static LAST: Cell<Option<Instant>> = const { Cell::new(None) };
}

/// With `CR_TIMES` set: "cr: time PHASE MS" for the time since the last call.
pub fn phase(name: &str) {
    if std::env::var_os("CR_TIMES").is_none() {
        return;
    }
    let now = Instant::now();
    if let Some(t) = LAST.with(|l| l.replace(Some(now))) {
        eprintln!("cr: time {name} {:.1}", (now - t).as_secs_f64() * 1e3);
    }
}

/// The parent of a new incremental image at `child` (absolute), opened.
pub struct ParentChain {
    pub chain: Chain<Mapped>,
    /// The path to record (relative to the child's directory when it can be).
    pub recorded: Vec<u8>,
}

pub fn open_parent(parent: &str, child: &str) -> Result<ParentChain> {
    let abs = crate::inject::absolute(parent)?;
    let chain = crate::mapped::open_chain(&abs)?;
    if chain.depth() >= MAX_CHAIN_DEPTH {
        return Err(CrError::BadImage(format!(
            "{parent}: already {} links above a complete image (at most {MAX_CHAIN_DEPTH}): flatten it first (cr --flatten)",
            chain.depth()
        )));
    }
    let recorded = kckpt_image::path_for_child(Path::new(&abs), Path::new(child));
    Ok(ParentChain { chain, recorded })
}

/// Where each page of the new image comes from.
pub struct Plan {
    pub parent: Parent,
    /// (segment index, first page, pages) of the target's pages to write.
    pub runs: Vec<(usize, u32, u32)>,
}

/// Read every private page of the stopped target through `mem` and sort
/// it: zero (a hole), equal to the parent chain's page (a range of the
/// note) or to be written (a run).
pub fn classify(mem: &File, img: &Image, p: &ParentChain) -> Result<Plan> {
    let mut ranges: Vec<PageRange> = Vec::new();
    let mut runs: Vec<(usize, u32, u32)> = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    for (i, (s, v)) in img.segments.iter().zip(&img.state.vmas).enumerate() {
        if v.flags == VMA_SHARED_FILE {
            continue;
        }
        let mut done = 0usize;
        let len = s.memsz as usize;
        while done < len {
            let n = (len - done).min(CHUNK);
            let addr = s.vaddr as u64 + done as u64;
            read_target(mem, &mut buf[..n], addr);
            for (k, page) in buf[..n].chunks(PAGE).enumerate() {
                if page.iter().all(|&b| b == 0) {
                    continue;
                }
                let va = (addr as usize + k * PAGE) as u32;
                let pno = ((done + k * PAGE) / PAGE) as u32;
                if p.chain.page(0, va).flatten() == Some(page) {
                    match ranges.last_mut() {
                        Some(r) if r.end() == va as u64 && pno > 0 => r.npages += 1,
                        _ => ranges.push(PageRange { vaddr: va, npages: 1 }),
                    }
                } else {
                    match runs.last_mut() {
                        Some(r) if r.0 == i && r.1 + r.2 == pno => r.2 += 1,
                        _ => runs.push((i, pno, 1)),
                    }
                }
            }
            done += n;
        }
    }
    let top = &p.chain.links[0];
    let (size, hash) = kckpt_image::identity(top.src.bytes());
    let parent = Parent { path: p.recorded.clone(), size, hash, depth: p.chain.depth() + 1, ranges };
    Ok(Plan { parent, runs })
}

/// Read `b.len()` bytes of the target at `addr`; what cannot be read
/// (beyond the end of a mapped file) reads as zeroes, as get_dump_page()
/// makes it a hole.
pub fn read_target(mem: &File, b: &mut [u8], addr: u64) {
    if mem.read_exact_at(b, addr).is_err() {
        for (k, p) in b.chunks_mut(PAGE).enumerate() {
            if mem.read_exact_at(p, addr + (k * PAGE) as u64).is_err() {
                p.fill(0);
            }
        }
    }
}

/// Write the plan's runs, read again from the still-stopped target.
pub fn write_runs(mem: &File, out: &File, img: &Image, runs: &[(usize, u32, u32)], path: &str) -> Result<u64> {
    let mut buf = vec![0u8; CHUNK];
    let mut written = 0u64;
    for &(i, first, pages) in runs {
        let s = &img.segments[i];
        let mut done = 0usize;
        let len = pages as usize * PAGE;
        while done < len {
            let n = (len - done).min(CHUNK);
            let at = first as usize * PAGE + done;
            read_target(mem, &mut buf[..n], s.vaddr as u64 + at as u64);
            out.write_all_at(&buf[..n], s.offset as u64 + at as u64).map_err(|e| CrError::Os(format!("writing {path}"), e))?;
            written += n as u64;
            done += n;
        }
    }
    Ok(written)
}

/// `cr --flatten IMAGE -f OUT`: the chain merged into one complete image.
pub fn flatten(image: &str, out: &str) -> Result<i32> {
    let chain = crate::mapped::open_chain(image)?;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o700).open(out).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => CrError::FileExists(out.into()),
        _ => CrError::Os(format!("create {out}"), e),
    })?;
    if let Err(e) = chain.flatten(&mut f) {
        let _ = std::fs::remove_file(out);
        return Err(CrError::Os(format!("writing {out}"), std::io::Error::other(e.to_string())));
    }
    println!("cr: flattened {image} ({} links) into {out}", chain.depth() + 1);
    Ok(0)
}

/// An incremental image's chain, checked and flattened into an unlinked
/// memfd, reopened read-only (exec of a file open for writing fails with
/// ETXTBSY) and close-on-exec; `None` for a complete image.
pub fn flattened(file: &str) -> Result<Option<File>> {
    let (img, _) = crate::restart::check_image(file)?;
    if img.parent.is_none() {
        return Ok(None);
    }
    let chain = crate::mapped::open_chain(file)?;
    // SAFETY: a NUL-terminated name; flags only.
    let fd = unsafe { libc::memfd_create(c"kckpt-flat".as_ptr(), libc::MFD_CLOEXEC | MFD_EXEC) };
    if fd < 0 {
        return Err(CrError::last_os("memfd_create"));
    }
    // SAFETY: a descriptor we just made and own.
    let mut w = unsafe { File::from_raw_fd(fd) };
    chain.flatten(&mut w).map_err(|e| CrError::Os(format!("flattening {file}"), std::io::Error::other(e.to_string())))?;
    // an image is 0700: exec needs x, binfmt_cr refuses setid bits
    w.set_permissions(std::fs::Permissions::from_mode(0o700)).map_err(|e| CrError::Os("chmod the flattened image".into(), e))?;
    let ro = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(format!("/proc/self/fd/{fd}"))
        .map_err(|e| CrError::Os("reopening the flattened image".into(), e))?;
    phase("flatten");
    Ok(Some(ro))
}

/// `MFD_EXEC` (linux/memfd.h, 6.3): an executable memfd, said explicitly.
const MFD_EXEC: libc::c_uint = 0x10;

/// `cr -r -f FILE`: an incremental image restarts from its flattened
/// chain, by exec of `/proc/self/fd/N` (close-on-exec: the restarted
/// process does not keep it) or by the userspace restorer.
pub fn restart(file: &str, detach: bool, userspace: bool) -> Result<i32> {
    phase("start");
    match flattened(file)? {
        None if userspace => crate::urestore::run(file, detach),
        None => crate::restart::run(file, detach),
        Some(f) if userspace => {
            let (img, f) = crate::restart::check_open(file, f)?;
            crate::urestore::run_checked(file, img, f, detach)
        }
        Some(f) => crate::restart::run(&format!("/proc/self/fd/{}", f.as_raw_fd()), detach),
    }
}
