//! `kckpt_fd` kind 4 EVENTFD: counter in `pos`, `EFD_SEMAPHORE` in `mode`,
//! `O_RDWR` plus `O_NONBLOCK`/`O_CLOEXEC` only, no path or data, and one
//! counter and mode per id. One broken record per rule, and what is accepted.
mod common;

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

type R = std::result::Result<Image, Error>;

/// The extras sample's fd records 6, 7, 8 are the eventfds at fds 10, 11
/// (id 1) and 12 (id 2); `name` is patched in it.
fn patched(name: &str, f: impl Fn(u32) -> u32) -> R {
    let (img, _, mut b) = extras_sample();
    patch(&img, &mut b, name, f);
    Image::parse(&b)
}

fn counter(fd: usize, v: u64) -> R {
    let (img, _, mut b) = extras_sample();
    let o = off(&img, &format!("kckpt.fd[{fd}].pos"));
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    Image::parse(&b)
}

fn one(f: Fd) -> R {
    Image::parse(&Builder::new().fd_record(f).bytes())
}

fn efd(flags: u32, pos: u64, mode: u32) -> Fd {
    Fd { fd: 3, flags, pos, mode, kind: FD_EVENTFD, id: 1, path: Vec::new(), data: Vec::new() }
}

#[test]
fn eventfds_round_trip() {
    let (img, _, b) = extras_sample();
    let back = Image::parse(&b).unwrap();
    let e: Vec<(u32, u32, u64, u32, u32)> =
        back.state.fds[6..].iter().map(|f| (f.fd, f.flags, f.pos, f.mode, f.id)).collect();
    assert_eq!(
        e,
        [(10, O_RDWR, 7, EFD_SEMAPHORE, 1), (11, O_RDWR | O_NONBLOCK | O_CLOEXEC, 7, EFD_SEMAPHORE, 1), (12, O_RDWR, 0, 0, 2)]
    );
    assert!(back.state.fds[6..].iter().all(|f| f.kind == FD_EVENTFD && f.path.is_empty() && f.data.is_empty()));
    assert_eq!(back, img);
    assert_eq!(get32(&b, off(&img, "kckpt.fd[6].kind")), 4);
    assert_eq!(get32(&b, off(&img, "kckpt.fd[6].path_len")), 1);
    assert_eq!(off(&img, "kckpt.fd[7].fd") - off(&img, "kckpt.fd[6].fd"), 36 + 4);
}

#[test]
fn counter_up_to_int64_max() {
    for ok in [0, 1, 0xffff_ffff, i64::MAX as u64] {
        assert_eq!(one(efd(O_RDWR, ok, 0)).unwrap().state.fds[0].pos, ok);
    }
    for bad in [i64::MAX as u64 + 1, EVENTFD_MAX, u64::MAX] {
        assert_eq!(one(efd(O_RDWR, bad, 0)), Err(Error::FdPos { i: 0, pos: bad }));
    }
}

#[test]
fn mode_is_the_semaphore_flag() {
    for m in [2, 3, S_IFREG | 1, 0x8000_0000] {
        assert_eq!(patched("kckpt.fd[8].mode", |_| m), Err(Error::EventfdMode { i: 8, mode: m }));
    }
    assert!(one(efd(O_RDWR, 0, 1)).is_ok());
    assert!(one(efd(O_RDWR, 0, 0)).is_ok());
}

#[test]
fn access_mode_is_read_write() {
    for flags in [O_RDONLY, O_WRONLY, 3, O_WRONLY | O_NONBLOCK] {
        assert_eq!(one(efd(flags, 0, 0)), Err(Error::EventfdAccess { i: 0, flags }));
    }
}

#[test]
fn only_nonblock_and_cloexec_besides_rdwr() {
    for extra in [0o2000 /* O_APPEND */, 0o100 /* O_CREAT */, 0o40000 /* O_DIRECT */, 1 << 31] {
        let flags = O_RDWR | extra;
        assert_eq!(one(efd(flags, 0, 0)), Err(Error::EventfdFlags { i: 0, flags }));
    }
    for ok in [O_NONBLOCK, O_CLOEXEC, O_NONBLOCK | O_CLOEXEC] {
        assert!(one(efd(O_RDWR | ok, 0, 0)).is_ok(), "{ok:#o}");
    }
}

#[test]
fn no_data_no_path_an_id() {
    assert_eq!(patched("kckpt.fd[7].data_len", |_| 8), Err(Error::EventfdData { i: 7, data_len: 8 }));
    assert_eq!(patched("kckpt.fd[6].path_len", |_| 2), Err(Error::EventfdPathLen { i: 6, len: 2 }));
    assert_eq!(patched("kckpt.fd[6].path_len", |_| 0), Err(Error::FdPathLen { i: 6, len: 0 }));
    assert_eq!(patched("kckpt.fd[8].id", |_| 0), Err(Error::FdIdZero { i: 8, kind: FD_EVENTFD }));
    let named = Fd { path: b"/anon_inode:[eventfd]".to_vec(), ..efd(O_RDWR, 0, 0) };
    assert_eq!(one(named), Err(Error::EventfdPathLen { i: 0, len: 22 }));
}

#[test]
fn one_counter_and_mode_per_id() {
    assert_eq!(counter(7, 8), Err(Error::EventfdMismatch { i: 7, id: 1 }));
    assert_eq!(patched("kckpt.fd[7].mode", |_| 0), Err(Error::EventfdMismatch { i: 7, id: 1 }));
    // fd 12 joining id 1 with another counter is refused; with the same, accepted
    assert_eq!(patched("kckpt.fd[8].id", |_| 1), Err(Error::EventfdMismatch { i: 8, id: 1 }));
    let b = Builder::new().eventfd(3, 1, 5, false, 0).eventfd(4, 1, 5, false, O_CLOEXEC).eventfd(5, 7, 9, true, 0);
    assert_eq!(Image::parse(&b.bytes()).unwrap().state.fds.len(), 3);
}

#[test]
fn ids_are_numbered_per_kind() {
    // eventfd 1 beside pipe 1 and unlinked 1: three objects
    let b = Builder::new()
        .pipe_end(3, 1, false, 4096, b"x")
        .pipe_end(4, 1, true, 4096, b"")
        .unlinked(5, O_RDWR, 0, 1, "/tmp/u", b"data")
        .eventfd(6, 1, 3, false, 0);
    let img = Image::parse(&b.bytes()).unwrap();
    assert_eq!(img.state.fds.iter().map(|f| f.kind).collect::<Vec<_>>(), [FD_PIPE, FD_PIPE, FD_UNLINKED, FD_EVENTFD]);
}
