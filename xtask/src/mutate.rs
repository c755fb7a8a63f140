//! Mutations of real kckpt images for `fuzz-images` and test-vm's short
//! fuzz run: field mutations through `Image::field_offsets`, truncation,
//! overlapping / out-of-range / huge segments (with the matching kckpt_vma
//! patched too, so the loader gets past the cheap checks), bad eflags,
//! selectors and FPU bytes, bad notes, notes claiming other ids (root's
//! uid/gid in `NT_PRPSINFO`, other pids in `NT_PRSTATUS`: the kckpt note
//! has no credential fields), the version 2 fields (mutate/v2.rs: rlimits,
//! SHARED VMAs, process attributes, fd kinds, ids, inline data, pipe
//! capacity and ends), the optional records (mutate/extras.rs: extras
//! bits, XSAVE area, pending signals, interval timers, eventfds), the
//! parent of an incremental image (mutate/parent.rs: an added
//! NT_KCKPT_PARENT with hostile paths, ranges, identities, depths), and
//! setuid/setgid-root image files (a
//! file mode the guest gives the image, also on unmutated seeds: a valid
//! image the loader must still refuse). A mutant is kept as byte patches
//! on its seed plus that mode, which is what the guest receives (the KFZ2
//! file, see tests/guest/fuzz_images.c): 10000 mutants of a 1 MiB image
//! stay small.

use std::collections::HashMap;

mod extras;
mod parent;
mod v2;

use anyhow::{Context, Result};
use kckpt_image::consts::*;
use kckpt_image::{Image, PAGE_SIZE, TASK_SIZE};

/// splitmix64: small, fast, and the same sequence everywhere for a seed.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
    pub fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    pub fn pick<T: Copy>(&mut self, v: &[T]) -> T {
        v[self.below(v.len())]
    }
    pub fn chance(&mut self, pct: usize) -> bool {
        self.below(100) < pct
    }
}

/// A real image to mutate.
pub struct Seed {
    pub name: String,
    pub bytes: Vec<u8>,
    /// Exit status of the unmutated image restarted as nobody.
    pub expect: u32,
    img: Image,
    fields: Vec<(String, usize, usize)>,
    by_name: HashMap<String, (usize, usize)>,
}

impl Seed {
    pub fn new(name: &str, bytes: Vec<u8>, expect: u32) -> Result<Seed> {
        let img = Image::parse(&bytes).map_err(|e| anyhow::anyhow!("{e}")).with_context(|| format!("seed {name} is not a valid image"))?;
        let fields = img.field_offsets();
        let by_name = fields.iter().map(|(n, o, w)| (n.clone(), (*o, *w))).collect();
        Ok(Seed { name: name.into(), bytes, expect, img, fields, by_name })
    }
    fn off(&self, name: &str) -> Option<(usize, usize)> {
        self.by_name.get(name).copied()
    }
    fn u32_at(&self, off: usize) -> u32 {
        self.bytes.get(off..off + 4).map_or(0, |b| u32::from_le_bytes(b.try_into().unwrap()))
    }
    fn notes_end(&self) -> usize {
        self.img.segments.first().map_or(self.bytes.len(), |s| s.offset as usize).min(self.bytes.len())
    }
}

/// One mutant: patches over `seed`'s bytes, then cut or zero-extended to
/// `len`, written as a root:root file with permission bits `mode` (0: 0755).
#[derive(Clone, Debug)]
pub struct Mutant {
    pub seed: usize,
    pub len: u32,
    pub patches: Vec<(u32, Vec<u8>)>,
    pub mode: u32,
    pub what: Vec<String>,
}

impl Mutant {
    /// A setuid or setgid (root) image file: the loader must refuse it.
    pub fn setid(&self) -> bool {
        self.mode & 0o6000 != 0
    }

    pub fn apply(&self, seed: &[u8]) -> Vec<u8> {
        let mut b = seed.to_vec();
        b.resize(self.len as usize, 0);
        for (off, p) in &self.patches {
            let off = *off as usize;
            if off < b.len() {
                let n = p.len().min(b.len() - off);
                b[off..off + n].copy_from_slice(&p[..n]);
            }
        }
        b
    }
}

struct Work<'a> {
    s: &'a Seed,
    m: Mutant,
}

