//! `Image::parse`: decode an image and enforce every loader rule of the spec.
//! Checked arithmetic and bounds-checked reads only: any input gives Ok or Err.

use std::io::{Read, Seek, SeekFrom};

use crate::bytes::{pad4, slice, u16_at, u32_at, Rd};
use crate::consts::*;
use crate::model::*;
use crate::{Error, KCKPT_MAGIC, KCKPT_VERSION, MAX_PHNUM, PAGE_SIZE, PATH_MAX, TASK_SIZE};

type Result<T> = std::result::Result<T, Error>;

/// Machine-dependent limits; the defaults are the i386 6.12 guest's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Highest user address + 1 (3G/1G split).
    pub task_size: u32,
    /// vvar area below `vdso_base` (6.12 i386: 4 pages, `sym_vvar_start = -16384`).
    pub vdso_vvar_bytes: u32,
    /// vDSO text from `vdso_base` (6.12 vdso32 image: 8192 bytes).
    pub vdso_text_bytes: u32,
    /// `mxcsr_feature_mask` of the CPU (0xffff with DAZ; 0xffbf without).
    pub mxcsr_feature_mask: u32,
    /// `vm.mmap_min_addr` (the kernel's default, 4096).
    pub mmap_min_addr: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            task_size: TASK_SIZE,
            vdso_vvar_bytes: 4 * PAGE_SIZE,
            vdso_text_bytes: 2 * PAGE_SIZE,
            mxcsr_feature_mask: 0x0000_ffff,
            mmap_min_addr: PAGE_SIZE,
        }
    }
}

/// Longest header+notes prefix `parse_reader` will read into memory.
const MAX_PREFIX: u64 = 64 << 20;

/// One `Elf32_Phdr`.
#[derive(Debug, Clone, Copy)]
struct Phdr {
    p_type: u32,
    offset: u32,
    vaddr: u32,
    paddr: u32,
    filesz: u32,
    memsz: u32,
    flags: u32,
    align: u32,
}

/// The notes the format requires: (name with NUL, type, label, fixed descsz).
const REQUIRED: [(&[u8], u32, &str, Option<usize>); 8] = [
    (b"CORE\0", NT_PRSTATUS, "CORE/NT_PRSTATUS", Some(PRSTATUS_SIZE)),
    (b"CORE\0", NT_PRPSINFO, "CORE/NT_PRPSINFO", Some(PRPSINFO_SIZE)),
    (b"CORE\0", NT_AUXV, "CORE/NT_AUXV", None),
    (b"CORE\0", NT_FILE, "CORE/NT_FILE", None),
    (b"CORE\0", NT_PRFPREG, "CORE/NT_PRFPREG", Some(FPREGS_SIZE)),
    (b"LINUX\0", NT_PRXFPREG, "LINUX/NT_PRXFPREG", Some(FXSAVE_SIZE)),
    (b"LINUX\0", NT_386_TLS, "LINUX/NT_386_TLS", Some(TLS_SIZE)),
    (b"KCKPT\0", NT_KCKPT_STATE, "KCKPT/NT_KCKPT_STATE", None),
];

/// A note as found in the `PT_NOTE` segment.
#[derive(Clone)]
pub(crate) struct FoundNote<'a> {
    pub name: &'a [u8],
    pub ntype: u32,
    pub desc: &'a [u8],
    pub loc: NoteLoc,
}

impl Image {
    /// Parse and validate a whole image held in memory.
    pub fn parse(bytes: &[u8]) -> Result<Image> {
        Self::parse_with(bytes, &Limits::default())
    }

    /// [`Image::parse`] with non-default machine limits.
    pub fn parse_with(bytes: &[u8], lim: &Limits) -> Result<Image> {
        parse_parts(bytes, bytes.len() as u64, lim)
    }

