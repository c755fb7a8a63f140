//! Descriptors in the userspace mode, kind by kind as the kernel's
//! checkpoint() and binfmt_cr treat them (docs/image-format.md,
//! "Descriptor kinds"): regular files, directories and character devices
//! by path; pipes both of whose ends the process holds, with their unread
//! bytes (copied with tee(2), which does not consume them); files unlinked
//! while open, with their contents; eventfds with their counter and
//! EFD_SEMAPHORE flag, from fdinfo. Terminals, and pipes or sockets at
//! fds 0-2 that lead elsewhere, are inherited; anything else is refused
//! with EBUSY naming the fd and what it is.

use std::collections::BTreeMap;
use std::ffi::CString;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::os::unix::io::{AsRawFd, FromRawFd, IntoRawFd};

use kckpt_image::consts::*;
use kckpt_image::{Fd, MAX_FD_DATA};

use crate::error::{CrError, Result};
use crate::inject::{self, read_proc};
use crate::sys;

/// VALID_OPEN_FLAGS on i386 (O_ACCMODE up to __O_TMPFILE).
const VALID_OPEN_FLAGS: u32 = 0o37777777;
const O_DIRECT: u32 = libc::O_DIRECT as u32;
const DELETED: &[u8] = b" (deleted)";
const EVENTFD: &[u8] = b"anon_inode:[eventfd]";
/// What an eventfd record's flags keep (docs/image-format.md, EVENTFD).
const EVENTFD_FLAGS: u32 = (libc::O_ACCMODE | libc::O_NONBLOCK | libc::O_CLOEXEC) as u32;
/// EFD_SEMAPHORE, an eventfd record's `mode`.
const EFD_SEMAPHORE: u32 = 1;

fn busy(what: String) -> CrError {
    CrError::Os(what, std::io::Error::from_raw_os_error(libc::EBUSY))
}

/// Terminals are inherited, as the kernel does (`ckpt_is_tty`): the tty
/// majors 4 and 5 and the Unix98 pty majors 128..=143.
fn is_tty_major(major: u32) -> bool {
    major == 4 || major == 5 || (128..144).contains(&major)
}

fn readlink(p: &str) -> Result<Vec<u8>> {
    use std::os::unix::ffi::OsStringExt;
    std::fs::read_link(p).map(|p| p.into_os_string().into_vec()).map_err(|e| CrError::Os(format!("readlink {p}"), e))
}

/// What a descriptor is, for the refusal message.
fn what(md: &std::fs::Metadata, target: &[u8]) -> &'static str {
    let t = md.file_type();
    if target.starts_with(b"anon_inode:") {
        "an anonymous inode"
    } else if t.is_dir() {
        "a removed directory"
    } else if t.is_fifo() {
        "a pipe"
    } else if t.is_socket() {
        "a socket"
    } else if t.is_block_device() {
        "a block device"
    } else {
        "an anonymous inode"
    }
}

/// One descriptor as found, before pipes and unlinked files are resolved.
struct Found {
    rec: Fd,
    dev_ino: (u64, u64),
}

