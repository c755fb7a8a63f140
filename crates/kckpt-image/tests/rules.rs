//! One test per loader rule: a valid image, mutated to break exactly that
//! rule, must be rejected with the error naming it.
mod common;

use common::*;
use kckpt_image::consts::*;
use kckpt_image::*;

/// `rule!(test_name, |img, bytes| mutation, expected error pattern)`.
macro_rules! rule {
    ($name:ident, |$img:ident, $b:ident| $mutate:expr, $pat:pat) => {
        #[test]
        fn $name() {
            let ($img, _, mut $b) = sample();
            #[allow(unused_variables)]
            let $img = &$img;
            let $b = &mut $b;
            $mutate;
            let got = Image::parse($b);
            assert!(matches!(got, Err($pat)), "got {got:?}");
            if let Err(e) = got {
                assert!(!e.to_string().is_empty());
            }
        }
    };
}

/// Build the sample image after changing it, e.g. to add a raw note.
fn with_image(f: impl FnOnce(&mut Image)) -> Vec<u8> {
    let (mut img, data) = builder().build();
    f(&mut img);
    let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
    img.to_bytes(&refs).unwrap()
}

// ELF header.
rule!(file_too_small, |img, b| b.truncate(51), Error::FileTooSmall { .. });
rule!(bad_magic, |img, b| b[1] = b'e', Error::BadMagic);
rule!(bad_class, |img, b| b[4] = 2, Error::BadIdent { field: "EI_CLASS", .. });
rule!(bad_data, |img, b| b[5] = 2, Error::BadIdent { field: "EI_DATA", .. });
rule!(bad_type, |img, b| set16(b, 16, 2), Error::BadHeaderField { field: "e_type", .. });
rule!(bad_machine, |img, b| set16(b, 18, 62), Error::BadHeaderField { field: "e_machine", .. });
rule!(bad_phoff, |img, b| set32(b, 28, 64), Error::BadHeaderField { field: "e_phoff", .. });
rule!(bad_phentsize, |img, b| set16(b, 42, 56), Error::BadHeaderField { field: "e_phentsize", .. });
rule!(has_sections, |img, b| set16(b, 48, 1), Error::BadHeaderField { field: "e_shnum", .. });
rule!(shoff_set, |img, b| set32(b, 32, 100), Error::BadHeaderField { field: "e_shoff", .. });
rule!(phnum_zero, |img, b| set16(b, 44, 0), Error::BadPhnum { phnum: 0 });
rule!(phnum_too_big, |img, b| set16(b, 44, 65532), Error::BadPhnum { phnum: 65532 });
rule!(phnum_max_is_not_a_phnum_error, |img, b| set16(b, 44, 65531), Error::PhdrsOutsideFile);
rule!(phdrs_outside_file, |img, b| b.truncate(100), Error::PhdrsOutsideFile);

// Program headers: exactly one PT_NOTE, first.
rule!(first_not_note, |img, b| patch(img, b, "phdr[0].p_type", |_| PT_LOAD), Error::FirstNotNote { .. });
rule!(second_note, |img, b| patch(img, b, "phdr[2].p_type", |_| PT_NOTE), Error::NotLoad { i: 2, .. });
rule!(note_offset, |img, b| patch(img, b, "phdr[0].p_offset", |v| v + 4), Error::NoteSegment { field: "p_offset", .. });
rule!(note_align, |img, b| patch(img, b, "phdr[0].p_align", |_| 8), Error::NoteSegment { field: "p_align", .. });
rule!(note_size_unaligned, |img, b| patch(img, b, "phdr[0].p_filesz", |v| v - 2), Error::NoteSegmentSize { .. });
rule!(note_outside_file, |img, b| patch(img, b, "phdr[0].p_filesz", |_| 0x7fff_fff0), Error::NoteSegmentOutsideFile);

// Notes.
rule!(note_truncated, |img, b| patch(img, b, "phdr[0].p_filesz", |v| v - 4), Error::NoteTruncated { .. });
rule!(note_descsz_past_segment, |img, b| patch(img, b, "note[7](KCKPT/0x1).n_descsz", |_| 0xffff_fff0), Error::NoteTruncated { .. });
rule!(missing_note, |img, b| patch(img, b, "note[6](LINUX/0x200).n_type", |_| 0x201), Error::MissingNote { note: "LINUX/NT_386_TLS" });
rule!(renamed_note_is_unknown, |img, b| {
    let o = off(img, "note[7](KCKPT/0x1).n_type") + 4;
    b[o] = b'X';
}, Error::MissingNote { note: "KCKPT/NT_KCKPT_STATE" });

