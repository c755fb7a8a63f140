//! Incremental images: NT_KCKPT_PARENT's rules (one broken note per rule,
//! rejected with the error naming it) and chains of files (missing,
//! changed, cycling, too shallow parents; pages the parent lacks), and
//! flattening, which must give exactly the complete image.
mod common;

use std::path::{Path, PathBuf};

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

const CODE: u32 = 0x0804_8000;
const HEAP: u32 = 0x0804_c000;

fn bytes(img: &Image, data: &[Vec<u8>]) -> Vec<u8> {
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    img.to_bytes(&refs).unwrap()
}

/// The sample with its heap's first bytes replaced: what the process
/// holds at the second checkpoint.
fn later() -> (Image, Vec<Vec<u8>>) {
    let (img, mut data) = builder().build();
    data[1] = b"new heap".to_vec();
    (img, data)
}

fn parent_of(full: &[u8], path: &str, depth: u32, ranges: &[(u32, u32)]) -> Parent {
    let (size, hash) = identity(full);
    Parent {
        path: path.as_bytes().to_vec(),
        size,
        hash,
        depth,
        ranges: ranges.iter().map(|&(vaddr, npages)| PageRange { vaddr, npages }).collect(),
    }
}

/// `later()` as an incremental image over `full`: the code's two data
/// pages come from the parent (holes here), the heap is its own.
fn incremental(full: &[u8], path: &str) -> Vec<u8> {
    let (mut img, mut data) = later();
    data[0] = Vec::new();
    img.parent = Some(parent_of(full, path, 1, &[(CODE, 1), (CODE + 0x2000, 1)]));
    img.relayout();
    bytes(&img, &data)
}

fn dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("kckpt-chain-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn open(p: &Path) -> Result<Chain<Vec<u8>>, Error> {
    Chain::open(p, |p| std::fs::read(p))
}

fn flatten(c: &Chain<Vec<u8>>) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    c.flatten(&mut out).unwrap();
    out.into_inner()
}

#[test]
fn round_trip_and_flatten_gives_the_complete_image() {
    let d = dir("flat");
    let (_, _, full) = sample();
    std::fs::write(d.join("full.kckpt"), &full).unwrap();
    let inc = incremental(&full, "full.kckpt");
    let img = Image::parse(&inc).unwrap();
    assert_eq!(img.extras() & KCKPT_EXTRA_PARENT, KCKPT_EXTRA_PARENT);
    let p = img.parent.as_ref().unwrap();
    assert_eq!((p.depth, p.pages(), p.path.as_slice()), (1, 2, b"full.kckpt".as_slice()));
    assert!(p.holds(CODE) && !p.holds(CODE + 0x1000) && p.holds(CODE + 0x2fff) && !p.holds(HEAP));
    std::fs::write(d.join("inc.kckpt"), &inc).unwrap();
    let c = open(&d.join("inc.kckpt")).unwrap();
    assert_eq!((c.links.len(), c.depth()), (2, 1));
    let (img, data) = later();
    assert_eq!(flatten(&c), bytes(&img, &data), "flattened != the complete image of the same state");
    // A second link on top: the heap page from inc, the code from full.
    let inc2 = {
        let (mut img, mut data) = later();
        data[0] = Vec::new();
        data[1] = Vec::new();
        img.parent = Some(parent_of(&inc, "inc.kckpt", 2, &[(CODE, 1), (CODE + 0x2000, 1), (HEAP, 1)]));
        img.relayout();
        bytes(&img, &data)
    };
    std::fs::write(d.join("inc2.kckpt"), &inc2).unwrap();
    let c = open(&d.join("inc2.kckpt")).unwrap();
    assert_eq!((c.links.len(), c.depth()), (3, 2));
    assert_eq!(flatten(&c), bytes(&img, &data));
    // a complete image flattens to itself
    let c = open(&d.join("full.kckpt")).unwrap();
    assert_eq!(flatten(&c), full);
}