/// The records of `pid`'s descriptors, in fd order, as checkpoint() makes them.
pub fn collect(pid: i32) -> Result<Vec<Fd>> {
    let dir = format!("/proc/{pid}/fd");
    let mut nums: Vec<u32> = std::fs::read_dir(&dir)
        .map_err(|e| inject::proc_error(pid, &dir, e))?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .collect();
    nums.sort_unstable();
    let mut found = Vec::new();
    for fd in nums {
        let link = format!("/proc/{pid}/fd/{fd}");
        let (Ok(md), Ok(target)) = (std::fs::metadata(&link), readlink(&link)) else { continue };
        let info = read_proc(pid, &format!("fdinfo/{fd}"))?;
        let field = |k: &str| info.lines().find_map(|l| l.strip_prefix(k)).map(str::trim).unwrap_or("0");
        let pos = field("pos:").parse::<u64>().unwrap_or(0);
        let flags = u32::from_str_radix(field("flags:"), 8).unwrap_or(0) & VALID_OPEN_FLAGS;
        let mode = md.mode();
        let t = md.file_type();
        let deleted = target.ends_with(DELETED);
        let anon = target.starts_with(b"anon_inode:");
        if target == EVENTFD {
            found.push(eventfd(pid, fd, flags, &info)?);
            continue;
        }
        let kind = if anon {
            None
        } else if (t.is_file() || t.is_dir()) && !deleted && target.starts_with(b"/") {
            Some(FD_PATH)
        } else if t.is_file() && deleted {
            Some(FD_UNLINKED)
        } else if t.is_char_device() {
            if is_tty_major(libc::major(md.rdev()) as u32) {
                continue;
            }
            Some(FD_PATH)
        } else if t.is_fifo() && flags & O_ACCMODE != O_RDWR && flags & O_DIRECT == 0 {
            Some(FD_PIPE)
        } else if (t.is_fifo() || t.is_socket()) && fd <= 2 {
            continue;
        } else {
            None
        };
        let Some(kind) = kind else {
            return Err(busy(format!(
                "fd {fd} ({}) is {}, which cannot be checkpointed",
                String::from_utf8_lossy(&target),
                what(&md, &target)
            )));
        };
        let path = match kind {
            FD_PIPE => Vec::new(),
            FD_UNLINKED => target[..target.len() - DELETED.len()].to_vec(),
            _ => target,
        };
        let rec = Fd { fd, flags, pos, mode, kind, id: 0, path, data: Vec::new() };
        found.push(Found { rec, dev_ino: (md.dev(), md.ino()) });
    }
    pipes(pid, &mut found)?;
    unlinked(pid, &mut found)?;
    eventfds(pid, &mut found)?;
    Ok(found.into_iter().map(|f| f.rec).collect())
}

/// Eventfds: one id per eventfd, shared by the fds dup'ed from one open.
/// As the kernel does, refuse an eventfd another process holds too, or
/// one this process has open twice (two files, one counter): restart
/// would split it.
fn eventfds(pid: i32, found: &mut [Found]) -> Result<()> {
    let first = number(found, FD_EVENTFD);
    for &i in &first {
        let (fd, id, key) = (found[i].rec.fd, found[i].rec.id, found[i].dev_ino.1);
        let twice = found.iter().any(|f| f.rec.kind == FD_EVENTFD && f.rec.id == id && !sys::same_file(pid, fd, f.rec.fd));
        if twice || eventfd_elsewhere(pid, key) {
            return Err(busy(format!("fd {fd} is an eventfd {}", if twice { "open twice" } else { "open elsewhere too" })));
        }
    }
    Ok(())
}

/// Does a process other than `pid` hold the eventfd whose eventfd-id is `key`?
fn eventfd_elsewhere(pid: i32, key: u64) -> bool {
    other_fds(pid, |p, e| {
        std::fs::read_link(e.path()).is_ok_and(|t| t.as_os_str().as_encoded_bytes() == EVENTFD)
            && std::fs::read_to_string(format!("/proc/{p}/fdinfo/{}", e.file_name().to_string_lossy()))
                .is_ok_and(|i| eventfd_state(&i).is_ok_and(|(_, _, k)| k == key))
    })
}

/// Is `held` true of an fd (`/proc/P/fd` entry) of a process other than
/// `pid` and cr itself?
fn other_fds(pid: i32, held: impl Fn(i32, &std::fs::DirEntry) -> bool) -> bool {
    let Ok(procs) = std::fs::read_dir("/proc") else { return false };
    let me = std::process::id() as i32;
    for p in procs.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok()) {
        if p == pid || p == me {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(format!("/proc/{p}/fd")) else { continue };
        if fds.filter_map(|e| e.ok()).any(|e| held(p, &e)) {
            return true;
        }
    }
    false
}

