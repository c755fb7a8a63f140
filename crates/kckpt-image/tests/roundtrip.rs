//! Round trip: Builder -> write -> parse gives back the same image and data.
mod common;

use common::*;
use kckpt_image::*;

#[test]
fn roundtrip_equal() {
    let (img, data, bytes) = sample();
    let back = Image::parse(&bytes).expect("parse");
    assert_eq!(back, img);
    for (i, d) in data.iter().enumerate() {
        let seg = back.segment_data(&bytes, i).unwrap();
        assert_eq!(seg.len(), img.segments[i].memsz as usize);
        assert_eq!(&seg[..d.len()], d.as_slice());
        assert!(seg[d.len()..].iter().all(|&b| b == 0));
    }
}

#[test]
fn rewrite_is_identical() {
    let (_, _, bytes) = sample();
    let img = Image::parse(&bytes).unwrap();
    let datas: Vec<&[u8]> = (0..img.segments.len()).map(|i| img.segment_data(&bytes, i).unwrap()).collect();
    assert_eq!(img.to_bytes(&datas).unwrap(), bytes);
}

#[test]
fn layout_matches_spec() {
    let (img, _, bytes) = sample();
    let note_off = 52 + 32 * img.phnum();
    assert_eq!(img.notes[0].offset, note_off);
    let names: Vec<_> = img.notes.iter().map(|n| (n.name.as_str(), n.ntype)).collect();
    assert_eq!(
        names,
        [("CORE", 1), ("CORE", 3), ("CORE", 6), ("CORE", 0x46494c45), ("CORE", 2), ("LINUX", 0x46e62b7f), ("LINUX", 0x200), ("KCKPT", 1)]
    );
    let mut prev = 0;
    for s in &img.segments {
        assert_eq!(s.offset % PAGE_SIZE, 0);
        assert!(s.offset >= prev);
        prev = s.offset + s.memsz;
    }
    // File length covers the all-zero (hole) stack segment at the end.
    assert_eq!(bytes.len(), prev as usize);
    assert_eq!(img.page_counts(&bytes), vec![(2, 1), (1, 1), (0, 1)]);
}

#[test]
fn sparse_file_on_disk() {
    let (img, data) = builder().build();
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    let path = std::env::temp_dir().join(format!("kckpt-sparse-{}.kckpt", std::process::id()));
    let mut f = std::fs::File::create(&path).unwrap();
    img.write_to(&refs, &mut f).unwrap();
    drop(f);
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(Image::parse(&bytes).unwrap(), img);
    let mut f = std::fs::File::open(&path).unwrap();
    assert_eq!(Image::parse_reader(&mut f, &Limits::default()).unwrap(), img);
    std::fs::remove_file(&path).ok();
}

#[test]
fn display_and_json() {
    let (img, _, bytes) = sample();
    let text = img.summary(Some(&bytes)).to_string();
    for want in ["Intel 80386", "eip=08048000", "08048000-0804b000", "R-X", "2 present, 1 zero/hole", "/etc/passwd", "cwd: /root", " 2: handler 0x08048100", "13: handler SIG_IGN"] {
        assert!(text.contains(want), "missing {want:?} in\n{text}");
    }
    assert!(!text.contains(" 1: handler"));
    let j = img.to_json(Some(&bytes));
    assert_eq!(j["state"]["cwd"], "/root");
    assert_eq!(j["prstatus"]["regs"]["eax"], 1);
    assert_eq!(j["pages"][0]["present"], 2);
    assert_eq!(j["state"]["fds"][1]["path"], "/tmp/x");
}

#[test]
fn field_offsets_point_at_values() {
    let (img, _, bytes) = sample();
    assert_eq!(get32(&bytes, off(&img, "prstatus.eax")), 1);
    assert_eq!(get32(&bytes, off(&img, "prstatus.orig_eax")), u32::MAX);
    assert_eq!(get32(&bytes, off(&img, "phdr[2].p_vaddr")), 0x0804_c000);
    assert_eq!(get32(&bytes, off(&img, "kckpt.magic")), KCKPT_MAGIC);
    assert_eq!(get32(&bytes, off(&img, "kckpt.vdso_base")), VDSO);
    assert_eq!(get32(&bytes, off(&img, "kckpt.vma[1].start")), 0x0804_c000);
    assert_eq!(get32(&bytes, off(&img, "kckpt.fd[1].fd")), 4);
    assert_eq!(get32(&bytes, off(&img, "kckpt.sigaction[2].handler")), 0x0804_8100);
    assert_eq!(get32(&bytes, off(&img, "tls[0].base_addr")), 0xb7e0_0000);
    assert_eq!(get32(&bytes, off(&img, "fxsave.mxcsr")), 0x1f80);
    assert_eq!(get32(&bytes, off(&img, "nt_file.page_size")), 4096);
    let cwd = off(&img, "kckpt.cwd");
    assert_eq!(&bytes[cwd..cwd + 6], b"/root\0");
    for (name, o, w) in img.field_offsets() {
        assert!(o + w <= bytes.len(), "{name}");
    }
}

#[test]
fn minimal_builder_is_valid() {
    let bytes = Builder::new().bytes();
    let img = Image::parse(&bytes).unwrap();
    assert!(img.segments.is_empty());
    assert_eq!(img.state.cwd, b"/");
}

#[test]
fn regs_as_installed() {
    let r = Regs { cs: 0x1_0073, ss: 0x7b, gs: 0x33, eflags: 0xffff_ffff, ..Regs::default() };
    let s = r.as_installed();
    assert_eq!((s.cs, s.ss, s.gs), (USER_CS, USER_DS, 0x33));
    assert_eq!(s.eflags, 0x202 | EFLAGS_USER_MASK);
    assert_eq!(Regs { eflags: 0, ..r }.as_installed().eflags, 0x202);
}