#[test]
fn duplicate_note() {
    let b = with_image(|i| {
        let desc = i.notes.first().map(|_| vec![0u8; PRSTATUS_SIZE]).unwrap();
        i.extra_notes.push(RawNote { name: b"CORE".to_vec(), ntype: NT_PRSTATUS, desc });
    });
    assert_eq!(Image::parse(&b), Err(Error::DuplicateNote { note: "CORE/NT_PRSTATUS" }));
}

#[test]
fn note_wrong_size() {
    let b = with_image(|i| i.extra_notes.push(RawNote { name: b"CORE".to_vec(), ntype: NT_PRFPREG, desc: vec![0; 100] }));
    assert_eq!(Image::parse(&b), Err(Error::NoteSize { note: "CORE/NT_PRFPREG", descsz: 100, expected: 108 }));
}

#[test]
fn unknown_notes_ignored() {
    let b = with_image(|i| i.extra_notes.push(RawNote { name: b"GNU".to_vec(), ntype: 5, desc: vec![1, 2, 3] }));
    let img = Image::parse(&b).unwrap();
    assert_eq!(img.extra_notes.len(), 1);
    assert_eq!(img.extra_notes[0].desc, vec![1, 2, 3]);
}

rule!(auxv_no_null, |img, b| patch(img, b, "auxv[1].type", |_| 5), Error::BadAuxv { .. });
rule!(auxv_odd_size, |img, b| {
    // Shrink AUXV by 4 and pad: next note then starts 4 bytes early, which
    // must still be caught (as a size or truncation error), never accepted.
    patch(img, b, "note[2](CORE/0x6).n_descsz", |v| v - 4)
}, Error::BadAuxv { .. } | Error::NoteTruncated { .. } | Error::MissingNote { .. });

#[test]
fn auxv_only_last_pair_must_be_null() {
    let (img, _, mut b) = sample();
    patch(&img, &mut b, "auxv[0].type", |_| 0);
    assert!(Image::parse(&b).is_ok());
}

#[test]
fn auxv_longer_than_saved_auxv() {
    let b = with_image(|i| i.auxv = (0..26).map(|k| (if k == 25 { 0 } else { 6 }, 0)).collect());
    assert!(Image::parse(&b).is_ok(), "26 pairs = sizeof(saved_auxv) fits");
    let b = with_image(|i| i.auxv = (0..27).map(|k| (if k == 26 { 0 } else { 6 }, 0)).collect());
    assert!(matches!(Image::parse(&b), Err(Error::BadAuxv { .. })));
}

#[test]
fn nt_file_is_informational_and_kept_exactly() {
    for (field, v) in [("nt_file.page_size", 8192), ("nt_file.count", 0x1000_0000), ("nt_file.count", 2)] {
        let (img, _, mut b) = sample();
        patch(&img, &mut b, field, |_| v);
        let got = Image::parse(&b).unwrap_or_else(|e| panic!("{field}={v:#x}: {e}"));
        let datas: Vec<&[u8]> = (0..got.segments.len()).map(|i| got.segment_data(&b, i).unwrap()).collect();
        assert_eq!(got.to_bytes(&datas).unwrap(), b, "{field} rewrite");
    }
}

#[test]
fn setid_image_file_refused() {
    assert_eq!(check_file_mode(0o100644), Ok(()));
    assert_eq!(check_file_mode(0o104755), Err(Error::SetidFile { mode: 0o104755 }));
    assert!(check_file_mode(0o102755).is_err());
}
rule!(mxcsr_reserved, |img, b| patch(img, b, "fxsave.mxcsr", |_| 0x1_1f80), Error::Mxcsr { .. });
rule!(tls_not_present, |img, b| patch(img, b, "tls[0].flags", |v| v | 1 << 5), Error::TlsDesc { i: 0 });
rule!(tls_16bit, |img, b| patch(img, b, "tls[0].flags", |v| v & !1), Error::TlsDesc { i: 0 });
rule!(tls_code_segment, |img, b| patch(img, b, "tls[0].flags", |v| v | 4), Error::TlsDesc { i: 0 });