    /// Parse from a file without reading segment data (only headers and notes).
    pub fn parse_reader<R: Read + Seek>(r: &mut R, lim: &Limits) -> Result<Image> {
        let file_len = r.seek(SeekFrom::End(0))?;
        let head = read_prefix(r, file_len.min(EHDR_SIZE as u64))?;
        let phnum = u16_at(&head, 44).unwrap_or(0) as u64;
        let ph_end = (EHDR_SIZE as u64 + PHDR_SIZE as u64 * phnum.min(MAX_PHNUM as u64)).min(file_len);
        let head = read_prefix(r, ph_end)?;
        let note_end = u32_at(&head, EHDR_SIZE + 4)
            .zip(u32_at(&head, EHDR_SIZE + 16))
            .map_or(0, |(o, s)| o as u64 + s as u64);
        let want = note_end.max(ph_end).min(file_len);
        if want > MAX_PREFIX {
            return Err(Error::Io(format!("notes end at {want:#x}, beyond {MAX_PREFIX:#x}")));
        }
        parse_parts(&read_prefix(r, want)?, file_len, lim)
    }
}

fn read_prefix<R: Read + Seek>(r: &mut R, n: u64) -> Result<Vec<u8>> {
    r.seek(SeekFrom::Start(0))?;
    let mut v = Vec::new();
    r.take(n).read_to_end(&mut v)?;
    Ok(v)
}

/// Validate `prefix` (the file from offset 0 through the notes) of a `file_len` file.
fn parse_parts(prefix: &[u8], file_len: u64, lim: &Limits) -> Result<Image> {
    let phnum = check_ehdr(prefix, file_len)?;
    let phdrs = read_phdrs(prefix, phnum, file_len)?;
    let (note_off, note_len) = check_note_phdr(&phdrs, file_len)?;
    let seg = slice(prefix, note_off, note_len).ok_or(Error::NoteSegmentOutsideFile)?;
    let found = walk_notes(seg, note_off)?;
    let (req, mut extra) = pick_required(found)?;
    let [prs, pps, auxv, file, fpr, fxr, tls, kck] = req;
    let prstatus = parse_prstatus(prs.desc);
    check_selectors(&prstatus.regs)?;
    let (state, extras) = parse_kckpt(kck.desc, phdrs.len().saturating_sub(1), lim)?;
    let segments = check_loads(phdrs.get(1..).unwrap_or(&[]), note_off + note_len, file_len, state.vdso_base, lim)?;
    check_vmas(&state, &segments)?;
    let fxsave = Fxsave(fxr.desc.to_vec());
    check_mxcsr(&fxsave, lim)?;
    crate::ntfile::check_mapped(file.desc, &state.vmas)?;
    let opt = crate::extras::take(&mut extra, extras, lim)?;
    if let Some(p) = &opt.parent {
        crate::extras::parent::check_ranges(p, &segments, &state.vmas)?;
    }
    let notes = [&prs, &pps, &auxv, &file, &fpr, &fxr, &tls, &kck]
        .iter()
        .map(|n| n.loc.clone())
        .chain(opt.locs)
        .chain(extra.iter().map(|n| n.loc.clone()))
        .collect();
    Ok(Image {
        prstatus,
        prpsinfo: Prpsinfo::from_raw(pps.desc),
        auxv: parse_auxv(auxv.desc)?,
        files: crate::ntfile::parse_file_note(file.desc),
        files_raw: crate::ntfile::file_raw_if_odd(file.desc),
        fpregs: fpr.desc.to_vec(),
        fxsave,
        tls: parse_tls(tls.desc)?,
        state,
        segments,
        xstate: opt.xstate,
        sigpending: opt.sigpending,
        itimers: opt.itimers,
        parent: opt.parent,
        extra_notes: extra
            .into_iter()
            .map(|n| RawNote { name: n.name.to_vec(), ntype: n.ntype, desc: n.desc.to_vec() })
            .collect(),
        notes,
    })
}

fn field_is(field: &'static str, value: u32, expected: u32) -> Result<()> {
    if value == expected {
        Ok(())
    } else {
        Err(Error::BadHeaderField { field, value, expected })
    }
}