/// An eventfd's state from its fdinfo (`info`): the counter
/// (`eventfd-count:`, hex), EFD_SEMAPHORE (`eventfd-semaphore:`) and the
/// eventfd's own number (`eventfd-id:`), which tells eventfds apart (they
/// all share one anonymous inode) and is the key its records are
/// numbered by. No fdinfo line tells EFD_SEMAPHORE otherwise, and a read
/// would consume the counter: without the line, the fd is refused.
fn eventfd_state(info: &str) -> std::result::Result<(u64, u32, u64), &'static str> {
    let field = |k: &str| info.lines().find_map(|l| l.strip_prefix(k)).map(str::trim);
    let count = field("eventfd-count:").and_then(|v| u64::from_str_radix(v, 16).ok()).ok_or("no eventfd-count in its fdinfo")?;
    let id = field("eventfd-id:").and_then(|v| v.parse().ok()).ok_or("no eventfd-id in its fdinfo")?;
    let sem = match field("eventfd-semaphore:") {
        Some("0") => 0,
        Some("1") => EFD_SEMAPHORE,
        _ => return Err("no eventfd-semaphore in its fdinfo: EFD_SEMAPHORE cannot be told"),
    };
    Ok((count, sem, id))
}

/// The record of eventfd `fd` (its id is given by `number` later).
fn eventfd(pid: i32, fd: u32, flags: u32, info: &str) -> Result<Found> {
    let (count, mode, key) = eventfd_state(info).map_err(|why| busy(format!("fd {fd} of {pid} is an eventfd: {why}")))?;
    if count > i64::MAX as u64 {
        return Err(CrError::Os(
            format!("fd {fd} of {pid}: eventfd counter {count:#x} is more than an image holds"),
            std::io::Error::from_raw_os_error(libc::EOVERFLOW),
        ));
    }
    let rec = Fd { fd, flags: flags & EVENTFD_FLAGS, pos: count, mode, kind: FD_EVENTFD, id: 0, path: Vec::new(), data: Vec::new() };
    Ok(Found { rec, dev_ino: (u64::MAX, key) })
}

/// Give the records of `kind` ids by inode, in fd order from 1; returns
/// the index of each id's first record.
fn number(found: &mut [Found], kind: u32) -> Vec<usize> {
    let mut ids: BTreeMap<(u64, u64), u32> = BTreeMap::new();
    let mut first = Vec::new();
    for (i, f) in found.iter_mut().enumerate().filter(|(_, f)| f.rec.kind == kind) {
        let next = ids.len() as u32 + 1;
        f.rec.id = *ids.entry(f.dev_ino).or_insert_with(|| {
            first.push(i);
            next
        });
    }
    first
}

/// Does a process other than `pid` hold an fd on inode `dev_ino`?
fn held_elsewhere(pid: i32, dev_ino: (u64, u64)) -> bool {
    other_fds(pid, |_, e| std::fs::metadata(e.path()).is_ok_and(|m| (m.dev(), m.ino()) == dev_ino))
}

/// Pipes: kept if the process holds both ends and nobody else any;
/// inherited if every fd of it is 0-2; refused otherwise.
fn pipes(pid: i32, found: &mut Vec<Found>) -> Result<()> {
    let mut inherited = Vec::new();
    for i in number(found, FD_PIPE) {
        let (id, dev_ino) = (found[i].rec.id, found[i].dev_ino);
        let same = |f: &Found| f.rec.kind == FD_PIPE && f.rec.id == id;
        let end = |acc: u32| found.iter().find(|f| same(f) && f.rec.flags & O_ACCMODE == acc).map(|f| f.rec.fd);
        if let (Some(reader), Some(_)) = (end(O_RDONLY), end(O_WRONLY)) {
            if !held_elsewhere(pid, dev_ino) {
                let (cap, data) = pipe_contents(pid, reader)?;
                for f in found.iter_mut().filter(|f| same(f)) {
                    f.rec.pos = cap;
                }
                found[i].rec.data = data;
                continue;
            }
        }
        if found.iter().any(|f| same(f) && f.rec.fd > 2) {
            return Err(busy(format!("fd {} is a pipe with an end in another process", found[i].rec.fd)));
        }
        inherited.push(id);
    }
    // Inherited pipes leave no record; ids stay dense, as the kernel's.
    if !inherited.is_empty() {
        found.retain(|f| f.rec.kind != FD_PIPE || !inherited.contains(&f.rec.id));
        for f in found.iter_mut().filter(|f| f.rec.kind == FD_PIPE) {
            f.rec.id = 0;
        }
        number(found, FD_PIPE);
    }
    Ok(())
}