#[test]
fn chain_refusals() {
    let d = dir("refuse");
    let (_, _, full) = sample();
    let inc = incremental(&full, "full.kckpt");
    std::fs::write(d.join("inc.kckpt"), &inc).unwrap();
    let e = open(&d.join("inc.kckpt")).err().unwrap();
    assert!(matches!(e, Error::ParentMissing { .. }), "{e}");
    // the parent modified: one note byte, or its length
    let mut m = full.clone();
    let o = off(&Image::parse(&full).unwrap(), "prstatus.eax");
    m[o] ^= 1;
    std::fs::write(d.join("full.kckpt"), &m).unwrap();
    let e = open(&d.join("inc.kckpt")).err().unwrap();
    assert!(matches!(e, Error::ParentChanged { what: "header hash", .. }), "{e}");
    let mut m = full.clone();
    m.extend_from_slice(&[0; 4096]);
    std::fs::write(d.join("full.kckpt"), &m).unwrap();
    assert!(matches!(open(&d.join("inc.kckpt")).err().unwrap(), Error::ParentChanged { what: "size", .. }));
    // the parent replaced by an incremental image (depth 1, the child says 0)
    std::fs::write(d.join("full.kckpt"), &full).unwrap();
    std::fs::write(d.join("other.kckpt"), incremental(&full, "full.kckpt")).unwrap();
    let deep = {
        let (mut img, data) = later();
        let other = std::fs::read(d.join("other.kckpt")).unwrap();
        img.parent = Some(parent_of(&other, "other.kckpt", 1, &[]));
        img.relayout();
        bytes(&img, &data)
    };
    std::fs::write(d.join("deep.kckpt"), &deep).unwrap();
    let e = open(&d.join("deep.kckpt")).err().unwrap();
    assert!(matches!(e, Error::ChainDepth { depth: 1, expected: 0, .. }), "{e}");
    // a parent that is not an image
    std::fs::write(d.join("junk.kckpt"), b"junk").unwrap();
    let junk = {
        let (mut img, data) = later();
        img.parent = Some(parent_of(b"junk", "junk.kckpt", 1, &[]));
        img.relayout();
        bytes(&img, &data)
    };
    std::fs::write(d.join("j.kckpt"), &junk).unwrap();
    assert!(matches!(open(&d.join("j.kckpt")).err().unwrap(), Error::ParentInvalid { .. }));
    // a page taken from the parent that the image holds too
    let both = {
        let (mut img, data) = later();
        img.parent = Some(parent_of(&full, "full.kckpt", 1, &[(CODE, 1)]));
        img.relayout();
        bytes(&img, &data)
    };
    std::fs::write(d.join("both.kckpt"), &both).unwrap();
    let e = open(&d.join("both.kckpt")).err().unwrap();
    assert_eq!(e, Error::ParentRangeHasData { vaddr: CODE });
}

#[test]
fn pages_the_parent_lacks_and_cycles() {
    let d = dir("lacks");
    // the parent without the heap segment
    let small = Builder::new().segment(CODE, 3, PF_R | PF_X, 0, vec![1; 4096]).bytes();
    std::fs::write(d.join("small.kckpt"), &small).unwrap();
    let (mut img, mut data) = later();
    data[1] = Vec::new();
    img.parent = Some(parent_of(&small, "small.kckpt", 1, &[(HEAP, 1)]));
    img.relayout();
    std::fs::write(d.join("inc.kckpt"), bytes(&img, &data)).unwrap();
    let e = open(&d.join("inc.kckpt")).err().unwrap();
    assert!(matches!(e, Error::ParentLacksPage { vaddr: HEAP, .. }), "{e}");
    // a names b, b names a: the identities cannot both hold, so the
    // cycle is made by hand with an identity of a file that a later
    // write replaces; the chain stops at the second visit of a.
    let a_path = d.join("a.kckpt");
    let mk = |parent: &[u8], name: &str, depth: u32| {
        let (mut img, data) = later();
        img.parent = Some(parent_of(parent, name, depth, &[]));
        img.relayout();
        bytes(&img, &data)
    };
    let (_, _, full) = sample();
    let a0 = mk(&full, "b.kckpt", 2);
    let b = mk(&a0, "a.kckpt", 1);
    std::fs::write(d.join("b.kckpt"), &b).unwrap();
    std::fs::write(&a_path, mk(&b, "b.kckpt", 2)).unwrap();
    let e = open(&a_path).err().unwrap();
    assert!(matches!(e, Error::ChainCycle { .. } | Error::ParentChanged { .. }), "{e}");
    // self-reference: the identity of the file as it will be written
    // cannot be known, so it fails as a cycle before the identity check
    let selfref = mk(&full, "self.kckpt", 1);
    std::fs::write(d.join("self.kckpt"), &selfref).unwrap();
    let e = open(&d.join("self.kckpt")).err().unwrap();
    assert!(matches!(e, Error::ChainCycle { .. }), "{e}");
}

#[test]
fn paths_recorded_relative_to_the_child() {
    let p = |s: &str| PathBuf::from(s);
    assert_eq!(path_for_child(&p("/tmp/c/full.kckpt"), &p("/tmp/c/inc.kckpt")), b"full.kckpt");
    assert_eq!(path_for_child(&p("/tmp/c/old/full.kckpt"), &p("/tmp/c/inc.kckpt")), b"old/full.kckpt");
    assert_eq!(path_for_child(&p("/var/full.kckpt"), &p("/tmp/c/inc.kckpt")), b"/var/full.kckpt");
    assert_eq!(chain::parent_path(&p("/tmp/c/inc.kckpt"), b"old/f"), p("/tmp/c/old/f"));
    assert_eq!(chain::parent_path(&p("inc.kckpt"), b"f"), p("f"));
    assert_eq!(chain::parent_path(&p("/tmp/c/inc.kckpt"), b"/abs/f"), p("/abs/f"));
}