impl Work<'_> {
    fn put(&mut self, off: usize, bytes: &[u8]) {
        self.m.patches.push((off as u32, bytes.to_vec()));
    }
    fn put32(&mut self, off: usize, v: u32) {
        self.put(off, &v.to_le_bytes());
    }
    fn set(&mut self, field: &str, v: u32) -> bool {
        match self.s.off(field) {
            Some((o, w)) => {
                let b = (v as u64).to_le_bytes();
                self.put(o, &b[..w.min(8)]);
                true
            }
            None => false,
        }
    }
    fn get(&self, field: &str) -> u32 {
        self.s.off(field).map_or(0, |(o, _)| self.s.u32_at(o))
    }
    fn note(&self, name: &str, ntype: u32) -> Option<(usize, usize, usize)> {
        self.s.img.notes.iter().find(|n| n.name == name && n.ntype == ntype).map(|n| (n.offset, n.desc_offset, n.descsz))
    }
    fn say(&mut self, s: String) {
        self.m.what.push(s);
    }
}

const SELECTORS: [u32; 16] = [0, 3, 0x10, 0x18, 0x23, 0x2b, 0x33, 0x60, 0x68, 0x73, 0x7b, 0x83, 0x8b, 0xe3, 0xfffc, 0x1_007b];
const EFLAGS: [u32; 14] = [
    0, 0x2, 0x100, 0x200, 0x3202, 0x4202, 0x10202, 0x20202, 0x40202, 0x80202, 0x100202, 0x200202, 0xffff_ffff, 0x0005_0dd7,
];

fn interesting(r: &mut Rng, old: u32) -> u32 {
    match r.below(14) {
        0 => 0,
        1 => 1,
        2 => u32::MAX,
        3 => 0x7fff_ffff,
        4 => 0x8000_0000,
        5 => TASK_SIZE,
        6 => TASK_SIZE - PAGE_SIZE,
        7 => 0xffff_f000,
        8 => old.wrapping_add(1),
        9 => old.wrapping_sub(1),
        10 => old ^ (1 << r.below(32)),
        11 => old.wrapping_add(PAGE_SIZE),
        12 => old.wrapping_mul(2).wrapping_add(r.below(2) as u32 * PAGE_SIZE),
        _ => r.u32(),
    }
}

/// A random field of `Image::field_offsets`, set to an interesting value.
fn m_field(w: &mut Work, r: &mut Rng) {
    let (name, off, width) = w.s.fields[r.below(w.s.fields.len())].clone();
    if width > 8 {
        // a path: lose its NUL, or an early NUL, or a random byte
        let k = r.below(width);
        let byte = r.pick(&[0u8, b'A', b'/', 0xff]);
        w.put(off + k, &[byte]);
        w.say(format!("{name}[{k}] = {byte:#x}"));
        return;
    }
    let old = w.s.bytes.get(off..off + width).map_or(0, |b| {
        let mut a = [0u8; 8];
        a[..width].copy_from_slice(b);
        u64::from_le_bytes(a)
    });
    let v = if width == 8 && r.chance(50) { u64::MAX >> r.below(2) } else { interesting(r, old as u32) as u64 };
    w.put(off, &v.to_le_bytes()[..width]);
    w.say(format!("{name} = {v:#x}"));
}

fn m_regs(w: &mut Work, r: &mut Rng) {
    match r.below(6) {
        0 | 1 => {
            let v = if r.chance(70) { r.pick(&EFLAGS) } else { r.u32() };
            w.set("prstatus.eflags", v);
            w.say(format!("eflags = {v:#x}"));
        }
        2 | 3 => {
            let reg = r.pick(&["cs", "ss", "ds", "es", "fs", "gs"]);
            let v = if r.chance(85) { r.pick(&SELECTORS) } else { r.u32() };
            w.set(&format!("prstatus.{reg}"), v);
            w.say(format!("{reg} = {v:#x}"));
        }
        4 => {
            // syscall restart paths: orig_eax >= 0 with -ERESTART* in eax
            let orig = r.pick(&[0u32, 1, 3, 162, 327, 0x7fff_ffff]);
            let eax = r.pick(&[(-512i32) as u32, (-513i32) as u32, (-514i32) as u32, (-516i32) as u32, 1]);
            w.set("prstatus.orig_eax", orig);
            w.set("prstatus.eax", eax);
            w.say(format!("orig_eax = {orig}, eax = {:#x}", eax));
        }
        _ => {
            let reg = r.pick(&["eip", "esp", "ebp"]);
            let v = { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[0, TASK_SIZE, TASK_SIZE - 4, 0xffff_fffc, 0xc100_0000, u1]) };
            w.set(&format!("prstatus.{reg}"), v);
            w.say(format!("{reg} = {v:#x}"));
        }
    }
}

