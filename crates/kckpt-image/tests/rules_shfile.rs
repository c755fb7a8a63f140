//! Shared file mappings (`kckpt_vma` flags `SHARED|FILE`, patch 0045): the
//! NT_FILE rules binfmt_cr's `cr_open_mapped()` applies once an image has
//! one, each broken on its own; NT_FILE stays informational without one.
mod common;

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

type Parsed = std::result::Result<Image, Error>;

/// A private file VMA (code, entry 0) then a writable shared mapping of
/// /data/db 3 pages into it (entry 1).
fn shfile() -> Builder {
    Builder::new()
        .segment(0x0804_8000, 1, PF_R | PF_X, VMA_FILE, vec![0x90; 16])
        .file_mapping(0x0804_8000, 0x0804_9000, 0, "/bin/db")
        .shared_file(0x1000_0000, 2, PF_R | PF_W, 3, "/data/db")
}

fn parsed(b: Builder) -> Parsed {
    Image::parse(&b.bytes())
}

/// `b`'s image with NT_FILE replaced by exactly `raw`.
fn with_ntfile(b: Builder, raw: Vec<u8>) -> Parsed {
    let (mut img, data) = b.build();
    img.files_raw = raw;
    img.relayout();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    Image::parse(&img.to_bytes(&refs).unwrap())
}

/// `b`'s image with the named NT_FILE or kckpt field patched.
fn patched(b: Builder, name: &str, f: impl Fn(u32) -> u32) -> Parsed {
    let (img, data) = b.build();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let mut bytes = img.to_bytes(&refs).unwrap();
    patch(&img, &mut bytes, name, f);
    Image::parse(&bytes)
}

/// NT_FILE bytes: the header, `entries`, then `names` as given (each with
/// its terminator if the caller wrote one).
fn raw(count: u32, page_size: u32, entries: &[[u32; 3]], names: &[u8]) -> Vec<u8> {
    let mut d = Vec::new();
    for x in [count, page_size].into_iter().chain(entries.iter().flatten().copied()) {
        d.extend_from_slice(&x.to_le_bytes());
    }
    d.extend_from_slice(names);
    d
}

const CODE: [u32; 3] = [0x0804_8000, 0x0804_9000, 0];
const DB: [u32; 3] = [0x1000_0000, 0x1000_2000, 3];

#[test]
fn shared_file_mapping_accepted_and_round_trips() {
    let (img, data) = shfile().build();
    let back = parsed(shfile()).unwrap();
    assert_eq!(back, img);
    assert!(data[1].is_empty(), "the segment of a shared file mapping is a hole");
    let v = back.state.vmas[1];
    assert_eq!((v.flags, v.pgoff), (VMA_SHARED | VMA_FILE, 3));
    assert_eq!(back.files[1], FileEntry { start: 0x1000_0000, end: 0x1000_2000, pgoff: 3, path: b"/data/db".to_vec() });
    // the same NT_FILE written by hand parses the same
    assert!(with_ntfile(shfile(), raw(2, 4096, &[CODE, DB], b"/bin/db\0/data/db\0")).is_ok());
}

#[test]
fn highest_pgoff_accepted_above_it_refused() {
    let b = |pgoff| Builder::new().shared_file(0x1000_0000, 1, PF_R, pgoff, "/f");
    assert!(parsed(b(SHARED_FILE_MAX_PGOFF)).is_ok());
    for pgoff in [0x10_0000, u32::MAX] {
        assert_eq!(parsed(b(pgoff)), Err(Error::NtFilePgoff { i: 0, pgoff }));
    }
}

#[test]
fn header_rules() {
    // (an empty files_raw means "encode the entries", so size 0 is not tried)
    for size in [1usize, 4, 7] {
        let mut d = raw(0, 4096, &[], b"");
        d.truncate(size);
        assert_eq!(with_ntfile(shfile(), d), Err(Error::NtFileShort { size }));
    }
    for page_size in [0, 1, 8192, u32::MAX] {
        assert_eq!(patched(shfile(), "nt_file.page_size", |_| page_size), Err(Error::NtFilePageSize { page_size }));
    }
    let (img, _) = shfile().build();
    let size = img.notes.iter().find(|n| n.ntype == NT_FILE).unwrap().descsz;
    assert_eq!(size, raw(2, 4096, &[CODE, DB], b"/bin/db\0/data/db\0").len());
    let fits = (size as u32 - 8) / 12;
    for count in [fits + 1, 0x1555_5556, u32::MAX] {
        assert_eq!(patched(shfile(), "nt_file.count", |_| count), Err(Error::NtFileCount { count, size }));
    }
}

