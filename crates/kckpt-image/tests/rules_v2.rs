//! The rules version 2 added (shared VMAs, descriptor kinds, inline data,
//! rlimits): one broken image per rule, rejected with the error naming it,
//! and the edge values the loader accepts.
mod common;

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

/// The sample image's fd records: 0 = fd 3 path, 1 = fd 4 path, 2 = fd 5
/// pipe 1 read end (with data), 3 = fd 6 pipe 1 write end, 4 = fd 7
/// unlinked 2 (with data), 5 = fd 9 unlinked 2.
fn patched(name: &str, f: impl Fn(u32) -> u32) -> std::result::Result<Image, Error> {
    let (img, _, mut b) = sample();
    patch(&img, &mut b, name, f);
    Image::parse(&b)
}

fn set64(name: &str, v: u64) -> std::result::Result<Image, Error> {
    let (img, _, mut b) = sample();
    let o = off(&img, name);
    b[o..o + 8].copy_from_slice(&v.to_le_bytes());
    Image::parse(&b)
}

fn built(b: Builder) -> std::result::Result<Image, Error> {
    Image::parse(&b.bytes())
}

/// A pipe (fds 3 read, 4 write) of `capacity` with `data` unread.
fn pipe(capacity: u64, data: &[u8]) -> Builder {
    Builder::new().pipe_end(3, 1, false, capacity, data).pipe_end(4, 1, true, capacity, b"")
}

#[test]
fn sample_round_trips_with_data_and_rlimits() {
    let (img, _, b) = sample();
    let back = Image::parse(&b).unwrap();
    assert_eq!(back, img);
    let fds = &back.state.fds;
    assert_eq!((fds[2].kind, fds[2].id, fds[2].data.as_slice()), (FD_PIPE, 1, &b"unread"[..]));
    assert_eq!((fds[4].kind, fds[4].id, fds[4].data.as_slice()), (FD_UNLINKED, 2, &b"contents of a deleted file"[..]));
    assert!(fds[5].data.is_empty());
    assert_eq!(back.state.rlimits[RLIMIT_NOFILE], Rlimit { cur: 256, max: 1024 });
    assert_eq!(back.state.rlimits[9], Rlimit::INFINITY);
    assert_eq!(get32(&b, off(&img, "kckpt.version")), 2);
    // record layout: 36-byte header, path padded to 4, data padded to 4
    assert_eq!(off(&img, "kckpt.fd[0].path") - off(&img, "kckpt.fd[0].fd"), 36);
    assert_eq!(off(&img, "kckpt.fd[3].fd") - off(&img, "kckpt.fd[2].path"), 4 + 8);
    assert_eq!(off(&img, "kckpt.rlimit[0].cur") - off(&img, "kckpt.magic"), 1624);
    assert_eq!(off(&img, "kckpt.attrs.comm") - off(&img, "kckpt.magic"), 1880);
    assert_eq!(off(&img, "kckpt.attrs.reserved") - off(&img, "kckpt.magic"), 1924);
    assert_eq!(off(&img, "kckpt.vma[0].start") - off(&img, "kckpt.magic"), 1928);
}

// VMAs.
#[test]
fn shared_vma_alone_accepted_with_other_flags_refused() {
    let b = Builder::new().segment(0x1000_0000, 2, PF_R | PF_W, VMA_SHARED, b"shared".to_vec());
    let img = built(b.clone()).unwrap();
    assert_eq!(img.state.vmas[0].flags, VMA_SHARED);
    // (SHARED|FILE is a shared file mapping: see rules_shfile.rs)
    for other in [VMA_HEAP, VMA_GROWSDOWN, VMA_FILE | VMA_HEAP] {
        let (img, data) = b.clone().build();
        let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
        let mut bytes = img.to_bytes(&refs).unwrap();
        patch(&img, &mut bytes, "kckpt.vma[0].flags", |v| v | other);
        assert_eq!(Image::parse(&bytes), Err(Error::VmaSharedWithOther { i: 0, flags: VMA_SHARED | other }));
    }
}