fn fail(what: String) -> impl FnOnce(std::io::Error) -> CrError {
    move |e| CrError::Os(what, e)
}

/// The capacity and unread bytes of the pipe at `pid`'s read end `fd`:
/// opened again through /proc, the bytes duplicated into a pipe of our
/// own with tee(2), which leaves them in the target's pipe.
fn pipe_contents(pid: i32, fd: u32) -> Result<(u64, Vec<u8>)> {
    let link = CString::new(format!("/proc/{pid}/fd/{fd}")).unwrap_or_default();
    // SAFETY: NUL-terminated path; the descriptor is owned by `src` below.
    let raw = unsafe { libc::open(link.as_ptr(), libc::O_RDONLY | libc::O_NONBLOCK | libc::O_CLOEXEC) };
    if raw < 0 {
        return Err(CrError::last_os(format!("open {link:?}")));
    }
    // SAFETY: raw is a descriptor we just opened and own.
    let src = unsafe { File::from_raw_fd(raw) };
    // SAFETY: integer arguments on our descriptor.
    let cap = unsafe { libc::fcntl(raw, libc::F_GETPIPE_SZ) };
    let mut unread: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int.
    if cap < 0 || unsafe { libc::ioctl(raw, libc::FIONREAD, &mut unread) } < 0 {
        return Err(CrError::last_os(format!("fd {fd}: pipe size")));
    }
    let mut data = Vec::new();
    if unread > 0 {
        let (r, w) = sys::pipe()?;
        // SAFETY: integer arguments on our own pipe.
        if unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, cap) } < 0 {
            return Err(CrError::last_os(format!("fd {fd}: a pipe of {cap} bytes")));
        }
        // SAFETY: two pipe descriptors we hold; tee does not consume.
        let n = unsafe { libc::tee(src.as_raw_fd(), w.as_raw_fd(), cap as usize, libc::SPLICE_F_NONBLOCK) };
        if n != unread as isize {
            return Err(CrError::last_os(format!("fd {fd}: tee copied {n} of {unread} unread bytes")));
        }
        drop(w);
        (&r).read_to_end(&mut data).map_err(fail(format!("fd {fd}: reading the pipe copy")))?;
    }
    Ok((cap as u64, data))
}

/// Unlinked files: the first record of each carries the whole contents.
fn unlinked(pid: i32, found: &mut [Found]) -> Result<()> {
    let mut total: usize = found.iter().map(|f| f.rec.data.len()).sum();
    for i in number(found, FD_UNLINKED) {
        let fd = found[i].rec.fd;
        let p = format!("/proc/{pid}/fd/{fd}");
        let mut f = File::open(&p).map_err(fail(format!("open {p}")))?;
        let size = f.metadata().map_err(fail(format!("stat {p}")))?.len();
        if size > (MAX_FD_DATA as usize - total) as u64 {
            return Err(CrError::Os(
                format!("fd {fd}: unlinked file of {size} bytes, more than an image holds"),
                std::io::Error::from_raw_os_error(libc::EFBIG),
            ));
        }
        let mut data = Vec::with_capacity(size as usize);
        f.by_ref().take(size).read_to_end(&mut data).map_err(fail(format!("read {p}")))?;
        total += data.len();
        found[i].rec.data = data;
    }
    Ok(())
}

