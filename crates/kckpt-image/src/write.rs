//! `Image::write_to`: the exact file layout of the spec, sparse.
//! Headers, notes, then page-aligned segments; all-zero pages become holes.

use std::fs::File;
use std::io::{Cursor, Seek, SeekFrom, Write};

use crate::bytes::Put;
use crate::consts::*;
use crate::model::*;
use crate::{Error, KCKPT_MAGIC, KCKPT_VERSION, PAGE_SIZE};

/// An output that can also set its length (so trailing holes exist).
pub trait Sink: Write + Seek {
    fn set_len(&mut self, len: u64) -> std::io::Result<()>;
}

impl Sink for File {
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        File::set_len(self, len)
    }
}

impl Sink for Cursor<Vec<u8>> {
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        let n = usize::try_from(len).map_err(std::io::Error::other)?;
        self.get_mut().resize(n, 0);
        Ok(())
    }
}

impl Sink for Cursor<&mut Vec<u8>> {
    fn set_len(&mut self, len: u64) -> std::io::Result<()> {
        let n = usize::try_from(len).map_err(std::io::Error::other)?;
        self.get_mut().resize(n, 0);
        Ok(())
    }
}

fn round_up(n: usize, to: usize) -> usize {
    n.div_ceil(to) * to
}

/// The computed layout: note bytes, their locations, segments with offsets.
pub(crate) struct Layout {
    pub notes: Vec<u8>,
    pub locs: Vec<NoteLoc>,
    pub segments: Vec<Segment>,
    pub file_len: usize,
}

impl Image {
    /// The notes in spec order, then unknown ones: (name without NUL, type, desc).
    fn note_list(&self) -> Vec<(Vec<u8>, u32, Vec<u8>)> {
        let core = |t, d: Vec<u8>| (b"CORE".to_vec(), t, d);
        let linux = |t, d: Vec<u8>| (b"LINUX".to_vec(), t, d);
        let mut v = vec![
            core(NT_PRSTATUS, self.encode_prstatus()),
            core(NT_PRPSINFO, fixed(&self.prpsinfo.raw, PRPSINFO_SIZE)),
            core(NT_AUXV, self.encode_auxv()),
            core(NT_FILE, self.nt_file_desc()),
            core(NT_PRFPREG, fixed(&self.fpregs, FPREGS_SIZE)),
            linux(NT_PRXFPREG, fixed(&self.fxsave.0, FXSAVE_SIZE)),
            linux(NT_386_TLS, self.encode_tls()),
            (b"KCKPT".to_vec(), NT_KCKPT_STATE, self.state.encode_with(self.extras())),
        ];
        v.extend(self.optional_notes());
        v.extend(self.extra_notes.iter().map(|n| {
            let name = n.name.strip_suffix(b"\0").unwrap_or(&n.name).to_vec();
            (name, n.ntype, n.desc.clone())
        }));
        v
    }

    fn encode_prstatus(&self) -> Vec<u8> {
        let mut d = fixed(&self.prstatus.raw, PRSTATUS_SIZE);
        put_at(&mut d, PRSTATUS_PID_OFF, self.prstatus.pid);
        for (k, r) in self.prstatus.regs.to_array().into_iter().enumerate() {
            put_at(&mut d, PRSTATUS_REG_OFF + 4 * k, r);
        }
        d
    }

    fn encode_auxv(&self) -> Vec<u8> {
        let mut d = Vec::new();
        for &(k, v) in &self.auxv {
            d.u32(k);
            d.u32(v);
        }
        d
    }

    fn nt_file_desc(&self) -> Vec<u8> {
        if self.files_raw.is_empty() {
            encode_files(&self.files)
        } else {
            self.files_raw.clone()
        }
    }

    fn encode_tls(&self) -> Vec<u8> {
        let mut d = Vec::new();
        for u in &self.tls {
            for x in [u.entry_number, u.base_addr, u.limit, u.flags] {
                d.u32(x);
            }
        }
        d
    }