// Kinds.
#[test]
fn unknown_fd_kinds() {
    for k in [0, 5, 0x8000_0001] {
        assert_eq!(patched("kckpt.fd[0].kind", |_| k), Err(Error::FdKind { i: 0, kind: k }));
    }
}

#[test]
fn path_file_types() {
    for t in [S_IFREG, S_IFDIR, S_IFCHR] {
        assert!(patched("kckpt.fd[1].mode", |_| t | 0o755).is_ok(), "{t:#o}");
    }
    for t in [S_IFIFO, 0o140000, 0o060000, 0o120000, 0] {
        assert_eq!(patched("kckpt.fd[1].mode", |_| t | 0o644), Err(Error::FdFileType { i: 1, kind: FD_PATH, mode: t | 0o644 }));
    }
}

#[test]
fn path_id_and_data() {
    assert_eq!(patched("kckpt.fd[0].id", |_| 1), Err(Error::FdPathId { i: 0, id: 1 }));
    assert_eq!(patched("kckpt.fd[1].data_len", |_| 4), Err(Error::FdPathData { i: 1, data_len: 4 }));
}

#[test]
fn unlinked_is_a_regular_file_with_an_id() {
    assert_eq!(
        patched("kckpt.fd[4].mode", |_| S_IFDIR | 0o700),
        Err(Error::FdFileType { i: 4, kind: FD_UNLINKED, mode: S_IFDIR | 0o700 })
    );
    assert_eq!(patched("kckpt.fd[4].id", |_| 0), Err(Error::FdIdZero { i: 4, kind: FD_UNLINKED }));
    assert!(matches!(set64("kckpt.fd[4].pos", 1 << 63), Err(Error::FdPos { i: 4, .. })));
}

#[test]
fn unlinked_data_only_on_the_first_record() {
    assert_eq!(patched("kckpt.fd[5].data_len", |_| 8), Err(Error::FdDataNotFirst { i: 5, id: 2, data_len: 8 }));
    // an empty unlinked file: the first record has data_len 0
    let b = Builder::new().unlinked(3, 2, 0, 7, "/tmp/e", b"").unlinked(4, 0, 0, 7, "/tmp/e", b"");
    assert_eq!(built(b).unwrap().state.fds[0].data.len(), 0);
}

#[test]
fn ids_are_per_kind_and_need_not_be_dense() {
    // pipe 1 and unlinked file 1 are two objects, as checkpoint() numbers them
    let img = patched("kckpt.fd[4].id", |_| 1).unwrap();
    assert_eq!((img.state.fds[4].kind, img.state.fds[4].id), (FD_UNLINKED, 1));
    let b = Builder::new()
        .pipe_end(3, 100, true, 4096, b"")
        .unlinked(4, 0, 0, 5, "/a", b"x")
        .pipe_end(5, 100, false, 4096, b"")
        .pipe_end(6, 0xffff_ffff, false, 4096, b"")
        .pipe_end(7, 0xffff_ffff, true, 4096, b"");
    assert!(built(b).is_ok());
}

// Pipes.
#[test]
fn pipe_id_zero() {
    assert_eq!(patched("kckpt.fd[2].id", |_| 0), Err(Error::FdIdZero { i: 2, kind: FD_PIPE }));
}

#[test]
fn pipe_access_mode() {
    assert_eq!(patched("kckpt.fd[3].flags", |v| v & !3 | O_RDWR), Err(Error::PipeAccess { i: 3, flags: O_RDWR }));
    assert_eq!(patched("kckpt.fd[2].flags", |_| 3), Err(Error::PipeAccess { i: 2, flags: 3 }));
    // other flags (O_NONBLOCK, O_CLOEXEC) are fine
    assert!(patched("kckpt.fd[3].flags", |v| v | 0o4000 | 0o2000000).is_ok());
}

