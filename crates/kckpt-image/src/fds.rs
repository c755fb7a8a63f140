//! `kckpt_fd[]`: decode the descriptor records and enforce the rules of
//! their kinds (PATH, PIPE, UNLINKED, EVENTFD), per record and across records.

use std::collections::BTreeMap;

use crate::bytes::{pad4, Rd};
use crate::consts::*;
use crate::model::Fd;
use crate::parse::read_path;
use crate::{Error, MAX_FDS, MAX_FD_DATA, PATH_MAX, RLIM_INFINITY64};

type Result<T> = std::result::Result<T, Error>;

/// The fixed fields of one record, as read.
struct Head {
    fd: u32,
    flags: u32,
    pos: u64,
    mode: u32,
    kind: u32,
    id: u32,
    data_len: u32,
    path_len: u32,
}

fn read_head(r: &mut Rd<'_>) -> Option<Head> {
    Some(Head {
        fd: r.u32()?,
        flags: r.u32()?,
        pos: r.u64()?,
        mode: r.u32()?,
        kind: r.u32()?,
        id: r.u32()?,
        data_len: r.u32()?,
        path_len: r.u32()?,
    })
}

/// A pipe capacity `F_SETPIPE_SZ` can give: a power of two, 4096..=1 MiB.
pub fn pipe_capacity_ok(pos: u64) -> bool {
    pos.is_power_of_two() && (PIPE_MIN_SIZE..=PIPE_MAX_SIZE).contains(&pos)
}

/// The rules of one record that need no other record.
fn check_head(i: usize, h: &Head) -> Result<()> {
    let ftype = h.mode & S_IFMT;
    match h.kind {
        FD_PATH => {
            if ![S_IFREG, S_IFDIR, S_IFCHR].contains(&ftype) {
                return Err(Error::FdFileType { i, kind: h.kind, mode: h.mode });
            }
            if h.id != 0 {
                return Err(Error::FdPathId { i, id: h.id });
            }
            if h.data_len != 0 {
                return Err(Error::FdPathData { i, data_len: h.data_len });
            }
        }
        FD_PIPE => {
            if h.id == 0 {
                return Err(Error::FdIdZero { i, kind: h.kind });
            }
            let acc = h.flags & O_ACCMODE;
            if acc != O_RDONLY && acc != O_WRONLY {
                return Err(Error::PipeAccess { i, flags: h.flags });
            }
            if !pipe_capacity_ok(h.pos) {
                return Err(Error::PipeCapacity { i, pos: h.pos });
            }
            if h.data_len as u64 > h.pos {
                return Err(Error::PipeDataTooLong { i, data_len: h.data_len, pos: h.pos });
            }
        }
        FD_UNLINKED => {
            if ftype != S_IFREG {
                return Err(Error::FdFileType { i, kind: h.kind, mode: h.mode });
            }
            if h.id == 0 {
                return Err(Error::FdIdZero { i, kind: h.kind });
            }
        }
        FD_EVENTFD => check_eventfd(i, h)?,
        kind => return Err(Error::FdKind { i, kind }),
    }
    if h.pos > i64::MAX as u64 {
        return Err(Error::FdPos { i, pos: h.pos });
    }
    if h.path_len == 0 || h.path_len > PATH_MAX {
        return Err(Error::FdPathLen { i, len: h.path_len });
    }
    if h.kind == FD_PIPE && h.path_len != 1 {
        return Err(Error::PipePathLen { i, len: h.path_len });
    }
    if h.kind == FD_EVENTFD && h.path_len != 1 {
        return Err(Error::EventfdPathLen { i, len: h.path_len });
    }
    Ok(())
}

/// An eventfd record: an id, `O_RDWR` plus at most `O_NONBLOCK|O_CLOEXEC`,
/// `mode` its `EFD_SEMAPHORE` flag, no data. Its counter (`pos`) is bounded
/// by the `INT64_MAX` every `pos` has, below `EVENTFD_MAX`.
fn check_eventfd(i: usize, h: &Head) -> Result<()> {
    if h.id == 0 {
        return Err(Error::FdIdZero { i, kind: h.kind });
    }
    if h.flags & O_ACCMODE != O_RDWR {
        return Err(Error::EventfdAccess { i, flags: h.flags });
    }
    if h.flags & !(O_RDWR | O_NONBLOCK | O_CLOEXEC) != 0 {
        return Err(Error::EventfdFlags { i, flags: h.flags });
    }
    if h.mode != 0 && h.mode != EFD_SEMAPHORE {
        return Err(Error::EventfdMode { i, mode: h.mode });
    }
    if h.data_len != 0 {
        return Err(Error::EventfdData { i, data_len: h.data_len });
    }
    Ok(())
}