    /// Headers + notes + page-aligned consecutive segment offsets.
    pub(crate) fn layout(&self) -> Layout {
        let note_off = EHDR_SIZE + PHDR_SIZE * self.phnum();
        let mut notes = Vec::new();
        let mut locs = Vec::new();
        for (name, ntype, desc) in self.note_list() {
            let offset = note_off + notes.len();
            notes.u32(name.len() as u32 + 1);
            notes.u32(desc.len() as u32);
            notes.u32(ntype);
            notes.extend_from_slice(&name);
            notes.push(0);
            notes.pad_to4();
            let desc_offset = note_off + notes.len();
            notes.extend_from_slice(&desc);
            notes.pad_to4();
            let name = String::from_utf8_lossy(&name).into_owned();
            locs.push(NoteLoc { name, ntype, offset, desc_offset, descsz: desc.len() });
        }
        let mut off = round_up(note_off + notes.len(), PAGE_SIZE_USIZE);
        let segments = self
            .segments
            .iter()
            .map(|s| {
                let seg = Segment { offset: off as u32, ..*s };
                off += s.memsz as usize;
                seg
            })
            .collect();
        Layout { notes, locs, segments, file_len: off }
    }

    /// Recompute `notes`, segment offsets and `prstatus.raw` as [`Image::write_to`] writes them.
    pub fn relayout(&mut self) {
        self.prstatus.raw = self.encode_prstatus();
        let l = self.layout();
        self.notes = l.locs;
        self.segments = l.segments;
    }

    fn headers(&self, l: &Layout) -> Vec<u8> {
        let mut h = Vec::new();
        h.extend_from_slice(b"\x7fELF\x01\x01\x01\x00");
        h.extend_from_slice(&[0; 8]);
        h.u16(ET_CORE);
        h.u16(EM_386);
        h.u32(1); // e_version
        h.u32(0); // e_entry
        h.u32(EHDR_SIZE as u32);
        h.u32(0); // e_shoff
        h.u32(0); // e_flags
        h.u16(EHDR_SIZE as u16);
        h.u16(PHDR_SIZE as u16);
        h.u16(self.phnum() as u16);
        h.u16(0);
        h.u16(0);
        h.u16(0);
        let note_off = h.len() + PHDR_SIZE * self.phnum();
        for x in [PT_NOTE, note_off as u32, 0, 0, l.notes.len() as u32, 0, 0, 4] {
            h.u32(x);
        }
        for s in &l.segments {
            for x in [PT_LOAD, s.offset, s.vaddr, 0, s.memsz, s.memsz, s.flags, PAGE_SIZE] {
                h.u32(x);
            }
        }
        h
    }

    /// Write the image: `data[i]` is segment i's contents (shorter is zero-filled).
    /// Replaces everything in `out`; zero pages are left as holes.
    pub fn write_to<S: Sink>(&self, data: &[&[u8]], out: &mut S) -> Result<(), Error> {
        if data.len() != self.segments.len() {
            return Err(Error::DataCount { expected: self.segments.len(), got: data.len() });
        }
        if let Some(i) = data.iter().zip(&self.segments).position(|(d, s)| d.len() > s.memsz as usize) {
            return Err(Error::DataTooLong { i });
        }
        let l = self.layout();
        out.set_len(0)?;
        out.seek(SeekFrom::Start(0))?;
        out.write_all(&self.headers(&l))?;
        out.write_all(&l.notes)?;
        for (s, d) in l.segments.iter().zip(data) {
            write_pages(out, s.offset as u64, d)?;
        }
        out.set_len(l.file_len as u64)?;
        out.flush()?;
        Ok(())
    }

    /// Convenience: the whole image as bytes.
    pub fn to_bytes(&self, data: &[&[u8]]) -> Result<Vec<u8>, Error> {
        let mut c = Cursor::new(Vec::new());
        self.write_to(data, &mut c)?;
        Ok(c.into_inner())
    }
}