#[test]
fn pipe_path_is_empty() {
    let f = Fd { fd: 3, flags: 0, pos: 4096, mode: S_IFIFO | 0o600, kind: FD_PIPE, id: 1, path: b"x".to_vec(), data: vec![] };
    let b = Builder::new().fd_record(f).pipe_end(4, 1, true, 4096, b"");
    assert_eq!(built(b), Err(Error::PipePathLen { i: 0, len: 2 }));
}

#[test]
fn pipe_capacity() {
    for ok in [4096u64, 8192, 65536, 1 << 20] {
        assert!(built(pipe(ok, b"")).is_ok(), "{ok}");
    }
    for bad in [0u64, 1, 2048, 4095, 4097, 12288, 2 << 20, 1 << 40, u64::MAX] {
        assert_eq!(built(pipe(bad, b"")), Err(Error::PipeCapacity { i: 0, pos: bad }), "{bad}");
    }
}

#[test]
fn pipe_data_at_most_capacity() {
    assert!(built(pipe(4096, &[7; 4096])).is_ok());
    assert_eq!(built(pipe(4096, &[7; 4097])), Err(Error::PipeDataTooLong { i: 0, data_len: 4097, pos: 4096 }));
}

#[test]
fn pipe_data_only_on_the_lowest_fd() {
    assert_eq!(patched("kckpt.fd[3].data_len", |_| 4), Err(Error::FdDataNotFirst { i: 3, id: 1, data_len: 4 }));
    // the lowest fd may be the write end
    let b = Builder::new().pipe_end(3, 1, true, 4096, b"abc").pipe_end(4, 1, false, 4096, b"");
    assert_eq!(built(b).unwrap().state.fds[0].data, b"abc");
}

#[test]
fn pipe_needs_both_ends() {
    assert_eq!(patched("kckpt.fd[3].flags", |v| v & !3), Err(Error::PipeMissingEnd { id: 1, end: "write" }));
    assert_eq!(patched("kckpt.fd[2].flags", |v| v | O_WRONLY), Err(Error::PipeMissingEnd { id: 1, end: "read" }));
    let b = Builder::new().pipe_end(3, 1, false, 4096, b"");
    assert_eq!(built(b), Err(Error::PipeMissingEnd { id: 1, end: "write" }));
    // several ends of each kind are fine
    let b = pipe(4096, b"").pipe_end(5, 1, true, 4096, b"").pipe_end(6, 1, false, 4096, b"");
    assert!(built(b).is_ok());
}

// Inline data.
#[test]
fn inline_data_total() {
    let max = MAX_FD_DATA as usize;
    let half = vec![1u8; max / 2];
    let b = Builder::new().unlinked(3, 0, 0, 1, "/a", &half).unlinked(4, 0, 0, 2, "/b", &half);
    assert!(built(b).is_ok());
    let b = Builder::new().unlinked(3, 0, 0, 1, "/a", &half).unlinked(4, 0, 0, 2, "/b", &vec![1u8; max / 2 + 1]);
    assert_eq!(built(b), Err(Error::FdDataTotal { total: MAX_FD_DATA as u64 + 1 }));
    // a huge data_len on a first record is refused before it is read
    assert_eq!(patched("kckpt.fd[4].data_len", |_| u32::MAX), Err(Error::FdDataTotal { total: 6 + u32::MAX as u64 }));
}

#[test]
fn inline_data_padding_and_truncation() {
    let (img, _, mut b) = sample();
    // "unread" is 6 bytes: 2 bytes of padding follow it
    let o = off(&img, "kckpt.fd[2].data");
    b[o + 7] = 1;
    assert!(matches!(Image::parse(&b), Err(Error::PaddingNotZero { .. })));
    let r = patched("kckpt.fd[4].data_len", |_| 1 << 20);
    assert!(matches!(r, Err(Error::KckptTruncated { .. })), "{r:?}");
}

