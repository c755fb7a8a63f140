//! `struct kckpt_attrs` (task name, personality, no_new_privs, dumpable,
//! sigaltstack): its layout, the values the loader accepts, and one broken
//! image per rule, rejected with the error naming it.
mod common;

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

fn patched(name: &str, f: impl Fn(u32) -> u32) -> std::result::Result<Image, Error> {
    let (img, _, mut b) = sample();
    patch(&img, &mut b, name, f);
    Image::parse(&b)
}

/// The sample with `comm` bytes replaced by `c`.
fn with_comm(c: &[u8; 16]) -> std::result::Result<Image, Error> {
    let (img, _, mut b) = sample();
    let o = off(&img, "kckpt.attrs.comm");
    b[o..o + 16].copy_from_slice(c);
    Image::parse(&b)
}

fn built(b: Builder) -> std::result::Result<Image, Error> {
    Image::parse(&b.bytes())
}

#[test]
fn layout_and_round_trip() {
    let (img, _, b) = sample();
    let back = Image::parse(&b).unwrap();
    assert_eq!(back, img);
    let a = back.state.attrs;
    assert_eq!(&a.comm, b"sample\0\0\0\0\0\0\0\0\0\0");
    assert_eq!((a.personality, a.no_new_privs, a.dumpable), (ADDR_NO_RANDOMIZE | UNAME26, true, 2));
    assert_eq!((a.ss_sp, a.ss_size, a.ss_flags), (0x0804_d000, 0x1000, SS_AUTODISARM));
    let d = off(&img, "kckpt.magic");
    for (name, at) in [
        ("comm", 1880),
        ("personality", 1896),
        ("flags", 1900),
        ("dumpable", 1904),
        ("ss_sp", 1908),
        ("ss_size", 1912),
        ("ss_flags", 1916),
        ("extras", 1920),
        ("reserved", 1924),
    ] {
        assert_eq!(off(&img, &format!("kckpt.attrs.{name}")) - d, at, "{name}");
    }
    assert_eq!(&b[d + 1880..d + 1896], &a.comm);
    assert_eq!(get32(&b, d + 1896), ADDR_NO_RANDOMIZE | UNAME26);
    assert_eq!(get32(&b, d + 1900), KCKPT_ATTR_NO_NEW_PRIVS);
    assert_eq!(get32(&b, d + 1904), 2);
    assert_eq!(get32(&b, d + 1916), SS_AUTODISARM);
    assert_eq!((get32(&b, d + 1920), get32(&b, d + 1924)), (0, 0));
    assert_eq!(KCKPT_FIXED_SIZE, ATTRS_OFF + ATTRS_SIZE);
}

#[test]
fn builder_defaults() {
    let img = built(Builder::new()).unwrap();
    let a = img.state.attrs;
    assert_eq!(a, Attrs::default());
    assert_eq!(a.name(), "kckpt");
    assert_eq!((a.personality, a.no_new_privs, a.dumpable), (0, false, 1));
    assert_eq!((a.ss_sp, a.ss_size, a.ss_flags), (0, 0, SS_DISABLE));
    // a 15-byte name fills comm up to its NUL; longer names are cut
    let img = built(Builder::new().comm(b"0123456789abcdefgh")).unwrap();
    assert_eq!(&img.state.attrs.comm, b"0123456789abcde\0");
    assert_eq!(built(Builder::new().comm(b"")).unwrap().state.attrs.name(), "");
}

// comm.
#[test]
fn comm_must_be_nul_terminated() {
    assert_eq!(with_comm(b"0123456789abcdef"), Err(Error::CommNotTerminated));
    let mut c = Attrs::comm_from(b"x");
    c[15] = b'!';
    assert_eq!(with_comm(&c), Err(Error::CommNotTerminated));
}