fn m_fpu(w: &mut Work, r: &mut Rng) {
    let Some((_, fx, _)) = w.note("LINUX", NT_PRXFPREG) else { return };
    match r.below(5) {
        0 => {
            let v = 0x1f80 | (1 << (16 + r.below(16)));
            w.put32(fx + 24, v);
            w.say(format!("mxcsr = {v:#x} (reserved bit)"));
        }
        1 => {
            let v = { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[0x1fc0u32, 0xffff, 0xffff_ffff, u1]) };
            w.put32(fx + 24, v);
            w.say(format!("mxcsr = {v:#x}"));
        }
        2 => {
            // sw_reserved: the xstate magic the signal-frame code looks for
            w.put32(fx + 464, 0x4650_5853);
            w.put32(fx + 468, { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[0u32, 512, 576, 0xffff_ffff, u1]) });
            w.put32(fx + 472, r.u32());
            w.say("fxsave.sw_reserved = FP_XSTATE_MAGIC1 …".into());
        }
        3 => {
            let k = r.below(FXSAVE_SIZE);
            let v = r.u32();
            w.put(fx + k, &v.to_le_bytes()[..1 + r.below(4)]);
            w.say(format!("fxsave[{k}] = {v:#x}"));
        }
        _ => {
            if let Some((_, fp, _)) = w.note("CORE", NT_PRFPREG) {
                let k = r.below(FPREGS_SIZE);
                let v = r.u32();
                w.put(fp + k, &v.to_le_bytes()[..1 + r.below(4)]);
                w.say(format!("fpregs[{k}] = {v:#x}"));
            }
        }
    }
}

fn m_tls(w: &mut Work, r: &mut Rng) {
    let i = r.below(3);
    let f = r.pick(&["entry_number", "base_addr", "limit", "flags"]);
    let v = match f {
        "entry_number" => r.pick(&[0, 5, 6, 7, 8, 9, 12, 0xffff_ffff]),
        "flags" => { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[0, 1, 0x41, 0x51, 0x7f, 0x28, u1 & 0x7f, u2]) },
        _ => interesting(r, 0),
    };
    w.set(&format!("tls[{i}].{f}"), v);
    w.say(format!("tls[{i}].{f} = {v:#x}"));
}

/// PT_LOAD i (1-based phdr index) and its kckpt_vma (i-1), kept consistent.
fn set_seg(w: &mut Work, i: usize, vaddr: u32, memsz: u32) {
    w.set(&format!("phdr[{i}].p_vaddr"), vaddr);
    w.set(&format!("phdr[{i}].p_memsz"), memsz);
    w.set(&format!("phdr[{i}].p_filesz"), memsz);
    w.set(&format!("kckpt.vma[{}].start", i - 1), vaddr);
    w.set(&format!("kckpt.vma[{}].end", i - 1), vaddr.wrapping_add(memsz));
}