/// Per (kind, id) of PIPE/UNLINKED records: which pipe ends were seen.
/// Each kind numbers its objects on its own (checkpoint() counts pipes
/// and unlinked files separately from 1), so pipe 1 and unlinked file 1
/// are two objects.
#[derive(Default)]
struct Ids {
    seen: BTreeMap<(u32, u32), (bool, bool)>,
    /// Eventfd id -> (counter, mode) of its first record.
    eventfds: BTreeMap<u32, (u64, u32)>,
}

impl Ids {
    /// Record `h` (record i); data only on an id's first record.
    fn add(&mut self, i: usize, h: &Head) -> Result<()> {
        if h.kind == FD_PATH {
            return Ok(());
        }
        if h.kind == FD_EVENTFD && *self.eventfds.entry(h.id).or_insert((h.pos, h.mode)) != (h.pos, h.mode) {
            return Err(Error::EventfdMismatch { i, id: h.id });
        }
        let read = h.flags & O_ACCMODE == O_RDONLY;
        match self.seen.get_mut(&(h.kind, h.id)) {
            None => {
                self.seen.insert((h.kind, h.id), (read, !read));
            }
            Some(e) => {
                if h.data_len != 0 {
                    return Err(Error::FdDataNotFirst { i, id: h.id, data_len: h.data_len });
                }
                e.0 |= read;
                e.1 |= !read;
            }
        }
        Ok(())
    }

    /// Every pipe has a read end and a write end.
    fn check_pipe_ends(&self) -> Result<()> {
        for (&(kind, id), &(read, write)) in &self.seen {
            if kind != FD_PIPE {
                continue;
            }
            if !read {
                return Err(Error::PipeMissingEnd { id, end: "read" });
            }
            if !write {
                return Err(Error::PipeMissingEnd { id, end: "write" });
            }
        }
        Ok(())
    }
}

/// `nr` records; `nofile` is the image's `RLIMIT_NOFILE` soft limit.
pub(crate) fn read_fds(r: &mut Rd<'_>, nr: u32, nofile: u64) -> Result<Vec<Fd>> {
    if nr > MAX_FDS {
        return Err(Error::TooManyFds { nr });
    }
    let t = Error::KckptTruncated { what: "fds" };
    if (nr as usize).checked_mul(FD_FIXED_SIZE + 4).is_none_or(|n| n > r.remaining()) {
        return Err(t);
    }
    let mut out: Vec<Fd> = Vec::with_capacity(nr as usize);
    let mut ids = Ids::default();
    let mut total = 0u64;
    for i in 0..nr as usize {
        let h = read_head(r).ok_or(t.clone())?;
        if out.last().is_some_and(|prev| h.fd <= prev.fd) {
            return Err(Error::FdOrder { i, fd: h.fd });
        }
        if nofile != RLIM_INFINITY64 && h.fd as u64 >= nofile {
            return Err(Error::FdAboveNofile { i, fd: h.fd, nofile });
        }
        check_head(i, &h)?;
        ids.add(i, &h)?;
        total += h.data_len as u64;
        if total > MAX_FD_DATA as u64 {
            return Err(Error::FdDataTotal { total });
        }
        let path = read_path(r, h.path_len, format!("kckpt_fd[{i}] path"))?;
        let data = read_data(r, h.data_len, i)?;
        let Head { fd, flags, pos, mode, kind, id, .. } = h;
        out.push(Fd { fd, flags, pos, mode, kind, id, path, data });
    }
    ids.check_pipe_ends()?;
    Ok(out)
}

/// `len` bytes of data plus zero padding to 4.
fn read_data(r: &mut Rd<'_>, len: u32, i: usize) -> Result<Vec<u8>> {
    let len = len as usize;
    let padded = pad4(len).unwrap_or(usize::MAX);
    let all = r.bytes(padded).ok_or(Error::KckptTruncated { what: "fd data" })?;
    let (data, pad) = all.split_at(len.min(all.len()));
    if pad.iter().any(|&c| c != 0) {
        return Err(Error::PaddingNotZero { what: format!("kckpt_fd[{i}] data") });
    }
    Ok(data.to_vec())
}