/// Put the image's descriptors in place in this (restarting) process.
/// Objects are made first on descriptors at or above `scratch` (above
/// every image fd), then installed in fd order, then the scratch closed.
pub fn install(fds: &[Fd], scratch: i32) -> Result<()> {
    let mut made: BTreeMap<(u32, u32), (i32, i32)> = BTreeMap::new();
    let mut next = scratch;
    let mut high = |fd: i32| -> Result<i32> {
        let h = sys::dup_at_least(fd, next)?;
        sys::close(fd);
        next = h + 1;
        Ok(h)
    };
    for x in fds.iter().filter(|x| x.kind != FD_PATH) {
        if made.contains_key(&(x.kind, x.id)) {
            continue;
        }
        let pair = if x.kind == FD_EVENTFD {
            let mut fl = libc::EFD_CLOEXEC;
            if x.mode & EFD_SEMAPHORE != 0 {
                fl |= libc::EFD_SEMAPHORE;
            }
            let e = high(sys::eventfd(fl).map_err(fail(format!("fd {}: eventfd2", x.fd)))?)?;
            if x.pos > 0 {
                sys::write_all(e, &x.pos.to_ne_bytes()).map_err(fail(format!("fd {}: setting the eventfd counter", x.fd)))?;
            }
            (e, e)
        } else if x.kind == FD_PIPE {
            let (r, w) = sys::pipe()?;
            let (r, w) = (high(r.into_raw_fd())?, high(w.into_raw_fd())?);
            // SAFETY: integer arguments on our pipe.
            if unsafe { libc::fcntl(w, libc::F_SETPIPE_SZ, x.pos as libc::c_int) } < 0 {
                return Err(CrError::last_os(format!("fd {}: a pipe of {} bytes", x.fd, x.pos)));
            }
            sys::write_all(w, &x.data).map_err(fail(format!("fd {}: refilling the pipe", x.fd)))?;
            (r, w)
        } else {
            let name = CString::new(x.path.rsplit(|&c| c == b'/').next().unwrap_or(b"unlinked")).unwrap_or_default();
            let m = high(sys::memfd(&name, x.mode & 0o7777).map_err(fail(format!("fd {}: memfd_create", x.fd)))?)?;
            sys::write_all(m, &x.data).map_err(fail(format!("fd {}: refilling the unlinked file", x.fd)))?;
            (m, m)
        };
        made.insert((x.kind, x.id), pair);
    }
    for x in fds {
        let cloexec = x.flags & libc::O_CLOEXEC as u32 != 0;
        let res = match x.kind {
            FD_PIPE => {
                let (r, w) = made[&(x.kind, x.id)];
                let end = if x.flags & O_ACCMODE == O_WRONLY { w } else { r };
                sys::dup_to(end, x.fd as i32, cloexec).and_then(|()| sys::set_status_flags(x.fd as i32, x.flags))
            }
            FD_EVENTFD => {
                let (e, _) = made[&(x.kind, x.id)];
                sys::dup_to(e, x.fd as i32, cloexec).and_then(|()| sys::set_status_flags(x.fd as i32, x.flags))
            }
            FD_UNLINKED => {
                let (m, _) = made[&(x.kind, x.id)];
                let p = CString::new(format!("/proc/self/fd/{m}")).unwrap_or_default();
                sys::reopen_at(&p, reopen_flags(x.flags), x.pos, x.fd as i32, 0)
            }
            _ => {
                let p = CString::new(x.path.clone()).map_err(|_| CrError::BadImage("NUL in a path".into()))?;
                sys::reopen_at(&p, reopen_flags(x.flags), x.pos, x.fd as i32, x.mode & S_IFMT)
            }
        };
        res.map_err(fail(format!("fd {} {:?}", x.fd, String::from_utf8_lossy(&x.path))))?;
    }
    for &(r, w) in made.values() {
        sys::close(r);
        if w != r {
            sys::close(w);
        }
    }
    Ok(())
}