fn m_segments(w: &mut Work, r: &mut Rng) {
    let n = w.s.img.segments.len();
    if n == 0 {
        return;
    }
    let i = 1 + r.below(n);
    let vaddr = w.get(&format!("phdr[{i}].p_vaddr"));
    let memsz = w.get(&format!("phdr[{i}].p_memsz"));
    let vdso = w.s.img.state.vdso_base;
    match r.below(10) {
        0 if i > 1 => {
            let prev = w.get(&format!("phdr[{}].p_vaddr", i - 1));
            set_seg(w, i, prev, memsz);
            w.say(format!("segment {i} overlaps {} (vaddr {prev:#x})", i - 1));
        }
        1 => {
            let m = memsz.wrapping_add(PAGE_SIZE * (1 + r.below(64) as u32));
            set_seg(w, i, vaddr, m);
            w.say(format!("segment {i} grows to {m:#x} (into the next, or past the file)"));
        }
        2 => {
            let (v, m) = r.pick(&[
                (TASK_SIZE - PAGE_SIZE, 2 * PAGE_SIZE),
                (0xffff_f000, 2 * PAGE_SIZE),
                (TASK_SIZE, PAGE_SIZE),
                (0, PAGE_SIZE),
                (0, memsz),
            ]);
            set_seg(w, i, v, m);
            w.say(format!("segment {i} at {v:#x} size {m:#x} (out of range)"));
        }
        3 => {
            let m = r.pick(&[0xffff_f000, 0x8000_0000, 0x4000_0000, 0]);
            set_seg(w, i, vaddr, m);
            w.say(format!("segment {i} size {m:#x} (huge)"));
        }
        4 if vdso != 0 => {
            let v = vdso.wrapping_sub(PAGE_SIZE * r.below(6) as u32);
            set_seg(w, i, v, memsz.min(4 * PAGE_SIZE));
            w.say(format!("segment {i} at {v:#x} over the vdso/vvar"));
        }
        5 => {
            let fl = w.s.bytes.len() as u32;
            let o = r.pick(&[fl.next_multiple_of(PAGE_SIZE), 0, 0xffff_f000, fl.wrapping_sub(PAGE_SIZE) & !0xfff]);
            w.set(&format!("phdr[{i}].p_offset"), o);
            w.say(format!("segment {i} p_offset {o:#x}"));
        }
        6 if n >= 2 => {
            // swap two segments' headers and vmas: not ascending
            let j = if i == n { i - 1 } else { i + 1 };
            let (a, b) = (i.min(j), i.max(j));
            for k in 0..8 {
                let (oa, ob) = (52 + 32 * a + 4 * k, 52 + 32 * b + 4 * k);
                let (va, vb) = (w.s.u32_at(oa), w.s.u32_at(ob));
                w.put32(oa, vb);
                w.put32(ob, va);
            }
            for f in ["start", "end", "flags", "pgoff"] {
                let (fa, fb) = (format!("kckpt.vma[{}].{f}", a - 1), format!("kckpt.vma[{}].{f}", b - 1));
                let (va, vb) = (w.get(&fa), w.get(&fb));
                w.set(&fa, vb);
                w.set(&fb, va);
            }
            w.say(format!("segments {a} and {b} swapped"));
        }
        7 => {
            let v = { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[0u32, 8, 0x10, 0xffff_fff8, u1]) };
            w.set(&format!("phdr[{i}].p_flags"), v);
            w.say(format!("segment {i} p_flags {v:#x}"));
        }
        8 => {
            let v = { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[VMA_GROWSDOWN, VMA_FILE, VMA_HEAP, 7, 0x10, 0x8000_0000, u1]) };
            w.set(&format!("kckpt.vma[{}].flags", i - 1), v);
            w.say(format!("vma {} flags {v:#x}", i - 1));
        }
        _ => {
            // segment data: bytes of code or stack
            let o = w.get(&format!("phdr[{i}].p_offset")) as usize;
            let k = o + r.below(memsz as usize);
            if k < w.s.bytes.len() {
                let v = r.u32();
                w.put(k, &v.to_le_bytes()[..1 + r.below(4)]);
                w.say(format!("segment {i} data at file {k:#x} = {v:#x}"));
            }
        }
    }
}

fn m_notes(w: &mut Work, r: &mut Rng) {
    let notes = w.s.img.notes.clone();
    if r.chance(25) {
        let v = interesting(r, w.get("phdr[0].p_filesz"));
        w.set(&format!("phdr[0].{}", r.pick(&["p_filesz", "p_offset", "p_type"])), v);
        w.say(format!("PT_NOTE field = {v:#x}"));
        return;
    }
    let n = &notes[r.below(notes.len())];
    match r.below(4) {
        0 => {
            let v = r.pick(&[0u32, 1, 4, 5, 7, 0xffff_ffff, 0x8000_0000]);
            w.put32(n.offset, v);
            w.say(format!("note {}/{:#x} n_namesz = {v:#x}", n.name, n.ntype));
        }
        1 => {
            let d = n.descsz as u32;
            let v = r.pick(&[0, d.wrapping_sub(4), d + 4, d.wrapping_sub(1), 0xffff_fffc, 0x7fff_fff0, 0x10_0000]);
            w.put32(n.offset + 4, v);
            w.say(format!("note {}/{:#x} n_descsz = {v:#x}", n.name, n.ntype));
        }
        2 => {
            // another required type: a duplicate and a missing note
            let v = r.pick(&[
                NT_PRSTATUS, NT_PRFPREG, NT_PRPSINFO, NT_AUXV, NT_FILE, NT_PRXFPREG, NT_386_TLS, NT_X86_XSTATE,
                NT_KCKPT_SIGPENDING, NT_KCKPT_ITIMERS, 0x1234,
            ]);
            w.put32(n.offset + 8, v);
            w.say(format!("note {}/{:#x} n_type = {v:#x}", n.name, n.ntype));
        }
        _ => {
            let name = r.pick(&[&b"CORE"[..], b"LINUX", b"KCKPT", b"XXXX"]);
            w.put(n.offset + 12, name);
            w.say(format!("note {}/{:#x} name = {}", n.name, n.ntype, String::from_utf8_lossy(name)));
        }
    }
}