#[test]
fn every_file_vma_needs_an_entry_and_a_name() {
    // no entry left for the shared mapping (kckpt_vma 1)
    let b = Builder::new()
        .segment(0x0804_8000, 1, PF_R | PF_X, VMA_FILE, vec![])
        .file_mapping(0x0804_8000, 0x0804_9000, 0, "/bin/db")
        .segment(0x1000_0000, 2, PF_R | PF_W, VMA_SHARED_FILE, vec![]);
    assert_eq!(parsed(b), Err(Error::NtFileLacksVma { i: 1 }));
    // two entries but the names end after the first
    assert_eq!(with_ntfile(shfile(), raw(2, 4096, &[CODE, DB], b"/bin/db\0")), Err(Error::NtFileLacksVma { i: 1 }));
    // a private file VMA counts too: with no entry for it, none is left for the shared one
    assert_eq!(with_ntfile(shfile(), raw(1, 4096, &[DB], b"/data/db\0")), Err(Error::NtFileLacksVma { i: 1 }));
    // the shared mapping alone, NT_FILE empty
    let alone = Builder::new().segment(0x1000_0000, 1, PF_R, VMA_SHARED_FILE, vec![]);
    assert_eq!(parsed(alone), Err(Error::NtFileLacksVma { i: 0 }));
}

#[test]
fn names_must_be_non_empty_and_terminated() {
    let bad = [
        (&b"\0/data/db\0"[..], 0),
        (b"/bin/db\0\0", 1),
        (b"/bin/db\0/data/db", 1),
        (b"/bin/db", 0),
    ];
    for (names, k) in bad {
        let got = with_ntfile(shfile(), raw(2, 4096, &[CODE, DB], names));
        assert_eq!(got, Err(Error::NtFileName { k }), "names {:?}", String::from_utf8_lossy(names));
    }
}

#[test]
fn shared_entry_must_match_its_vma() {
    for field in ["start", "end", "pgoff"] {
        let got = patched(shfile(), &format!("nt_file[1].{field}"), |v| v + 0x1000);
        assert_eq!(got, Err(Error::NtFileMismatch { k: 1, i: 1 }), "{field}");
    }
    // the kckpt_vma's pgoff is the one compared (and mapped)
    assert_eq!(patched(shfile(), "kckpt.vma[1].pgoff", |v| v + 1), Err(Error::NtFileMismatch { k: 1, i: 1 }));
    // entries in the wrong order: the shared mapping gets the code's entry
    let swapped = raw(2, 4096, &[DB, CODE], b"/data/db\0/bin/db\0");
    assert_eq!(with_ntfile(shfile(), swapped), Err(Error::NtFileMismatch { k: 1, i: 1 }));
}

#[test]
fn private_file_entries_need_only_a_name() {
    // entry 0 describes the private code VMA: its range is not checked
    assert!(patched(shfile(), "nt_file[0].start", |_| 0x4000_0000).is_ok());
    // extra entries (and names) after the last file VMA are fine
    let extra = raw(3, 4096, &[CODE, DB, [0x2000_0000, 0x2000_1000, 0]], b"/bin/db\0/data/db\0/x\0");
    assert!(with_ntfile(shfile(), extra).is_ok());
}

#[test]
fn ntfile_informational_without_a_shared_file_mapping() {
    let garbage: [Vec<u8>; 4] = [
        vec![0; 3],
        vec![0xff; 5],
        raw(u32::MAX, 0, &[], b"no nul"),
        raw(2, 4096, &[[1, 2, 3]], b""),
    ];
    for g in garbage {
        let b = common::builder();
        assert!(with_ntfile(b, g.clone()).is_ok(), "{g:?}");
    }
    // shared anonymous memory is no shared file mapping either
    let shm = Builder::new().segment(0x1000_0000, 1, PF_R | PF_W, VMA_SHARED, b"x".to_vec());
    assert!(with_ntfile(shm, vec![1, 2, 3, 4]).is_ok());
}

#[test]
fn shared_with_other_flags_still_refused() {
    for flags in [
        VMA_SHARED | VMA_GROWSDOWN,
        VMA_SHARED | VMA_HEAP,
        VMA_SHARED | VMA_FILE | VMA_HEAP,
        VMA_SHARED | VMA_FILE | VMA_GROWSDOWN,
        VMA_SHARED | VMA_FILE | VMA_HEAP | VMA_GROWSDOWN,
    ] {
        let got = patched(shfile(), "kckpt.vma[1].flags", |_| flags);
        assert_eq!(got, Err(Error::VmaSharedWithOther { i: 1, flags }));
    }
    assert_eq!(patched(shfile(), "kckpt.vma[1].flags", |_| 0x1a), Err(Error::VmaFlags { i: 1, flags: 0x1a }));
}

#[test]
fn display_shows_a_shared_file_mapping() {
    let img = parsed(shfile()).unwrap();
    let text = img.to_string();
    assert!(text.contains("shared file map"), "{text}");
    assert!(text.contains("shared file map, mapped again 10000000-10002000 pgoff 0x3 /data/db"), "{text}");
    assert!(text.contains("  map 08048000-08049000 pgoff 0x0 /bin/db"), "{text}");
    let j = img.to_json(None);
    assert_eq!(j["state"]["vmas"][1]["flags"], VMA_SHARED | VMA_FILE);
    assert_eq!(j["files"][1]["path"], "/data/db");
    assert!(Error::NtFileLacksVma { i: 4 }.to_string().contains("NT_FILE lacks kckpt_vma 4"));
}