// PT_LOAD.
rule!(seg_vaddr_unaligned, |img, b| patch(img, b, "phdr[1].p_vaddr", |v| v + 16), Error::SegmentUnaligned { i: 0, field: "p_vaddr" });
rule!(seg_offset_unaligned, |img, b| patch(img, b, "phdr[2].p_offset", |v| v + 16), Error::SegmentUnaligned { i: 1, field: "p_offset" });
rule!(seg_memsz_unaligned, |img, b| patch(img, b, "phdr[1].p_memsz", |v| v - 1), Error::SegmentUnaligned { i: 0, field: "p_memsz" });
rule!(seg_filesz_mismatch, |img, b| patch(img, b, "phdr[1].p_filesz", |v| v - 4096), Error::SegmentFileszMismatch { i: 0 });
rule!(seg_empty, |img, b| {
    patch(img, b, "phdr[1].p_filesz", |_| 0);
    patch(img, b, "phdr[1].p_memsz", |_| 0);
}, Error::SegmentEmpty { i: 0 });
rule!(seg_align, |img, b| patch(img, b, "phdr[1].p_align", |_| 16), Error::SegmentField { i: 0, field: "p_align", .. });
rule!(seg_paddr, |img, b| patch(img, b, "phdr[1].p_paddr", |_| 0x1000), Error::SegmentField { i: 0, field: "p_paddr", .. });
rule!(unknown_seg_flags, |img, b| patch(img, b, "phdr[1].p_flags", |v| v | 8), Error::UnknownSegmentFlags { i: 0, .. });
rule!(seg_above_task_size, |img, b| patch(img, b, "phdr[3].p_vaddr", |_| TASK_SIZE), Error::SegmentAboveTaskSize { i: 2 });
rule!(seg_wraps, |img, b| patch(img, b, "phdr[3].p_vaddr", |_| 0xffff_f000), Error::SegmentAboveTaskSize { i: 2 });
rule!(seg_overlap, |img, b| patch(img, b, "phdr[2].p_vaddr", |_| 0x0804_a000), Error::SegmentOverlap { i: 1 });
rule!(seg_descending, |img, b| patch(img, b, "phdr[2].p_vaddr", |_| 0x0800_0000), Error::SegmentOverlap { i: 1 });
rule!(seg_overlaps_vdso_text, |img, b| patch(img, b, "kckpt.vdso_base", |_| 0x0804_9000), Error::SegmentOverlapsVdso { i: 0 });
rule!(seg_overlaps_vvar, |img, b| patch(img, b, "kckpt.vdso_base", |_| 0x0804_f000), Error::SegmentOverlapsVdso { i: 1 });
rule!(seg_outside_file, |img, b| { let n = b.len() - 4096; b.truncate(n) }, Error::SegmentOutsideFile { i: 2 });
rule!(seg_offset_huge, |img, b| patch(img, b, "phdr[3].p_offset", |_| 0xffff_f000), Error::SegmentOutsideFile { i: 2 });
rule!(seg_file_overlap, |img, b| patch(img, b, "phdr[2].p_offset", |_| 0x1000 * 2), Error::SegmentFileOverlap { i: 1 });
rule!(seg_over_notes, |img, b| patch(img, b, "phdr[1].p_offset", |_| 0), Error::SegmentFileOverlap { i: 0 });