fn m_kckpt(w: &mut Work, r: &mut Rng) {
    let nv = w.s.img.state.vmas.len() as u32;
    let choice = r.below(12);
    let (f, v): (String, u32) = match choice {
        0 => ("kckpt.nr_vmas".into(), r.pick(&[0, nv.wrapping_sub(1), nv + 1, 65530, 65531, 0xffff_ffff])),
        1 => ("kckpt.nr_fds".into(), r.pick(&[1, 2, 0x1000, 0xffff_ffff])),
        2 => ("kckpt.cwd_len".into(), r.pick(&[0, 1, 4096, 4097, 0xffff_ffff, w.get("kckpt.cwd_len") + 4])),
        3 => ("kckpt.size".into(), interesting(r, w.get("kckpt.size"))),
        4 => ("kckpt.vdso_base".into(), r.pick(&[0, 0xbfffe000, 0xbfffc000, 0x1000, w.s.img.state.vdso_base + 0x800, 0xb7000000])),
        5 => ("kckpt.umask".into(), r.pick(&[0o777, 0o1000, 0xffff_ffff])),
        6 => {
            let k = r.pick(&["start_brk", "brk", "start_stack", "arg_start", "arg_end", "env_start", "env_end", "start_code", "end_code"]);
            (format!("kckpt.{k}"), interesting(r, w.get(&format!("kckpt.{k}"))))
        }
        7 | 8 => {
            let s = 1 + r.below(64);
            let k = r.pick(&["handler", "flags", "restorer", "pad"]);
            let v = match k {
                "handler" | "restorer" => { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[1, 2, TASK_SIZE, 0xffff_ffff, 0x0804_8000, u1]) },
                "flags" => { let (u1, u2) = (r.u32(), r.u32()); let _ = u2; r.pick(&[0x0800_0000, 0x0400_0000, 0x8000_0000, 0x4000_0000, 0x1000_0000, u1]) },
                _ => r.u32() | 1,
            };
            (format!("kckpt.sigaction[{s}].{k}"), v)
        }
        9 => {
            w.put(w.s.off("kckpt.sigblocked").map_or(0, |x| x.0), &u64::MAX.to_le_bytes());
            w.say("sigblocked = all".into());
            return;
        }
        10 => (format!("kckpt.vma[{}].pgoff", r.below(nv.max(1) as usize)), r.u32()),
        _ => (r.pick(&["kckpt.magic", "kckpt.version", "kckpt.flags"]).into(), r.pick(&[0, 1, 2, 0x8000_0000])),
    };
    if w.set(&f, v) {
        w.say(format!("{f} = {v:#x}"));
    }
}

fn m_auxv(w: &mut Work, r: &mut Rng) {
    let n = w.s.img.auxv.len();
    if n == 0 {
        return;
    }
    let k = r.below(n);
    if r.chance(30) {
        w.set(&format!("auxv[{}].type", n - 1), 33);
        w.say("auxv without AT_NULL".into());
    } else {
        let v = interesting(r, 0);
        w.set(&format!("auxv[{k}].val"), v);
        w.say(format!("auxv[{k}].val = {v:#x}"));
    }
}

/// Notes that claim other ids than the executing process's: root's uid/gid
/// in `NT_PRPSINFO` (u16 pr_uid, pr_gid at 8 on i386), pid 0/1 or other
/// pids, pgrp and session in `NT_PRSTATUS`. The image must run with the
/// executor's credentials whatever it claims.
fn m_ids(w: &mut Work, r: &mut Rng) {
    if let Some((_, d, _)) = w.note("CORE", NT_PRPSINFO) {
        let (uid, gid) = r.pick(&[(0u16, 0u16), (0, 65534), (65534, 0), (0xffff, 0xffff), (1, 1)]);
        w.put(d + 8, &[uid.to_le_bytes(), gid.to_le_bytes()].concat());
        w.say(format!("prpsinfo pr_uid = {uid}, pr_gid = {gid}"));
        if r.chance(50) {
            let pid = r.pick(&[0u32, 1, 2, 0xffff_ffff]);
            for k in 0..4 {
                w.put32(d + 12 + 4 * k, pid);
            }
            w.say(format!("prpsinfo pr_pid = pr_ppid = pr_pgrp = pr_sid = {pid:#x}"));
        }
    }
    if r.chance(50) {
        if let Some((_, d, _)) = w.note("CORE", NT_PRSTATUS) {
            let pid = r.pick(&[0u32, 1, 2, 0xffff_ffff]);
            for k in 0..4 {
                w.put32(d + PRSTATUS_PID_OFF + 4 * k, pid);
            }
            w.say(format!("prstatus pr_pid = pr_ppid = pr_pgrp = pr_sid = {pid:#x}"));
        }
    }
}