#[test]
fn comm_zero_after_the_nul() {
    let mut c = Attrs::comm_from(b"sample");
    c[8] = b'A';
    assert_eq!(with_comm(&c), Err(Error::CommAfterNul { at: 8, byte: b'A' }));
    let mut c = [0u8; 16];
    c[14] = 0xff;
    assert_eq!(with_comm(&c), Err(Error::CommAfterNul { at: 14, byte: 0xff }));
    // any bytes before the NUL, not only UTF-8
    assert!(with_comm(b"\xff\x01 ab/c\0\0\0\0\0\0\0\0\0").is_ok());
}

// personality.
#[test]
fn personality_allowed_flags() {
    for p in [0, UNAME26, ADDR_NO_RANDOMIZE, ADDR_COMPAT_LAYOUT, READ_IMPLIES_EXEC, SHORT_INODE, WHOLE_SECONDS, STICKY_TIMEOUTS, ADDR_LIMIT_3GB, PERSONALITY_FLAGS_OK] {
        assert!(patched("kckpt.attrs.personality", |_| p).is_ok(), "{p:#x}");
    }
}

#[test]
fn personality_must_be_per_linux() {
    for p in [1, 0x8 /* PER_BSD */, 0xff, 0x10 | ADDR_NO_RANDOMIZE] {
        assert_eq!(patched("kckpt.attrs.personality", |_| p), Err(Error::PersonalityNotLinux { personality: p }));
    }
}

#[test]
fn personality_other_flags_refused() {
    for bit in (8..32).map(|k| 1u32 << k).filter(|b| b & PERSONALITY_FLAGS_OK == 0) {
        let p = bit | ADDR_NO_RANDOMIZE;
        assert_eq!(patched("kckpt.attrs.personality", |_| p), Err(Error::PersonalityFlags { personality: p, bits: bit }));
    }
    // MMAP_PAGE_ZERO would let restart map page 0
    let e = patched("kckpt.attrs.personality", |_| 0x0010_0000).unwrap_err();
    assert!(e.to_string().contains("0x100000"), "{e}");
}

// flags, dumpable, reserved.
#[test]
fn attr_flags_only_no_new_privs() {
    let img = patched("kckpt.attrs.flags", |_| 0).unwrap();
    assert!(!img.state.attrs.no_new_privs);
    for f in [2, 3, 0x8000_0000, u32::MAX] {
        assert_eq!(patched("kckpt.attrs.flags", |_| f), Err(Error::AttrFlags { flags: f }));
    }
}

#[test]
fn dumpable_0_1_or_2() {
    for d in 0..=2 {
        assert_eq!(patched("kckpt.attrs.dumpable", |_| d).unwrap().state.attrs.dumpable, d);
    }
    for d in [3, 4, 0x100, u32::MAX] {
        assert_eq!(patched("kckpt.attrs.dumpable", |_| d), Err(Error::Dumpable { value: d }));
    }
}

#[test]
fn reserved_word_zero() {
    for v in [1, 0x8000_0000] {
        assert_eq!(patched("kckpt.attrs.reserved", |_| v), Err(Error::AttrsReserved { value: v }));
    }
}

// sigaltstack.
fn alt(sp: u32, size: u32, flags: u32) -> std::result::Result<Image, Error> {
    built(Builder::new().sigaltstack(sp, size, flags))
}

#[test]
fn sigaltstack_flags() {
    for f in [SS_ONSTACK, 3, SS_AUTODISARM | SS_ONSTACK, SS_AUTODISARM | SS_DISABLE, 4, u32::MAX] {
        assert_eq!(alt(0x1000_0000, 8192, f), Err(Error::SigaltstackFlags { ss_flags: f }), "{f:#x}");
    }
    assert!(alt(0x1000_0000, 8192, 0).is_ok());
    assert!(alt(0x1000_0000, 8192, SS_AUTODISARM).is_ok());
}

#[test]
fn sigaltstack_disabled_has_no_stack() {
    assert!(alt(0, 0, SS_DISABLE).is_ok());
    assert_eq!(alt(0x1000, 0, SS_DISABLE), Err(Error::SigaltstackDisabled { ss_sp: 0x1000, ss_size: 0 }));
    assert_eq!(alt(0, 8192, SS_DISABLE), Err(Error::SigaltstackDisabled { ss_sp: 0, ss_size: 8192 }));
}