// kckpt note.
rule!(kckpt_magic, |img, b| patch(img, b, "kckpt.magic", |v| v ^ 1), Error::KckptMagic { .. });
rule!(kckpt_version_1_refused, |img, b| patch(img, b, "kckpt.version", |_| 1), Error::KckptVersion { value: 1 });
rule!(kckpt_version_3, |img, b| patch(img, b, "kckpt.version", |_| 3), Error::KckptVersion { value: 3 });
rule!(kckpt_size, |img, b| patch(img, b, "kckpt.size", |v| v + 4), Error::KckptSize { .. });
rule!(kckpt_flags, |img, b| patch(img, b, "kckpt.flags", |_| 0x8000_0000), Error::UnknownFlags { flags: 0x8000_0000 });
rule!(mm_above_task_size, |img, b| patch(img, b, "kckpt.env_end", |_| TASK_SIZE), Error::MmField { field: "env_end", .. });
rule!(brk_below_start, |img, b| patch(img, b, "kckpt.brk", |_| 0x0804_b000), Error::BrkBelowStart { .. });
rule!(vdso_unaligned, |img, b| patch(img, b, "kckpt.vdso_base", |v| v + 4), Error::BadVdsoBase { .. });
rule!(vdso_beyond_task_size, |img, b| patch(img, b, "kckpt.vdso_base", |_| 0xbfff_f000), Error::BadVdsoBase { .. });
rule!(vdso_no_room_for_vvar, |img, b| patch(img, b, "kckpt.vdso_base", |_| 0x2000), Error::BadVdsoBase { .. });
rule!(vma_count, |img, b| patch(img, b, "kckpt.nr_vmas", |v| v + 1), Error::VmaCount { nr_vmas: 4, loads: 3 });
rule!(vma_count_huge, |img, b| patch(img, b, "kckpt.nr_vmas", |_| u32::MAX), Error::VmaCount { .. });
rule!(cwd_len_zero, |img, b| patch(img, b, "kckpt.cwd_len", |_| 0), Error::CwdLen { len: 0 });
rule!(cwd_len_big, |img, b| patch(img, b, "kckpt.cwd_len", |_| 4097), Error::CwdLen { len: 4097 });
rule!(sigaction_pad, |img, b| patch(img, b, "kckpt.sigaction[5].pad", |_| 1), Error::SigactionPad { sig: 5 });
rule!(sig_handler_kernel, |img, b| patch(img, b, "kckpt.sigaction[2].handler", |_| TASK_SIZE), Error::SigactionAddr { sig: 2, field: "handler", .. });
rule!(sig_restorer_kernel, |img, b| patch(img, b, "kckpt.sigaction[2].restorer", |_| 0xffff_e000), Error::SigactionAddr { sig: 2, field: "restorer", .. });
rule!(code_reversed, |img, b| patch(img, b, "kckpt.end_code", |_| 0x0804_0000), Error::MmOrder { start: "start_code", .. });
rule!(data_reversed, |img, b| patch(img, b, "kckpt.start_data", |_| 0x0804_d000), Error::MmOrder { start: "start_data", .. });
rule!(args_reversed, |img, b| patch(img, b, "kckpt.arg_end", |_| 0x1000), Error::MmOrder { start: "arg_start", .. });
rule!(env_reversed, |img, b| patch(img, b, "kckpt.env_start", |_| 0xbffd_ff41), Error::MmOrder { start: "env_start", .. });
rule!(umask_big, |img, b| patch(img, b, "kckpt.umask", |_| 0o1000), Error::BadUmask { umask: 0o1000 });
rule!(fd_pos_negative, |img, b| { let o = off(img, "kckpt.fd[0].pos"); b[o + 7] = 0x80 }, Error::FdPos { i: 0, .. });
rule!(ds_kernel_rpl, |img, b| patch(img, b, "prstatus.ds", |_| 0x68), Error::BadSelector { reg: "ds", .. });
rule!(gs_rpl1, |img, b| patch(img, b, "prstatus.gs", |_| 0x31), Error::BadSelector { reg: "gs", .. });
rule!(cs_null, |img, b| patch(img, b, "prstatus.cs", |_| 0), Error::BadSelector { reg: "cs", .. });
rule!(ss_null_low16, |img, b| patch(img, b, "prstatus.ss", |_| 0x1_0000), Error::BadSelector { reg: "ss", .. });