/// The image file as setuid and/or setgid root.
fn m_file_mode(w: &mut Work, r: &mut Rng) {
    let mode = r.pick(&[0o4755u32, 0o2755, 0o6755, 0o4711]);
    w.m.mode = mode;
    w.say(format!("file mode {mode:04o} root:root"));
}

fn m_truncate(w: &mut Work, r: &mut Rng) {
    let len = w.s.bytes.len();
    let ne = w.s.notes_end();
    let l = match r.below(5) {
        0 => r.below(ne.min(len)),
        1 => ne + r.below(len - ne + 1),
        2 => len - 1,
        3 => w.s.img.segments.get(r.below(w.s.img.segments.len())).map_or(len / 2, |s| s.offset as usize + PAGE_SIZE as usize / 2),
        _ => r.below(64),
    };
    w.m.len = l.min(len) as u32;
    w.say(format!("truncated to {}", w.m.len));
}

fn m_bytes(w: &mut Work, r: &mut Rng) {
    let ne = w.s.notes_end();
    let k = 1 + r.below(8);
    for _ in 0..k {
        let o = r.below(ne);
        w.put(o, &[r.u32() as u8]);
    }
    w.say(format!("{k} random header/note bytes"));
}

fn mutate_once(w: &mut Work, r: &mut Rng) {
    match r.below(100) {
        0..=17 => m_field(w, r),
        18..=26 => m_regs(w, r),
        27..=33 => m_fpu(w, r),
        34..=37 => m_tls(w, r),
        38..=53 => m_segments(w, r),
        54..=61 => m_notes(w, r),
        62..=71 => m_kckpt(w, r),
        72..=77 => {
            v2::mutate(w, r);
        }
        78 => {
            extras::mutate(w, r);
        }
        79 => {
            parent::mutate(w, r);
        }
        80..=83 => m_auxv(w, r),
        84..=85 => m_ids(w, r),
        86..=92 => m_truncate(w, r),
        _ => m_bytes(w, r),
    }
}

/// `n` mutants of `seeds` (weights: the seed list order, equal shares).
pub fn generate(seeds: &[Seed], n: usize, seed: u64) -> Vec<Mutant> {
    let mut r = Rng::new(seed);
    (0..n)
        .map(|_| {
            let si = r.below(seeds.len());
            let s = &seeds[si];
            let mut w = Work { s, m: Mutant { seed: si, len: s.bytes.len() as u32, patches: vec![], mode: 0, what: vec![] } };
            // 5%: the unmutated (valid) seed as a setuid/setgid-root file.
            if r.chance(5) {
                m_file_mode(&mut w, &mut r);
                return w.m;
            }
            let k = match r.below(100) {
                0..=59 => 1,
                60..=84 => 2,
                _ => 3,
            };
            for _ in 0..k {
                mutate_once(&mut w, &mut r);
            }
            if w.m.what.is_empty() {
                m_field(&mut w, &mut r);
            }
            // 5%: a setuid/setgid-root file on top of byte mutations.
            if r.chance(5) {
                m_file_mode(&mut w, &mut r);
            }
            w.m
        })
        .collect()
}

fn pad4(v: &mut Vec<u8>) {
    while v.len() % 4 != 0 {
        v.push(0);
    }
}