/// The incremental sample's NT_KCKPT_PARENT descriptor offset, and the image.
fn inc_sample() -> (Vec<u8>, usize) {
    let (_, _, full) = sample();
    let inc = incremental(&full, "full.kckpt");
    let img = Image::parse(&inc).unwrap();
    let loc = img.notes.iter().find(|n| n.name == "KCKPT" && n.ntype == NT_KCKPT_PARENT).unwrap();
    (inc, loc.desc_offset)
}

fn with(f: impl Fn(&mut Vec<u8>, usize)) -> Error {
    let (mut b, d) = inc_sample();
    f(&mut b, d);
    Image::parse(&b).err().expect("accepted a broken NT_KCKPT_PARENT")
}

/// The incremental sample with its parent note replaced by `p` encoded.
fn note(p: impl Fn(&mut Parent)) -> Result<Image, Error> {
    let (_, _, full) = sample();
    let (mut img, mut data) = later();
    data[0] = Vec::new();
    let mut par = parent_of(&full, "full.kckpt", 1, &[(CODE, 1), (CODE + 0x2000, 1)]);
    p(&mut par);
    img.parent = Some(par);
    img.relayout();
    Image::parse(&bytes(&img, &data))
}

#[test]
fn note_rules() {
    assert!(matches!(with(|b, d| set32(b, d + 16, 0)), Error::ParentDepth { depth: 0 }));
    assert!(matches!(with(|b, d| set32(b, d + 16, MAX_CHAIN_DEPTH + 1)), Error::ParentDepth { .. }));
    assert!(matches!(with(|b, d| set32(b, d + 28, 1)), Error::ParentReserved { value: 1 }));
    assert!(matches!(with(|b, d| set32(b, d + 24, 1)), Error::ParentPathLen { len: 1 }));
    assert!(matches!(with(|b, d| set32(b, d + 24, 4097)), Error::ParentPathLen { len: 4097 }));
    assert!(matches!(with(|b, d| set32(b, d + 20, 3)), Error::ParentSize { .. }));
    assert!(matches!(with(|b, d| set32(b, d + 20, u32::MAX)), Error::ParentSize { .. }));
    assert!(matches!(with(|b, d| set32(b, d + 36, 0)), Error::ParentRange { k: 0, .. }));
    assert!(matches!(with(|b, d| set32(b, d + 40, CODE + 1)), Error::ParentRange { k: 1, .. }));
    assert!(matches!(with(|b, d| set32(b, d + 40, CODE)), Error::ParentRangeOrder { k: 1, .. }));
    // "full.kckpt\0" at 48: a NUL inside, none at the end, padding
    assert!(matches!(with(|b, d| b[d + 50] = 0), Error::ParentPathNul));
    assert!(matches!(with(|b, d| b[d + 58] = b'x'), Error::ParentPathNul));
    assert!(matches!(with(|b, d| b[d + 59] = 1), Error::ParentPadding));
    // the note without its bit, the bit without the note
    let (img, _) = later();
    let ex = off(&img, "kckpt.attrs.extras");
    assert!(matches!(with(|b, _| set32(b, ex, 0)), Error::ExtraNoteUnflagged { .. }));
    let (_, _, mut full) = sample();
    set32(&mut full, ex, KCKPT_EXTRA_PARENT);
    assert!(matches!(Image::parse(&full), Err(Error::ExtraNoteMissing { .. })));
    // ranges outside a segment, across two, in the stack's end, in a shared file mapping
    let outside = |r: (u32, u32)| note(|p| p.ranges = vec![PageRange { vaddr: r.0, npages: r.1 }]);
    assert!(matches!(outside((0x0900_0000, 1)), Err(Error::ParentRangeOutside { k: 0, .. })));
    assert!(matches!(outside((CODE, 4)), Err(Error::ParentRangeOutside { .. })));
    assert!(matches!(outside((0xbffd_f000, 2)), Err(Error::ParentRangeOutside { .. })));
    assert!(matches!(outside((0xbffd_f000, u32::MAX)), Err(Error::ParentRangeOutside { .. })));
    assert!(outside((0xbffd_f000, 1)).is_ok());
    let shared = {
        let (_, _, full) = sample();
        let b = Builder::new().segment(CODE, 1, PF_R, 0, vec![1; 16]).shared_file(0xb000_0000, 2, PF_R, 0, "/data/db");
        let (mut img, data) = b.build();
        img.parent = Some(parent_of(&full, "full.kckpt", 1, &[(0xb000_0000, 1)]));
        img.relayout();
        Image::parse(&bytes(&img, &data))
    };
    assert!(matches!(shared, Err(Error::ParentRangeOutside { .. })), "{shared:?}");
    // no ranges at all: every page is the image's own
    assert!(note(|p| p.ranges.clear()).is_ok());
    // the longest path
    assert!(note(|p| p.path = vec![b'a'; 4095]).is_ok());
}