#[test]
fn selectors_null_user_data_or_tls_accepted() {
    let (img, _, mut b) = sample();
    patch(&img, &mut b, "prstatus.fs", |_| 0);
    patch(&img, &mut b, "prstatus.es", |_| 0);
    patch(&img, &mut b, "prstatus.gs", |_| 0x43);
    patch(&img, &mut b, "prstatus.ds", |_| 0x7b);
    assert!(Image::parse(&b).is_ok());
}
rule!(ds_other_gdt_entry, |img, b| patch(img, b, "prstatus.ds", |_| 0x2b), Error::BadSelector { reg: "ds", .. });
rule!(gs_upper_bits, |img, b| patch(img, b, "prstatus.gs", |_| 0xdead_0033), Error::BadSelector { reg: "gs", .. });
rule!(cs_ldt, |img, b| patch(img, b, "prstatus.cs", |_| 0x7), Error::BadSelector { reg: "cs", .. });
rule!(ss_kernel_cs_rpl3, |img, b| patch(img, b, "prstatus.ss", |_| 0x63), Error::BadSelector { reg: "ss", .. });
rule!(mm_below_mmap_min_addr, |img, b| patch(img, b, "kckpt.start_code", |_| 0), Error::MmField { field: "start_code", .. });
rule!(fd_duplicate, |img, b| { let v = get32(b, off(img, "kckpt.fd[0].fd")); patch(img, b, "kckpt.fd[1].fd", |_| v) }, Error::FdOrder { i: 1, .. });
rule!(fd_descending, |img, b| patch(img, b, "kckpt.fd[1].fd", |_| 0), Error::FdOrder { i: 1, .. });
rule!(fd_count_above_max, |img, b| patch(img, b, "kckpt.nr_fds", |_| 1025), Error::TooManyFds { nr: 1025 });
rule!(vma_mismatch_start, |img, b| patch(img, b, "kckpt.vma[1].start", |v| v + 4096), Error::VmaMismatch { i: 1 });
rule!(vma_mismatch_end, |img, b| patch(img, b, "kckpt.vma[2].end", |v| v - 4096), Error::VmaMismatch { i: 2 });
rule!(vma_flags, |img, b| patch(img, b, "kckpt.vma[0].flags", |v| v | 16), Error::VmaFlags { i: 0, .. });
rule!(fd_count_huge, |img, b| patch(img, b, "kckpt.nr_fds", |_| 1000), Error::KckptTruncated { .. });
rule!(fd_path_len_zero, |img, b| patch(img, b, "kckpt.fd[1].path_len", |_| 0), Error::FdPathLen { i: 1, len: 0 });
rule!(fd_path_len_big, |img, b| patch(img, b, "kckpt.fd[1].path_len", |_| 4097), Error::FdPathLen { i: 1, len: 4097 });
rule!(fd_path_early_nul, |img, b| { let o = off(img, "kckpt.fd[0].path"); b[o + 3] = 0 }, Error::PathNul { .. });
rule!(fd_path_no_nul, |img, b| { let o = off(img, "kckpt.fd[0].path"); b[o + 11] = b'x' }, Error::PathNul { .. });
rule!(fd_path_padding, |img, b| { let o = off(img, "kckpt.fd[1].path"); b[o + 7] = 1 }, Error::PaddingNotZero { .. });
rule!(cwd_no_nul, |img, b| { let o = off(img, "kckpt.cwd"); b[o + 5] = b'/' }, Error::PathNul { .. });
rule!(cwd_padding, |img, b| { let o = off(img, "kckpt.cwd"); b[o + 7] = 9 }, Error::PaddingNotZero { .. });
rule!(cwd_len_past_note, |img, b| patch(img, b, "kckpt.cwd_len", |_| 4096), Error::KckptTruncated { .. });

#[test]
fn kckpt_trailing_bytes() {
    // cwd "/\0\0\0abc": shortening cwd_len to 2 leaves 4 bytes after it.
    let (img, _) = builder().cwd("/\0\0\0abc").build();
    let refs: Vec<Vec<u8>> = builder().build().1;
    let refs: Vec<&[u8]> = refs.iter().map(|d| d.as_slice()).collect();
    let mut b = img.to_bytes(&refs).unwrap();
    patch(&img, &mut b, "kckpt.cwd_len", |_| 2);
    assert_eq!(Image::parse(&b), Err(Error::KckptTrailing { extra: 4 }));
}

#[test]
fn kckpt_too_short_for_header() {
    let b = with_image(|i| {
        // Replace the kckpt note by a short one: drop it via a rename trick is
        // not possible, so make the real one unknown and add a 40-byte KCKPT.
        i.extra_notes.push(RawNote { name: b"KCKPT".to_vec(), ntype: NT_KCKPT_STATE, desc: vec![0; 40] });
    });
    let img = builder().build().0;
    let mut b = b;
    let o = off(&img, "note[7](KCKPT/0x1).n_type");
    set32(&mut b, o, 0x99);
    assert_eq!(Image::parse(&b), Err(Error::KckptTruncated { what: "header" }));
}

#[test]
fn limits_are_configurable() {
    let (_, _, b) = sample();
    let lim = Limits { task_size: 0x8000_0000, ..Limits::default() };
    assert!(matches!(Image::parse_with(&b, &lim), Err(Error::MmField { .. })));
}