/// The KFZ2 file the guest runner reads (format in tests/guest/fuzz_images.c).
pub fn encode_kfz(seeds: &[Seed], muts: &[Mutant], timeout_ms: u32) -> Vec<u8> {
    let mut v = b"KFZ2".to_vec();
    for x in [seeds.len() as u32, muts.len() as u32, timeout_ms] {
        v.extend_from_slice(&x.to_le_bytes());
    }
    for s in seeds {
        v.extend_from_slice(&(s.bytes.len() as u32).to_le_bytes());
        v.extend_from_slice(&s.expect.to_le_bytes());
        v.extend_from_slice(&s.bytes);
        pad4(&mut v);
    }
    for m in muts {
        for x in [m.seed as u32, m.len, m.patches.len() as u32, m.mode] {
            v.extend_from_slice(&x.to_le_bytes());
        }
        for (off, p) in &m.patches {
            v.extend_from_slice(&off.to_le_bytes());
            v.extend_from_slice(&(p.len() as u32).to_le_bytes());
            v.extend_from_slice(p);
            pad4(&mut v);
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny() -> Seed {
        let b = std::fs::read(crate::repo_root().join("tests/fuzz-seeds/tiny.kckpt")).unwrap();
        Seed::new("tiny", b, 42).unwrap()
    }

    #[test]
    fn mutants_are_deterministic_and_differ_from_the_seed() {
        let s = [tiny()];
        let a = generate(&s, 200, 1);
        let b = generate(&s, 200, 1);
        assert_eq!(encode_kfz(&s, &a, 500), encode_kfz(&s, &b, 500));
        let changed = a.iter().filter(|m| m.apply(&s[0].bytes) != s[0].bytes || m.setid()).count();
        assert!(changed > 180, "{changed} of 200 mutants differ from the seed");
        let rejected = a.iter().filter(|m| Image::parse(&m.apply(&s[0].bytes)).is_err()).count();
        assert!(rejected > 100, "only {rejected} of 200 mutants are invalid");
    }

    /// Read back the per-mutant words of a KFZ2 file as the guest does.
    fn kfz_modes(v: &[u8]) -> Vec<u32> {
        let at = |p: usize| u32::from_le_bytes(v[p..p + 4].try_into().unwrap());
        assert_eq!(&v[..4], b"KFZ2");
        let (nseeds, nmut) = (at(4), at(8));
        let mut p = 16;
        for _ in 0..nseeds {
            p += 8 + (at(p) as usize).next_multiple_of(4);
        }
        (0..nmut)
            .map(|_| {
                let (np, mode) = (at(p + 8), at(p + 12));
                p += 16;
                for _ in 0..np {
                    p += 8 + (at(p + 4) as usize).next_multiple_of(4);
                }
                mode
            })
            .collect()
    }

    #[test]
    fn parent_notes_are_added_and_the_kernel_must_refuse_them() {
        let s = [tiny()];
        let a = generate(&s, 2000, 5);
        let with: Vec<_> = a.iter().filter(|m| m.what.iter().any(|w| w.starts_with("NT_KCKPT_PARENT"))).collect();
        assert!(with.len() > 5, "{} mutants with a parent note", with.len());
        let parsed: Vec<_> = with.iter().map(|m| Image::parse(&m.apply(&s[0].bytes))).collect();
        // the crate sees the note (valid ones decode; broken ones are named)
        assert!(parsed.iter().any(|p| p.as_ref().is_ok_and(|i| i.parent.is_some())), "no valid parent note");
        assert!(parsed.iter().any(|p| p.is_err()));
        // and the kernel never honours it
        for p in parsed.iter().flatten() {
            assert_ne!(p.extras() & !KCKPT_EXTRAS_KERNEL, 0, "a parent mutant the kernel could run");
        }
    }

    #[test]
    fn setid_files_and_id_claims_reach_the_guest() {
        let s = [tiny()];
        let a = generate(&s, 1000, 3);
        let modes = kfz_modes(&encode_kfz(&s, &a, 500));
        assert_eq!(modes, a.iter().map(|m| m.mode).collect::<Vec<_>>());
        let setid: Vec<_> = a.iter().filter(|m| m.setid()).collect();
        assert!(setid.len() > 50, "{} setid mutants of 1000", setid.len());
        // some are the valid seed itself: only the file mode differs
        let valid = setid.iter().filter(|m| m.patches.is_empty() && Image::parse(&m.apply(&s[0].bytes)).is_ok()).count();
        assert!(valid > 20, "{valid} valid setid images");
        assert!(a.iter().any(|m| m.what.iter().any(|w| w.starts_with("prpsinfo pr_uid = 0"))));
        assert!(a.iter().any(|m| m.what.iter().any(|w| w.starts_with("prstatus pr_pid"))));
    }
}
