//! Mutator for `NT_KCKPT_PARENT`, the parent of an incremental image. A
//! seed has none, so the note is added in the slack between the end of
//! the notes and the first segment's page-aligned data (`PT_NOTE`'s
//! `p_filesz` grown to cover it), with extras bit 0x10 set. Its contents
//! are hostile: paths (long, relative, `..`, /proc, no NUL, empty),
//! ranges (overlapping, empty, unaligned, huge, outside every segment,
//! more claimed than present), identities, depths (0, 17, 2^32-1, a
//! cycle's), reserved bits; or a valid note. binfmt_cr knows no parent
//! bit, so the loader must refuse every one (ENOEXEC) before it reads
//! the note: always true.

use kckpt_image::consts::*;
use kckpt_image::PAGE_SIZE;

use super::{Rng, Work};

const PATHS: [&[u8]; 7] = [
    b"full.kckpt",
    b"../../../../../../etc/shadow",
    b"/proc/self/mem",
    b"/dev/zero",
    b"/tmp/work/fuzz_images/self.kckpt",
    b".",
    b"a\nb\x1b[2J",
];

/// A descriptor of the note: `size`/`hash`, `depth`, ranges, path bytes
/// (written with `path_len` = `path.len() + 1` and a NUL unless `raw_len`).
fn desc(size: u64, hash: u64, depth: u32, reserved: u32, ranges: &[(u32, u32)], path: &[u8], raw_len: Option<u32>) -> Vec<u8> {
    let mut d = Vec::new();
    d.extend_from_slice(&size.to_le_bytes());
    d.extend_from_slice(&hash.to_le_bytes());
    let path_len = raw_len.unwrap_or(path.len() as u32 + 1);
    for x in [depth, ranges.len() as u32, path_len, reserved] {
        d.extend_from_slice(&x.to_le_bytes());
    }
    for &(v, n) in ranges {
        d.extend_from_slice(&v.to_le_bytes());
        d.extend_from_slice(&n.to_le_bytes());
    }
    d.extend_from_slice(path);
    if raw_len.is_none() {
        d.push(0);
    }
    while d.len() % 4 != 0 {
        d.push(0);
    }
    d
}

pub(super) fn mutate(w: &mut Work, r: &mut Rng) -> bool {
    let segs = &w.s.img.segments;
    let seg0 = segs.first().map_or((0x0804_8000, 1), |s| (s.vaddr, s.memsz / PAGE_SIZE));
    let last = segs.last().map_or(seg0, |s| (s.vaddr, s.memsz / PAGE_SIZE));
    let len = w.s.bytes.len() as u64;
    let (size, hash) = match r.below(4) {
        0 => kckpt_image::identity(&w.s.bytes),
        1 => (len, r.next()),
        2 => (r.next(), r.next()),
        _ => (0, 0),
    };
    let path = r.pick(&PATHS);
    let mut what = String::new();
    let d = match r.below(8) {
        0 => {
            what.push_str("valid (seed's own identity or not)");
            desc(size, hash, 1, 0, &[(seg0.0, 1)], path, None)
        }
        1 => {
            let depth = r.pick(&[0u32, 17, 2, u32::MAX, MAX_CHAIN_DEPTH]);
            what.push_str(&format!("depth {depth}"));
            desc(size, hash, depth, 0, &[(seg0.0, 1)], path, None)
        }
        2 => {
            let rs = match r.below(6) {
                0 => vec![(seg0.0, 0)],
                1 => vec![(seg0.0 + 1, 1)],
                2 => vec![(seg0.0, 1), (seg0.0, 1)],
                3 => vec![(last.0, last.1 + 1)],
                4 => vec![(seg0.0, u32::MAX)],
                _ => vec![(0xbfff_f000, 1), (0x1000, 1)],
            };
            what.push_str(&format!("ranges {rs:x?}"));
            desc(size, hash, 1, 0, &rs, path, None)
        }
        3 => {
            let v = r.pick(&[0u32, 1, 4097, u32::MAX, path.len() as u32]);
            what.push_str(&format!("path_len {v} for {} bytes", path.len()));
            desc(size, hash, 1, 0, &[], path, Some(v))
        }
        4 => {
            let p = vec![b'A'; r.pick(&[4095usize, 1024, 200])];
            what.push_str(&format!("{}-byte path", p.len()));
            desc(size, hash, 1, 0, &[], &p, None)
        }
        5 => {
            let mut d = desc(size, hash, 1, 0, &[(seg0.0, 1)], path, None);
            d[20..24].copy_from_slice(&r.pick(&[2u32, 1000, u32::MAX, 0x1fff_ffff]).to_le_bytes());
            what.push_str("nr_ranges above what the note holds");
            d
        }
        6 => {
            what.push_str("reserved set");
            desc(size, hash, 1, r.pick(&[1u32, u32::MAX]), &[], path, None)
        }
        _ => {
            let n = r.pick(&[16usize, 200]);
            let rs: Vec<(u32, u32)> = (0..n).map(|k| (seg0.0.wrapping_add(k as u32 * PAGE_SIZE), 1)).collect();
            what.push_str(&format!("{n} one-page ranges from the first segment on"));
            desc(size, hash, 1, 0, &rs, path, None)
        }
    };
    // The note after the last one, inside the slack before the data.
    let (Some((poff, _)), Some((pfsz, _))) = (w.s.off("phdr[0].p_offset"), w.s.off("phdr[0].p_filesz")) else {
        return super::extras::m_bits(w, r);
    };
    let note_end = (w.s.u32_at(poff) + w.s.u32_at(pfsz)) as usize;
    let note_len = 12 + 8 + d.len();
    if note_end + note_len > w.s.notes_end() {
        return super::extras::m_bits(w, r);
    }
    let mut n = Vec::with_capacity(note_len);
    for x in [6u32, d.len() as u32, NT_KCKPT_PARENT] {
        n.extend_from_slice(&x.to_le_bytes());
    }
    n.extend_from_slice(b"KCKPT\0\0\0");
    n.extend_from_slice(&d);
    w.put(note_end, &n);
    w.put32(pfsz, w.s.u32_at(pfsz) + note_len as u32);
    let extras = w.s.img.extras();
    // 1 in 8: the note without its bit (refused by the crate as unflagged)
    if r.below(8) != 0 {
        w.set("kckpt.attrs.extras", extras | KCKPT_EXTRA_PARENT);
    } else {
        what.push_str(", extras bit clear");
    }
    let p = String::from_utf8_lossy(path).escape_debug().to_string();
    w.say(format!("NT_KCKPT_PARENT ({} bytes, path {p:.40}): {what}", d.len()));
    true
}