#[test]
fn sigaltstack_at_least_minsigstksz() {
    assert!(alt(0x1000_0000, MINSIGSTKSZ, 0).is_ok());
    for size in [0, 1, MINSIGSTKSZ - 1] {
        assert_eq!(alt(0x1000_0000, size, 0), Err(Error::SigaltstackSize { ss_size: size }));
        assert_eq!(alt(0x1000_0000, size, SS_AUTODISARM), Err(Error::SigaltstackSize { ss_size: size }));
    }
}

#[test]
fn sigaltstack_below_task_size() {
    assert!(alt(TASK_SIZE - 8192, 8192, 0).is_ok());
    assert_eq!(alt(TASK_SIZE - 8191, 8192, 0), Err(Error::SigaltstackRange { ss_sp: TASK_SIZE - 8191, ss_size: 8192 }));
    assert_eq!(alt(TASK_SIZE, 4096, 0), Err(Error::SigaltstackRange { ss_sp: TASK_SIZE, ss_size: 4096 }));
    // ss_sp + ss_size wraps around
    assert_eq!(alt(0xffff_f000, 0x2000, 0), Err(Error::SigaltstackRange { ss_sp: 0xffff_f000, ss_size: 0x2000 }));
    assert_eq!(alt(0x1000, u32::MAX, 0), Err(Error::SigaltstackRange { ss_sp: 0x1000, ss_size: u32::MAX }));
    // the limit is the machine's
    let lim = Limits { task_size: 0x8000_0000, ..Limits::default() };
    assert!(Image::parse_with(&Builder::new().sigaltstack(0x7fff_0000, 0x1_0000, 0).bytes(), &lim).is_ok());
    let b = Builder::new().sigaltstack(0x8000_0000, 0x1_0000, 0).bytes();
    assert_eq!(Image::parse_with(&b, &lim), Err(Error::SigaltstackRange { ss_sp: 0x8000_0000, ss_size: 0x1_0000 }));
}

#[test]
fn truncated_in_attrs() {
    // a descriptor that ends inside kckpt_attrs
    let (img, _, mut b) = sample();
    let size = 1900u32;
    set32(&mut b, off(&img, "kckpt.size"), size);
    let note = img.notes.iter().find(|n| n.name == "KCKPT").unwrap();
    set32(&mut b, note.offset + 4, size);
    // the PT_NOTE segment shrinks with it; the bytes after are left as is
    let old = note.descsz.div_ceil(4) * 4;
    patch(&img, &mut b, "phdr[0].p_filesz", |v| v - (old as u32 - size));
    assert_eq!(Image::parse(&b), Err(Error::KckptTruncated { what: "attrs" }));
}

#[test]
fn display_and_json_show_attrs() {
    let (img, _, bytes) = sample();
    let text = img.summary(Some(&bytes)).to_string();
    for want in [
        "Attributes:\n",
        "  comm         \"sample\"\n",
        "  personality  0x00060000\n",
        "  no_new_privs yes\n",
        "  dumpable     2\n",
        "  sigaltstack  0x0804d000 size 0x1000 autodisarm\n",
    ] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(built(Builder::new()).unwrap().to_string().contains("  sigaltstack  disabled\n"));
    let j = img.to_json(None);
    let a = &j["state"]["attrs"];
    assert_eq!(a["comm"], "sample");
    assert_eq!(a["personality"], ADDR_NO_RANDOMIZE | UNAME26);
    assert_eq!(a["no_new_privs"], true);
    assert_eq!(a["dumpable"], 2);
    assert_eq!((a["ss_sp"].as_u64(), a["ss_size"].as_u64(), a["ss_flags"].as_u64()), (Some(0x0804_d000), Some(0x1000), Some(SS_AUTODISARM as u64)));
}