// Rlimits.
#[test]
fn rlimit_cur_above_max() {
    assert_eq!(set64("kckpt.rlimit[0].cur", 21), Err(Error::RlimitOrder { r: 0, cur: 21, max: 20 }));
    assert_eq!(set64("kckpt.rlimit[0].cur", u64::MAX), Err(Error::RlimitOrder { r: 0, cur: u64::MAX, max: 20 }));
    assert!(set64("kckpt.rlimit[0].cur", 20).is_ok());
    assert!(set64("kckpt.rlimit[0].max", u64::MAX).is_ok());
}

#[test]
fn rlimit_finite_values_below_2_32() {
    assert!(set64("kckpt.rlimit[9].max", u32::MAX as u64).is_err_and(|e| matches!(e, Error::RlimitOrder { r: 9, .. })));
    assert_eq!(set64("kckpt.rlimit[9].max", 1 << 32), Err(Error::RlimitValue { r: 9, field: "max", value: 1 << 32 }));
    assert_eq!(set64("kckpt.rlimit[3].cur", u64::MAX - 1), Err(Error::RlimitValue { r: 3, field: "cur", value: u64::MAX - 1 }));
    let b = Builder::new().rlimit(2, u32::MAX as u64, u32::MAX as u64).rlimit(15, 0, u64::MAX);
    assert!(built(b).is_ok());
}

#[test]
fn fds_below_the_images_nofile() {
    // fd 5 is record 2
    assert_eq!(set64("kckpt.rlimit[7].cur", 5), Err(Error::FdAboveNofile { i: 2, fd: 5, nofile: 5 }));
    assert!(set64("kckpt.rlimit[7].cur", 10).is_ok(), "highest fd is 9");
    assert_eq!(set64("kckpt.rlimit[7].cur", 9), Err(Error::FdAboveNofile { i: 5, fd: 9, nofile: 9 }));
    let b = Builder::new().rlimit(RLIMIT_NOFILE, u64::MAX, u64::MAX).fd(100_000, 0, 0, "/a");
    assert!(built(b).is_ok(), "RLIMIT_NOFILE infinity is fs.nr_open's business");
}

#[test]
fn version_1_images_are_refused() {
    let b = std::fs::read(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fuzz-seeds/tiny.kckpt")).unwrap();
    let img = Image::parse(&b).expect("the checked-in seed is version 2");
    let mut b1 = b.clone();
    patch(&img, &mut b1, "kckpt.version", |_| 1);
    assert_eq!(Image::parse(&b1), Err(Error::KckptVersion { value: 1 }));
    assert!(Error::KckptVersion { value: 1 }.to_string().contains("only 2"));
}

#[test]
fn display_and_json_show_v2_fields() {
    let b = Builder::new().segment(0x1000_0000, 1, PF_R | PF_W, VMA_SHARED, vec![]);
    let img = built(b).unwrap();
    assert!(img.to_string().contains("shared"), "{img}");
    let (img, _, bytes) = sample();
    let text = img.summary(Some(&bytes)).to_string();
    for want in [
        "RLIMIT_CPU         cur 10         max 20",
        "RLIMIT_NOFILE      cur 256        max 1024",
        "RLIMIT_STACK       cur 8388608    max inf",
        "fd   5 pipe     flags 0o0 mode 0o10600 capacity 65536 id 1 data 6\n",
        "fd   7 unlinked flags 0o2 mode 0o100600 pos 3 id 2 data 26 /tmp/gone",
        "fd   3 path     flags 0o0 mode 0o100644 pos 10 /etc/passwd",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains("RLIMIT_AS"), "infinite limits are not listed");
    let j = img.to_json(None);
    assert_eq!(j["state"]["fds"][2]["kind"], FD_PIPE);
    assert_eq!(j["state"]["fds"][2]["data_len"], 6);
    assert_eq!(j["state"]["fds"][4]["id"], 2);
    assert_eq!(j["state"]["rlimits"][7]["cur"], 256);
    assert_eq!(j["state"]["rlimits"][9]["max"], u64::MAX);
}