/// Write the non-zero pages of `d` at `base`; skip (seek over) zero pages.
fn write_pages<S: Sink>(out: &mut S, base: u64, d: &[u8]) -> Result<(), Error> {
    for (k, page) in d.chunks(PAGE_SIZE_USIZE).enumerate() {
        if page.iter().all(|&b| b == 0) {
            continue;
        }
        out.seek(SeekFrom::Start(base + (k * PAGE_SIZE_USIZE) as u64))?;
        out.write_all(page)?;
    }
    Ok(())
}

fn fixed(raw: &[u8], n: usize) -> Vec<u8> {
    let mut v = raw.to_vec();
    v.resize(n, 0);
    v
}

fn put_at(d: &mut [u8], off: usize, v: u32) {
    if let Some(s) = d.get_mut(off..off + 4) {
        s.copy_from_slice(&v.to_le_bytes());
    }
}

impl KckptState {
    /// The version-2 descriptor bytes (`size`, counts and lengths computed)
    /// of an image without optional records (`extras` 0); an [`Image`]
    /// writes its own with [`Image::extras`].
    pub fn encode(&self) -> Vec<u8> {
        self.encode_with(0)
    }

    /// The descriptor with `kckpt_attrs.extras` = `extras`.
    pub fn encode_with(&self, extras: u32) -> Vec<u8> {
        let mut body = Vec::new();
        for &v in &self.mm.to_array() {
            body.u32(v);
        }
        for v in [self.vdso_base, self.umask, self.vmas.len() as u32, self.fds.len() as u32] {
            body.u32(v);
        }
        body.u32(self.cwd.len() as u32 + 1);
        body.u64(self.sigblocked);
        for k in 0..NSIG {
            let a = self.sigactions.get(k).copied().unwrap_or_default();
            for v in [a.handler, a.flags, a.restorer, 0] {
                body.u32(v);
            }
            body.u64(a.mask);
        }
        for l in &self.rlimits {
            body.u64(l.cur);
            body.u64(l.max);
        }
        let a = &self.attrs;
        body.extend_from_slice(&a.comm);
        for v in [a.personality, a.flags(), a.dumpable, a.ss_sp, a.ss_size, a.ss_flags, extras, 0] {
            body.u32(v);
        }
        for v in &self.vmas {
            for x in [v.start, v.end, v.flags, v.pgoff] {
                body.u32(x);
            }
        }
        for f in &self.fds {
            body.u32(f.fd);
            body.u32(f.flags);
            body.u64(f.pos);
            body.u32(f.mode);
            body.u32(f.kind);
            body.u32(f.id);
            body.u32(f.data.len() as u32);
            body.u32(f.path.len() as u32 + 1);
            put_path(&mut body, &f.path);
            body.extend_from_slice(&f.data);
            body.pad_to4();
        }
        put_path(&mut body, &self.cwd);
        let mut d = Vec::with_capacity(body.len() + 16);
        d.u32(KCKPT_MAGIC);
        d.u32(KCKPT_VERSION);
        d.u32((body.len() + 16) as u32);
        d.u32(0);
        d.extend_from_slice(&body);
        d
    }
}

fn put_path(d: &mut Vec<u8>, p: &[u8]) {
    d.extend_from_slice(p);
    d.push(0);
    d.pad_to4();
}

/// NT_FILE as the kernel's coredump writes it.
pub(crate) fn encode_files(files: &[FileEntry]) -> Vec<u8> {
    let mut d = Vec::new();
    d.u32(files.len() as u32);
    d.u32(PAGE_SIZE);
    for e in files {
        d.u32(e.start);
        d.u32(e.end);
        d.u32(e.pgoff);
    }
    for e in files {
        d.extend_from_slice(&e.path);
        d.push(0);
    }
    d
}