/// The ELF header rules; returns `e_phnum`.
fn check_ehdr(b: &[u8], file_len: u64) -> Result<usize> {
    if b.len() < EHDR_SIZE {
        return Err(Error::FileTooSmall { len: file_len });
    }
    if b.get(0..4) != Some(b"\x7fELF".as_slice()) {
        return Err(Error::BadMagic);
    }
    for (idx, field) in [(4, "EI_CLASS"), (5, "EI_DATA"), (6, "EI_VERSION")] {
        let value = b.get(idx).copied().unwrap_or(0);
        if value != 1 {
            return Err(Error::BadIdent { field, value });
        }
    }
    let h16 = |off| u16_at(b, off).unwrap_or(0) as u32;
    let h32 = |off| u32_at(b, off).unwrap_or(0);
    field_is("e_type", h16(16), ET_CORE as u32)?;
    field_is("e_machine", h16(18), EM_386 as u32)?;
    field_is("e_version", h32(20), 1)?;
    field_is("e_phoff", h32(28), EHDR_SIZE as u32)?;
    field_is("e_shoff", h32(32), 0)?;
    field_is("e_ehsize", h16(40), EHDR_SIZE as u32)?;
    field_is("e_phentsize", h16(42), PHDR_SIZE as u32)?;
    field_is("e_shnum", h16(48), 0)?;
    field_is("e_shstrndx", h16(50), 0)?;
    let phnum = h16(44);
    if phnum == 0 || phnum > MAX_PHNUM {
        return Err(Error::BadPhnum { phnum });
    }
    Ok(phnum as usize)
}

fn read_phdrs(b: &[u8], phnum: usize, file_len: u64) -> Result<Vec<Phdr>> {
    let end = EHDR_SIZE + PHDR_SIZE * phnum;
    if end as u64 > file_len || end > b.len() {
        return Err(Error::PhdrsOutsideFile);
    }
    (0..phnum)
        .map(|i| {
            let o = EHDR_SIZE + PHDR_SIZE * i;
            let f = |k: usize| u32_at(b, o + 4 * k).ok_or(Error::PhdrsOutsideFile);
            Ok(Phdr {
                p_type: f(0)?,
                offset: f(1)?,
                vaddr: f(2)?,
                paddr: f(3)?,
                filesz: f(4)?,
                memsz: f(5)?,
                flags: f(6)?,
                align: f(7)?,
            })
        })
        .collect()
}

/// Exactly one PT_NOTE, first, right after the phdrs; returns its file range.
fn check_note_phdr(ph: &[Phdr], file_len: u64) -> Result<(usize, usize)> {
    let note = ph.first().ok_or(Error::BadPhnum { phnum: 0 })?;
    if note.p_type != PT_NOTE {
        return Err(Error::FirstNotNote { p_type: note.p_type });
    }
    if let Some((i, p)) = ph.iter().enumerate().skip(1).find(|(_, p)| p.p_type != PT_LOAD) {
        return Err(Error::NotLoad { i, p_type: p.p_type });
    }
    let expected = (EHDR_SIZE + PHDR_SIZE * ph.len()) as u32;
    if note.offset != expected {
        return Err(Error::NoteSegment { field: "p_offset", value: note.offset, expected });
    }
    if note.align != 4 {
        return Err(Error::NoteSegment { field: "p_align", value: note.align, expected: 4 });
    }
    if note.filesz == 0 || !note.filesz.is_multiple_of(4) {
        return Err(Error::NoteSegmentSize { filesz: note.filesz });
    }
    if note.offset as u64 + note.filesz as u64 > file_len {
        return Err(Error::NoteSegmentOutsideFile);
    }
    Ok((note.offset as usize, note.filesz as usize))
}

/// Split the PT_NOTE segment `seg` (at file offset `base`) into notes.
fn walk_notes(seg: &[u8], base: usize) -> Result<Vec<FoundNote<'_>>> {
    let mut out = Vec::new();
    let mut pos = 0usize;
    while pos < seg.len() {
        let trunc = Error::NoteTruncated { offset: base + pos };
        let (namesz, descsz, ntype) = match (u32_at(seg, pos), u32_at(seg, pos + 4), u32_at(seg, pos + 8)) {
            (Some(a), Some(b), Some(c)) => (a as usize, b as usize, c),
            _ => return Err(trunc),
        };
        let name_off = pos + 12;
        let desc_off = pad4(namesz).and_then(|n| name_off.checked_add(n)).ok_or(trunc.clone())?;
        let next = pad4(descsz).and_then(|d| desc_off.checked_add(d)).ok_or(trunc.clone())?;
        if next > seg.len() {
            return Err(trunc);
        }
        let name = slice(seg, name_off, namesz).ok_or(trunc.clone())?;
        let desc = slice(seg, desc_off, descsz).ok_or(trunc)?;
        let loc = NoteLoc {
            name: String::from_utf8_lossy(name.split(|&c| c == 0).next().unwrap_or(&[])).into_owned(),
            ntype,
            offset: base + pos,
            desc_offset: base + desc_off,
            descsz,
        };
        out.push(FoundNote { name, ntype, desc, loc });
        pos = next;
    }
    Ok(out)
}