/// Flags to open a record's file with: never create or truncate it.
fn reopen_flags(flags: u32) -> i32 {
    (flags & !(libc::O_CREAT | libc::O_EXCL | libc::O_TRUNC | libc::O_NOCTTY) as u32) as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tty_majors_are_the_kernels() {
        assert!(is_tty_major(4) && is_tty_major(5) && is_tty_major(136) && is_tty_major(128));
        assert!(!is_tty_major(1), "mem devices (/dev/null) are reopened");
        assert!(!is_tty_major(144));
    }

    #[test]
    fn reopening_never_creates_or_truncates() {
        let f = reopen_flags((libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC | libc::O_APPEND) as u32);
        assert_eq!(f, libc::O_RDWR | libc::O_APPEND);
    }

    #[test]
    fn eventfd_fdinfo_gives_counter_semaphore_and_id() {
        let info = "pos:\t0\nflags:\t02004002\nmnt_id:\t15\nino:\t1057\neventfd-count:                5\neventfd-id: 3\neventfd-semaphore: 1\n";
        assert_eq!(eventfd_state(info), Ok((5, EFD_SEMAPHORE, 3)));
        let big = info.replace("               5", "fffffffffffffffe");
        assert_eq!(eventfd_state(&big).unwrap().0, 0xffff_ffff_ffff_fffe);
        let e = eventfd(1, 7, 0o2004002, &big).err().unwrap();
        assert!(matches!(e, CrError::Os(_, ref io) if io.raw_os_error() == Some(libc::EOVERFLOW)), "{e}");
        let old = info.replace("eventfd-semaphore: 1\n", "");
        assert!(eventfd_state(&old).unwrap_err().contains("EFD_SEMAPHORE"));
        let f = eventfd(1, 7, 0o2004002 | 0o2000, info).unwrap();
        assert_eq!((f.rec.kind, f.rec.pos, f.rec.mode, f.rec.flags), (FD_EVENTFD, 5, 1, 0o2004002), "O_APPEND dropped");
    }

    #[test]
    fn eventfds_share_an_id_by_their_eventfd_id() {
        let info = |id: u32| format!("eventfd-count: 0\neventfd-id: {id}\neventfd-semaphore: 0\n");
        let mut found = vec![eventfd(1, 3, 2, &info(9)).unwrap(), eventfd(1, 4, 2, &info(4)).unwrap(), eventfd(1, 5, 2, &info(9)).unwrap()];
        number(&mut found, FD_EVENTFD);
        let ids: Vec<u32> = found.iter().map(|f| f.rec.id).collect();
        assert_eq!(ids, [1, 2, 1]);
    }

    #[test]
    fn an_eventfd_is_made_again_with_its_counter_at_each_fd() {
        let rec = |fd, flags| Fd { fd, flags, pos: 3, mode: EFD_SEMAPHORE, kind: FD_EVENTFD, id: 1, path: Vec::new(), data: Vec::new() };
        let nb = libc::O_NONBLOCK as u32;
        let (a, b) = (sys::dup_at_least(0, 300).unwrap(), sys::dup_at_least(0, 310).unwrap());
        install(&[rec(a as u32, 2 | nb), rec(b as u32, 2 | nb | libc::O_CLOEXEC as u32)], 400).unwrap();
        // SAFETY: integer arguments on the installed descriptors.
        let (fa, fb) = unsafe { (libc::fcntl(a, libc::F_GETFD), libc::fcntl(b, libc::F_GETFD)) };
        assert_eq!((fa, fb), (0, libc::FD_CLOEXEC));
        let mut v = 0u64;
        // SAFETY: reading 8 bytes into `v`.
        let n = unsafe { libc::read(a, (&mut v as *mut u64).cast(), 8) };
        assert_eq!((n, v), (8, 1), "a semaphore reads 1 at a time");
        let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{b}")).unwrap();
        let (count, sem, _) = eventfd_state(&info).unwrap();
        assert_eq!((count, sem), (2, EFD_SEMAPHORE), "the same eventfd at both fds");
        // SAFETY: as above.
        assert!(unsafe { libc::fcntl(b, libc::F_GETFL) } & libc::O_NONBLOCK != 0);
        sys::close(a);
        sys::close(b);
    }

    #[test]
    fn ids_number_inodes_in_fd_order_from_one() {
        let rec = |fd, kind| Fd { fd, flags: 0, pos: 0, mode: 0, kind, id: 0, path: Vec::new(), data: Vec::new() };
        let mut found = vec![
            Found { rec: rec(3, FD_PIPE), dev_ino: (0, 9) },
            Found { rec: rec(4, FD_PATH), dev_ino: (1, 1) },
            Found { rec: rec(5, FD_PIPE), dev_ino: (0, 7) },
            Found { rec: rec(6, FD_PIPE), dev_ino: (0, 9) },
        ];
        assert_eq!(number(&mut found, FD_PIPE), [0, 2]);
        let ids: Vec<u32> = found.iter().map(|f| f.rec.id).collect();
        assert_eq!(ids, [1, 0, 2, 1]);
    }
}