/// The 8 required notes (once each, exact sizes) and the unknown rest.
fn pick_required(found: Vec<FoundNote<'_>>) -> Result<([FoundNote<'_>; 8], Vec<FoundNote<'_>>)> {
    let mut slots: [Option<FoundNote<'_>>; 8] = Default::default();
    let mut extra = Vec::new();
    for n in found {
        let Some(k) = REQUIRED.iter().position(|r| r.0 == n.name && r.1 == n.ntype) else {
            extra.push(n);
            continue;
        };
        let (_, _, note, size) = REQUIRED[k];
        if let Some(expected) = size.filter(|&s| s != n.desc.len()) {
            return Err(Error::NoteSize { note, descsz: n.desc.len() as u32, expected: expected as u32 });
        }
        if slots[k].is_some() {
            return Err(Error::DuplicateNote { note });
        }
        slots[k] = Some(n);
    }
    for (k, s) in slots.iter().enumerate() {
        if s.is_none() {
            return Err(Error::MissingNote { note: REQUIRED[k].2 });
        }
    }
    let v: Vec<FoundNote<'_>> = slots.into_iter().flatten().collect();
    let arr: [FoundNote<'_>; 8] = v.try_into().map_err(|_| Error::MissingNote { note: "?" })?;
    Ok((arr, extra))
}

fn parse_prstatus(d: &[u8]) -> Prstatus {
    let mut a = [0u32; 17];
    for (k, r) in a.iter_mut().enumerate() {
        *r = u32_at(d, PRSTATUS_REG_OFF + 4 * k).unwrap_or(0);
    }
    Prstatus { pid: u32_at(d, PRSTATUS_PID_OFF).unwrap_or(0), regs: Regs::from_array(a), raw: d.to_vec() }
}

/// u32 pairs, the last one `AT_NULL`, at most `sizeof(mm->saved_auxv)` bytes.
fn parse_auxv(d: &[u8]) -> Result<Vec<(u32, u32)>> {
    let bad = |why| Err(Error::BadAuxv { why });
    if !d.len().is_multiple_of(8) || d.is_empty() {
        return bad("size is not a non-zero multiple of 8");
    }
    if d.len() > AUXV_MAX_BYTES {
        return bad("longer than AT_VECTOR_SIZE");
    }
    let pairs: Vec<(u32, u32)> = d
        .chunks_exact(8)
        .map(|c| (u32_at(c, 0).unwrap_or(0), u32_at(c, 4).unwrap_or(0)))
        .collect();
    match pairs.last() {
        Some((0, _)) => Ok(pairs),
        _ => bad("last pair is not AT_NULL"),
    }
}

/// i386 `__USER_CS`, `__USER_DS` and the three TLS slots (GDT 6..=8, RPL 3).
const USER_CS: u32 = 0x73;
const USER_DS: u32 = 0x7b;
const TLS_SELECTORS: [u32; 3] = [0x33, 0x3b, 0x43];

/// The selectors a fresh i386 task can run with (binfmt_cr's
/// `cr_selectors_ok()`): cs the user code segment, ss the user data
/// segment, ds/es/fs null or user data, gs also a TLS slot. No LDT
/// selector, no other GDT entry, nothing above 16 bits.
fn check_selectors(r: &Regs) -> Result<()> {
    let data = |v: u32| v == 0 || v == USER_DS;
    let sels = [
        ("ds", r.ds, data(r.ds)),
        ("es", r.es, data(r.es)),
        ("fs", r.fs, data(r.fs)),
        ("gs", r.gs, data(r.gs) || TLS_SELECTORS.contains(&r.gs)),
        ("cs", r.cs, r.cs == USER_CS),
        ("ss", r.ss, r.ss == USER_DS),
    ];
    match sels.iter().find(|s| !s.2) {
        Some(&(reg, value, _)) => Err(Error::BadSelector { reg, value }),
        None => Ok(()),
    }
}

/// Refuse a setuid/setgid image file (`mode` as in `st_mode`).
pub fn check_file_mode(mode: u32) -> Result<()> {
    if mode & 0o6000 != 0 {
        return Err(Error::SetidFile { mode });
    }
    Ok(())
}

fn parse_tls(d: &[u8]) -> Result<[UserDesc; 3]> {
    let mut out = [UserDesc::default(); 3];
    for (i, u) in out.iter_mut().enumerate() {
        let f = |k: usize| u32_at(d, 16 * i + 4 * k).unwrap_or(0);
        *u = UserDesc { entry_number: f(0), base_addr: f(1), limit: f(2), flags: f(3) };
        if !u.kernel_ok() {
            return Err(Error::TlsDesc { i });
        }
    }
    Ok(out)
}

/// An MXCSR the CPU accepts (`mxcsr_feature_mask`), as `xfpregs_set` checks it.
pub(crate) fn mxcsr_ok(value: u32, lim: &Limits) -> bool {
    value & !lim.mxcsr_feature_mask == 0
}

fn check_mxcsr(fx: &Fxsave, lim: &Limits) -> Result<()> {
    let value = fx.mxcsr();
    if !mxcsr_ok(value, lim) {
        return Err(Error::Mxcsr { value });
    }
    Ok(())
}

/// The PT_LOAD rules; `data_min` is the end of the notes.
fn check_loads(ph: &[Phdr], data_min: usize, file_len: u64, vdso: u32, lim: &Limits) -> Result<Vec<Segment>> {
    let page = PAGE_SIZE;
    let mut prev_vend = 0u64;
    let mut prev_fend = data_min as u64;
    let mut out = Vec::with_capacity(ph.len());
    for (i, p) in ph.iter().enumerate() {
        if p.flags & !(PF_R | PF_W | PF_X) != 0 {
            return Err(Error::UnknownSegmentFlags { i, flags: p.flags });
        }
        for (field, v) in [("p_vaddr", p.vaddr), ("p_offset", p.offset), ("p_memsz", p.memsz)] {
            if !v.is_multiple_of(page) {
                return Err(Error::SegmentUnaligned { i, field });
            }
        }
        if p.filesz != p.memsz {
            return Err(Error::SegmentFileszMismatch { i });
        }
        if p.memsz == 0 {
            return Err(Error::SegmentEmpty { i });
        }
        if p.align != page {
            return Err(Error::SegmentField { i, field: "p_align", value: p.align });
        }
        if p.paddr != 0 {
            return Err(Error::SegmentField { i, field: "p_paddr", value: p.paddr });
        }
        if p.vaddr < lim.mmap_min_addr {
            return Err(Error::SegmentBelowMinAddr { i });
        }
        let vend = p.vaddr as u64 + p.memsz as u64;
        if vend > lim.task_size as u64 {
            return Err(Error::SegmentAboveTaskSize { i });
        }
        if (p.vaddr as u64) < prev_vend {
            return Err(Error::SegmentOverlap { i });
        }
        if overlaps_vdso(p.vaddr as u64, vend, vdso, lim) {
            return Err(Error::SegmentOverlapsVdso { i });
        }
        let fend = p.offset as u64 + p.filesz as u64;
        if fend > file_len {
            return Err(Error::SegmentOutsideFile { i });
        }
        if (p.offset as u64) < prev_fend {
            return Err(Error::SegmentFileOverlap { i });
        }
        prev_vend = vend;
        prev_fend = fend;
        out.push(Segment { vaddr: p.vaddr, memsz: p.memsz, offset: p.offset, flags: p.flags });
    }
    Ok(out)
}

/// The vDSO window is `[vdso - vvar, vdso + text)`; `vdso == 0` means none.
pub(crate) fn vdso_window(vdso: u32, lim: &Limits) -> Option<(u64, u64)> {
    (vdso != 0).then(|| {
        let v = vdso as u64;
        (v.saturating_sub(lim.vdso_vvar_bytes as u64), v + lim.vdso_text_bytes as u64)
    })
}

fn overlaps_vdso(start: u64, end: u64, vdso: u32, lim: &Limits) -> bool {
    vdso_window(vdso, lim).is_some_and(|(ws, we)| start < we && ws < end)
}

/// `kckpt_vma[i]` matches `PT_LOAD[i]`, with known flags.
fn check_vmas(st: &KckptState, segs: &[Segment]) -> Result<()> {
    if st.vmas.len() != segs.len() {
        return Err(Error::VmaCount { nr_vmas: st.vmas.len() as u32, loads: segs.len() as u32 });
    }
    for (i, (v, s)) in st.vmas.iter().zip(segs).enumerate() {
        if v.start != s.vaddr || v.end as u64 != s.vaddr as u64 + s.memsz as u64 {
            return Err(Error::VmaMismatch { i });
        }
    }
    Ok(())
}

/// Decode and check `struct kckpt_state` (everything but the PT_LOAD
/// cross-check); also returns `kckpt_attrs.extras`, which the notes checks use.
fn parse_kckpt(d: &[u8], loads: usize, lim: &Limits) -> Result<(KckptState, u32)> {
    let t = |what| Error::KckptTruncated { what };
    let mut r = Rd::new(d);
    let mut hdr = [0u32; 20];
    for h in hdr.iter_mut() {
        *h = r.u32().ok_or(t("header"))?;
    }
    let [magic, version, size, flags, rest @ ..] = hdr;
    let mm_raw: [u32; 11] = rest.get(..11).and_then(|s| s.try_into().ok()).ok_or(t("header"))?;
    let [vdso_base, umask, nr_vmas, nr_fds, cwd_len] =
        rest.get(11..16).and_then(|s| <[u32; 5]>::try_from(s).ok()).ok_or(t("header"))?;
    check_kckpt_header(magic, version, size, flags, d.len())?;
    let mm = MmFields::from_array(mm_raw);
    check_mm(&mm, vdso_base, lim)?;
    if umask > 0o777 {
        return Err(Error::BadUmask { umask });
    }
    if nr_vmas as usize != loads {
        return Err(Error::VmaCount { nr_vmas, loads: loads as u32 });
    }
    if cwd_len == 0 || cwd_len > PATH_MAX {
        return Err(Error::CwdLen { len: cwd_len });
    }
    let sigblocked = r.u64().ok_or(t("sigblocked"))?;
    let sigactions = read_sigactions(&mut r, lim)?;
    let rlimits = crate::rlimits::read_rlimits(&mut r)?;
    let (attrs, extras) = crate::attrs::read_attrs(&mut r, lim.task_size)?;
    let vmas = read_vmas(&mut r, nr_vmas)?;
    let fds = crate::fds::read_fds(&mut r, nr_fds, rlimits[RLIMIT_NOFILE].cur)?;
    let cwd = read_path(&mut r, cwd_len, "cwd".into())?;
    if r.remaining() != 0 {
        return Err(Error::KckptTrailing { extra: r.remaining() });
    }
    Ok((KckptState { mm, vdso_base, umask, sigblocked, sigactions, rlimits, attrs, vmas, fds, cwd }, extras))
}

fn check_kckpt_header(magic: u32, version: u32, size: u32, flags: u32, descsz: usize) -> Result<()> {
    if magic != KCKPT_MAGIC {
        return Err(Error::KckptMagic { value: magic });
    }
    if version != KCKPT_VERSION {
        return Err(Error::KckptVersion { value: version });
    }
    if size as usize != descsz {
        return Err(Error::KckptSize { size, descsz: descsz as u32 });
    }
    if flags != 0 {
        return Err(Error::UnknownFlags { flags });
    }
    Ok(())
}

fn check_mm(mm: &MmFields, vdso: u32, lim: &Limits) -> Result<()> {
    for (field, value) in MM_NAMES.iter().zip(mm.to_array()) {
        if value < lim.mmap_min_addr || value >= lim.task_size {
            return Err(Error::MmField { field, value });
        }
    }
    let pairs = [
        ("start_code", mm.start_code, "end_code", mm.end_code),
        ("start_data", mm.start_data, "end_data", mm.end_data),
        ("arg_start", mm.arg_start, "arg_end", mm.arg_end),
        ("env_start", mm.env_start, "env_end", mm.env_end),
    ];
    if let Some(&(start, _, end, _)) = pairs.iter().find(|p| p.1 > p.3) {
        return Err(Error::MmOrder { start, end });
    }
    if mm.brk < mm.start_brk {
        return Err(Error::BrkBelowStart { start_brk: mm.start_brk, brk: mm.brk });
    }
    let fits = vdso_window(vdso, lim)
        .is_none_or(|(s, e)| e <= lim.task_size as u64 && s + lim.vdso_vvar_bytes as u64 == vdso as u64);
    if !vdso.is_multiple_of(PAGE_SIZE) || !fits {
        return Err(Error::BadVdsoBase { value: vdso });
    }
    Ok(())
}

fn read_sigactions(r: &mut Rd<'_>, lim: &Limits) -> Result<Vec<Sigaction>> {
    let t = Error::KckptTruncated { what: "sigactions" };
    let mut out = Vec::with_capacity(NSIG);
    for n in 1..=NSIG as u32 {
        let (h, f, rs, pad, m) = (r.u32(), r.u32(), r.u32(), r.u32(), r.u64());
        let (Some(handler), Some(flags), Some(restorer), Some(pad), Some(mask)) = (h, f, rs, pad, m) else {
            return Err(t);
        };
        if pad != 0 {
            return Err(Error::SigactionPad { sig: n });
        }
        for (field, value) in [("handler", handler), ("restorer", restorer)] {
            if value >= lim.task_size {
                return Err(Error::SigactionAddr { sig: n, field, value });
            }
        }
        out.push(Sigaction { handler, flags, restorer, mask });
    }
    Ok(out)
}

fn read_vmas(r: &mut Rd<'_>, nr: u32) -> Result<Vec<Vma>> {
    if (nr as usize).checked_mul(VMA_SIZE).is_none_or(|n| n > r.remaining()) {
        return Err(Error::KckptTruncated { what: "vmas" });
    }
    let mut out = Vec::with_capacity(nr as usize);
    for i in 0..nr as usize {
        let (s, e, f, p) = (r.u32(), r.u32(), r.u32(), r.u32());
        let (Some(start), Some(end), Some(flags), Some(pgoff)) = (s, e, f, p) else {
            return Err(Error::KckptTruncated { what: "vmas" });
        };
        if flags & !(VMA_GROWSDOWN | VMA_FILE | VMA_HEAP | VMA_SHARED) != 0 {
            return Err(Error::VmaFlags { i, flags });
        }
        if flags & VMA_SHARED != 0 && flags != VMA_SHARED && flags != VMA_SHARED_FILE {
            return Err(Error::VmaSharedWithOther { i, flags });
        }
        out.push(Vma { start, end, flags, pgoff });
    }
    Ok(out)
}

/// A `len`-byte path (NUL only at `len - 1`) plus zero padding to 4; returns it without NUL.
pub(crate) fn read_path(r: &mut Rd<'_>, len: u32, what: String) -> Result<Vec<u8>> {
    let len = len as usize;
    let Some(last) = len.checked_sub(1) else {
        return Err(Error::PathNul { what });
    };
    let padded = pad4(len).unwrap_or(usize::MAX);
    let all = r.bytes(padded).ok_or(Error::KckptTruncated { what: "path" })?;
    let (s, pad) = all.split_at(len.min(all.len()));
    if s.iter().position(|&c| c == 0) != Some(last) {
        return Err(Error::PathNul { what });
    }
    if pad.iter().any(|&c| c != 0) {
        return Err(Error::PaddingNotZero { what });
    }
    Ok(s.get(..last).unwrap_or(&[]).to_vec())
}
