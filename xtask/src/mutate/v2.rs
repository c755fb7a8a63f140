//! Mutators for the fields format version 2 added: rlimits, the SHARED
//! VMA flag and the NT_FILE entries of shared file mappings, the process attributes (comm, personality, no_new_privs,
//! dumpable, sigaltstack), and the descriptor records' kind, id,
//! data_len, path_len, pipe capacity and access mode. Each returns whether the loader must
//! refuse the mutant (true) or may accept it (false), which the tests
//! check against `Image::parse`.

use kckpt_image::consts::*;
use kckpt_image::{Fd, FileEntry, Vma, MAX_FD_DATA, TASK_SIZE};

use super::{Rng, Work};

const INF: u64 = u64::MAX;

impl Work<'_> {
    pub(super) fn set64(&mut self, field: &str, v: u64) -> bool {
        match self.s.off(field) {
            Some((o, 8)) => {
                self.put(o, &v.to_le_bytes());
                true
            }
            _ => false,
        }
    }
    fn fds(&self) -> &[Fd] {
        &self.s.img.state.fds
    }
}

/// One of the v2 mutators.
pub(super) fn mutate(w: &mut Work, r: &mut Rng) -> bool {
    match r.below(14) {
        0..=3 => m_rlimit(w, r),
        4 | 5 => m_vma_shared(w, r),
        6 | 7 => m_attrs(w, r),
        12 | 13 => m_ntfile(w, r),
        _ if w.fds().is_empty() => m_rlimit(w, r),
        _ => m_fd(w, r),
    }
}

/// `kckpt_rlimit[k]`: cur above max, a finite value of 2^32 or more,
/// infinity, small values, RLIMIT_NOFILE at or below the highest fd.
pub(super) fn m_rlimit(w: &mut Work, r: &mut Rng) -> bool {
    let k = r.below(NRLIMITS);
    let lim = w.s.img.state.rlimits[k];
    let (cur_f, max_f) = (format!("kckpt.rlimit[{k}].cur"), format!("kckpt.rlimit[{k}].max"));
    match r.below(6) {
        0 => {
            // cur above max: raise cur past a finite max, or lower max below cur
            let (f, v) = if lim.max < u32::MAX as u64 {
                (cur_f, lim.max + 1 + r.below(2) as u64 * (INF - lim.max - 1))
            } else {
                (max_f, lim.cur.min(u32::MAX as u64).saturating_sub(1 + r.below(16) as u64))
            };
            w.set64(&f, v);
            w.say(format!("{f} = {v:#x} (cur above max)"));
            w.s.img.state.rlimits[k].cur > 0 || f.ends_with(".cur")
        }
        1 => {
            let v = r.pick(&[1u64 << 32, (1 << 32) + 1, 1 << 63, INF - 1, INF >> 1]);
            let f = if r.chance(50) { cur_f } else { max_f };
            w.set64(&f, v);
            w.say(format!("{f} = {v:#x} (finite, not below 2^32)"));
            true
        }
        2 => {
            let f = if r.chance(50) { cur_f } else { max_f };
            w.set64(&f, INF);
            w.say(format!("{f} = RLIM_INFINITY"));
            f.ends_with(".cur") && lim.max != INF
        }
        3 if k == RLIMIT_NOFILE && !w.fds().is_empty() => {
            let top = w.fds().iter().map(|f| f.fd).max().unwrap_or(0) as u64;
            let v = top.saturating_sub(r.below(2) as u64);
            w.set64(&cur_f, v);
            w.say(format!("{cur_f} = {v} (not above the highest fd {top})"));
            true
        }
        _ => {
            // small, valid values: the loader installs them (RLIMIT_AS 0,
            // RLIMIT_STACK 4096, RLIMIT_NOFILE 3, ...) and must cope
            let v = r.pick(&[0u64, 1, 3, 4096, 65536, u32::MAX as u64]);
            w.set64(&cur_f, v);
            w.set64(&max_f, v);
            w.say(format!("rlimit[{k}] = {v:#x}/{v:#x}"));
            k == RLIMIT_NOFILE && w.fds().iter().any(|f| f.fd as u64 >= v)
        }
    }
}

/// The seed's NT_FILE entries if the note is as the kernel writes it
/// (it re-encodes exactly: page size 4096, the count fits, one
/// NUL-terminated name per entry) and no name is empty; `None` when the
/// mutators cannot tell what the loader makes of it.
fn plain_files<'a>(w: &Work<'a>) -> Option<&'a [FileEntry]> {
    let img = &w.s.img;
    (img.files_raw.is_empty() && img.files.iter().all(|e| !e.path.is_empty())).then_some(img.files.as_slice())
}

/// The loader's NT_FILE rule on a well-formed NT_FILE: with a shared file
/// mapping among `vmas`, the k-th file-backed VMA has an entry k, and each
/// shared file mapping's entry has its start, end and pgoff (at most
/// 0xfffff). Without one NT_FILE is informational.
fn files_fit(files: &[FileEntry], vmas: &[Vma]) -> bool {
    if !vmas.iter().any(|v| v.flags == VMA_SHARED_FILE) {
        return true;
    }
    let mut entries = files.iter();
    vmas.iter().filter(|v| v.flags & VMA_FILE != 0).all(|v| match entries.next() {
        None => false,
        Some(_) if v.flags & VMA_SHARED == 0 => true,
        Some(e) => (e.start, e.end, e.pgoff) == (v.start, v.end, v.pgoff) && v.pgoff <= SHARED_FILE_MAX_PGOFF,
    })
}

/// `kckpt_vma[i].flags` with SHARED: alone (any segment mapped as shared
/// anonymous memory: accepted, though it may shift the NT_FILE entries of
/// the file VMAs after it), with FILE alone (a shared file mapping: refused
/// when NT_FILE has no matching entry for it, or no longer for another),
/// or with another flag (refused).
pub(super) fn m_vma_shared(w: &mut Work, r: &mut Rng) -> bool {
    let n = w.s.img.state.vmas.len();
    if n == 0 {
        return m_rlimit(w, r);
    }
    let i = r.below(n);
    let v = r.pick(&[
        VMA_SHARED,
        VMA_SHARED | VMA_FILE,
        VMA_SHARED | VMA_FILE,
        VMA_SHARED | VMA_HEAP,
        VMA_SHARED | VMA_GROWSDOWN,
        VMA_SHARED | VMA_FILE | VMA_HEAP | VMA_GROWSDOWN,
        VMA_SHARED | 0x10,
    ]);
    w.set(&format!("kckpt.vma[{i}].flags"), v);
    w.say(format!("vma {i} flags {v:#x} (SHARED)"));
    match v {
        VMA_SHARED => false,
        VMA_SHARED_FILE => {
            let mut vmas = w.s.img.state.vmas.clone();
            vmas[i].flags = v;
            plain_files(w).is_some_and(|f| !files_fit(f, &vmas))
        }
        _ => true,
    }
}

/// NT_FILE of an image with a shared file mapping: the page size, a count
/// too big, the shared mapping's entry start/end/pgoff differing from its
/// VMA, a pgoff above 0xfffff (both places), a name without its NUL, an
/// empty name (all refused); a private file VMA's entry moved (accepted).
pub(super) fn m_ntfile(w: &mut Work, r: &mut Rng) -> bool {
    let vmas = w.s.img.state.vmas.clone();
    let shared: Vec<usize> = (0..vmas.len()).filter(|&i| vmas[i].flags == VMA_SHARED_FILE).collect();
    let Some(files) = plain_files(w).map(|f| f.to_vec()) else { return m_vma_shared(w, r) };
    if shared.is_empty() || !files_fit(&files, &vmas) {
        return m_vma_shared(w, r);
    }
    // entry k of VMA i: the number of file VMAs before it
    let entry = |i: usize| vmas[..i].iter().filter(|v| v.flags & VMA_FILE != 0).count();
    let nfile = entry(vmas.len());
    let size = w.note("CORE", NT_FILE).map_or(0, |n| n.2) as u32;
    match r.below(7) {
        0 => {
            let v = r.pick(&[0, 1, 2048, 8192, 0x10000, u32::MAX]);
            w.set("nt_file.page_size", v);
            w.say(format!("NT_FILE page size {v}"));
            true
        }
        1 => {
            let fits = size.saturating_sub(8) / 12;
            let v = r.pick(&[fits + 1, fits + 2, 0x1555_5556, u32::MAX]);
            w.set("nt_file.count", v);
            w.say(format!("NT_FILE count {v} (room for {fits})"));
            true
        }
        2 => {
            let i = r.pick(&shared);
            let f = r.pick(&["start", "end", "pgoff"]);
            let k = entry(i);
            let old = w.get(&format!("nt_file[{k}].{f}"));
            let v = old ^ r.pick(&[0x1000, 0x1, 0x8000_0000, 0x10_0000]);
            w.set(&format!("nt_file[{k}].{f}"), v);
            w.say(format!("NT_FILE entry {k} {f} {v:#x} (vma {i} has {old:#x})"));
            true
        }
        3 => {
            let i = r.pick(&shared);
            let k = entry(i);
            let v = r.pick(&[SHARED_FILE_MAX_PGOFF + 1, 0x8000_0000, u32::MAX]);
            w.set(&format!("nt_file[{k}].pgoff"), v);
            w.set(&format!("kckpt.vma[{i}].pgoff"), v);
            w.say(format!("shared file vma {i} pgoff {v:#x} (offset beyond 4 GiB)"));
            true
        }
        4 => {
            // the NUL after name k: it runs into the next name, one name fewer
            let k = r.below(nfile);
            let Some((o, len)) = w.s.off(&format!("nt_file[{k}].path")) else { return false };
            w.put(o + len - 1, b"/");
            w.say(format!("NT_FILE name {k} without its NUL"));
            files.len() <= nfile
        }
        5 => {
            let k = r.below(nfile);
            let Some((o, _)) = w.s.off(&format!("nt_file[{k}].path")) else { return false };
            w.put(o, &[0]);
            w.say(format!("NT_FILE name {k} empty"));
            true
        }
        _ => {
            let private: Vec<usize> = (0..vmas.len()).filter(|&i| vmas[i].flags & (VMA_FILE | VMA_SHARED) == VMA_FILE).collect();
            if private.is_empty() {
                return false;
            }
            let k = entry(r.pick(&private));
            let v = r.pick(&[0u32, 0x4000_0000, u32::MAX]);
            w.set(&format!("nt_file[{k}].start"), v);
            w.say(format!("NT_FILE entry {k} start {v:#x} (a private file VMA's: not checked)"));
            false
        }
    }
}

/// The personality bits above the `PER_` byte that an image may not carry.
fn bad_personality_bits() -> Vec<u32> {
    (8..32).map(|k| 1u32 << k).filter(|b| b & PERSONALITY_FLAGS_OK == 0).collect()
}

/// `kckpt_attrs`: comm without its NUL or with bytes after it, personality
/// bits and `PER_` bytes, flags, dumpable, every sigaltstack rule, the
/// reserved words; and valid values (allowed personality flags, dumpable
/// 0..=2, an enabled alternate stack) the loader must install.
pub(super) fn m_attrs(w: &mut Work, r: &mut Rng) -> bool {
    let Some((comm, _)) = w.s.off("kckpt.attrs.comm") else { return m_rlimit(w, r) };
    let name = w.s.img.state.attrs.comm;
    let nul = name.iter().position(|&c| c == 0).unwrap_or(COMM_LEN - 1);
    let (sp, size, flags) = ("kckpt.attrs.ss_sp", "kckpt.attrs.ss_size", "kckpt.attrs.ss_flags");
    match r.below(12) {
        0 => {
            let b = r.pick(&[b'A', 0x80, 0xff, 1]);
            if r.chance(50) {
                w.put(comm, &[b; COMM_LEN]);
            } else {
                w.put(comm + COMM_LEN - 1, &[b]);
            }
            w.say(format!("attrs comm[15] = {b:#x} (no NUL)"));
            true
        }
        1 if nul + 1 < COMM_LEN => {
            let k = nul + 1 + r.below(COMM_LEN - nul - 1);
            let b = r.pick(&[b'A', 0xff, 1]);
            w.put(comm + k, &[b]);
            w.say(format!("attrs comm[{k}] = {b:#x} after the NUL at {nul}"));
            true
        }
        1 | 2 => {
            let p = if r.chance(60) {
                r.pick(&bad_personality_bits()) | r.pick(&[0, ADDR_NO_RANDOMIZE])
            } else {
                r.pick(&[1u32, 8, 0xff, 0x10 | READ_IMPLIES_EXEC])
            };
            w.set("kckpt.attrs.personality", p);
            w.say(format!("attrs personality {p:#x} (refused)"));
            true
        }
        3 => {
            let p = r.pick(&[ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ADDR_LIMIT_3GB, UNAME26 | WHOLE_SECONDS, PERSONALITY_FLAGS_OK]);
            w.set("kckpt.attrs.personality", p);
            w.say(format!("attrs personality {p:#x} (allowed)"));
            false
        }
        4 => {
            let f = r.pick(&[KCKPT_ATTR_NO_NEW_PRIVS, 2, 3, 0x8000_0000, u32::MAX]);
            w.set("kckpt.attrs.flags", f);
            w.say(format!("attrs flags {f:#x}"));
            f != KCKPT_ATTR_NO_NEW_PRIVS
        }
        5 => {
            let d = r.pick(&[0, 1, 2, 3, 3, u32::MAX, u32::MAX]);
            w.set("kckpt.attrs.dumpable", d);
            w.say(format!("attrs dumpable {d:#x}"));
            d > 2
        }
        6 => {
            let f = r.pick(&[SS_ONSTACK, 3, 4, SS_AUTODISARM | SS_ONSTACK, SS_AUTODISARM | SS_DISABLE, u32::MAX, 0x4000_0000]);
            w.set(sp, 0x1000_0000);
            w.set(size, 0x2000);
            w.set(flags, f);
            w.say(format!("attrs ss_flags {f:#x} (invalid)"));
            true
        }
        7 => {
            let (s, z) = r.pick(&[(0x1000_0000u32, 0u32), (0, 0x2000), (0x1000_0000, 0x2000), (0, 1)]);
            w.set(sp, s);
            w.set(size, z);
            w.set(flags, SS_DISABLE);
            w.say(format!("attrs SS_DISABLE with ss_sp {s:#x} ss_size {z:#x}"));
            true
        }
        8 => {
            let z = r.pick(&[0u32, 1, 1024, MINSIGSTKSZ - 1]);
            w.set(sp, 0x1000_0000);
            w.set(size, z);
            w.set(flags, r.pick(&[0, SS_AUTODISARM]));
            w.say(format!("attrs ss_size {z} below MINSIGSTKSZ"));
            true
        }
        9 => {
            let (s, z) = r.pick(&[
                (0xffff_f000u32, 0x2000u32),
                (0x1000, u32::MAX),
                (TASK_SIZE - MINSIGSTKSZ + 1, MINSIGSTKSZ),
                (TASK_SIZE, 0x1000),
                (0xbfff_0000, 0x0002_0000),
            ]);
            w.set(sp, s);
            w.set(size, z);
            w.set(flags, r.pick(&[0, SS_AUTODISARM]));
            w.say(format!("attrs ss_sp {s:#x} + ss_size {z:#x} beyond TASK_SIZE"));
            true
        }
        10 => {
            // reserved, or an extras bit no loader knows (the known bits: extras.rs)
            let (f, v) = r.pick(&[("reserved", 1u32), ("reserved", 0x8000_0000), ("reserved", u32::MAX), ("extras", 8), ("extras", 1 << 31)]);
            w.set(&format!("kckpt.attrs.{f}"), v | if f == "extras" { w.s.img.extras() } else { 0 });
            w.say(format!("attrs {f} = {v:#x}"));
            true
        }
        _ => {
            // a valid alternate stack, anywhere below TASK_SIZE
            let (s, z) = r.pick(&[(0x1000_0000u32, MINSIGSTKSZ), (TASK_SIZE - 0x4000, 0x4000), (0x1000, 0x10_0000)]);
            let f = r.pick(&[0, SS_AUTODISARM]);
            w.set(sp, s);
            w.set(size, z);
            w.set(flags, f);
            w.say(format!("attrs sigaltstack {s:#x} size {z:#x} flags {f:#x} (valid)"));
            false
        }
    }
}

/// `f` would pass as an eventfd record on its own (it is one, or a
/// record made like one): id, `O_RDWR` plus NONBLOCK/CLOEXEC, mode 0 or
/// 1, no data or path. (The seed's eventfds keep other ids' counters.)
fn eventfd_ok(f: &Fd) -> bool {
    f.id != 0
        && f.flags & !(O_NONBLOCK | O_CLOEXEC) == O_RDWR
        && f.mode <= EFD_SEMAPHORE
        && f.data.is_empty()
        && f.path.is_empty()
}

/// Record `i`'s id was used by an earlier record of the same kind.
fn not_first(fds: &[Fd], i: usize) -> bool {
    fds[..i].iter().any(|f| f.kind == fds[i].kind && f.id == fds[i].id && f.kind != FD_PATH)
}

/// The fields of one descriptor record.
pub(super) fn m_fd(w: &mut Work, r: &mut Rng) -> bool {
    let fds = w.fds().to_vec();
    let i = r.below(fds.len());
    let f = &fds[i];
    let name = |n: &str| format!("kckpt.fd[{i}].{n}");
    let pipes: Vec<usize> = (0..fds.len()).filter(|&k| fds[k].kind == FD_PIPE).collect();
    match r.below(9) {
        0 => {
            let u = r.u32();
            let v = r.pick(&[0, 5, 6, 0xffff_ffff, u, FD_PATH, FD_PIPE, FD_UNLINKED, FD_EVENTFD]);
            w.set(&name("kind"), v);
            w.say(format!("fd[{i}] kind {v} (was {})", f.kind));
            !(FD_PATH..=FD_EVENTFD).contains(&v) || (v == FD_EVENTFD && !eventfd_ok(f))
        }
        1 => {
            // id 0 on a pipe or unlinked file, an id on a path, or the
            // id of another object (ids are per kind: pipe 1 and unlinked
            // file 1 are two objects, so that one may be valid)
            let other = fds.iter().find(|o| o.kind != FD_PATH && o.id != f.id).map(|o| o.id);
            let v = match other {
                Some(id) if r.chance(60) => id,
                _ => r.pick(&[0, 1, 2, 0xffff_ffff]),
            };
            w.set(&name("id"), v);
            w.say(format!("fd[{i}] id {v} (was {})", f.id));
            (f.kind == FD_PATH) != (v == 0)
        }
        2 => {
            // huge data_len: past the note, above 4 MiB, or above a pipe's capacity
            let v = r.pick(&[u32::MAX, MAX_FD_DATA + 1, 1 << 31, f.pos.min(u32::MAX as u64 - 1) as u32 + 1]);
            w.set(&name("data_len"), v);
            w.say(format!("fd[{i}] data_len {v:#x}"));
            v as usize > f.data.len()
        }
        3 => {
            // data on a record that is not the first of its id
            let later: Vec<usize> = (0..fds.len()).filter(|&k| not_first(&fds, k)).collect();
            let v = r.pick(&[1u32, 4, 8]);
            if later.is_empty() {
                // no such record: data on a PATH record instead
                let Some(k) = fds.iter().position(|f| f.kind == FD_PATH) else { return false };
                w.set(&format!("kckpt.fd[{k}].data_len"), v);
                w.say(format!("fd[{k}] data_len {v} (a path)"));
                return true;
            }
            let k = r.pick(&later);
            w.set(&format!("kckpt.fd[{k}].data_len"), v);
            w.say(format!("fd[{k}] data_len {v} (not the first record of its id)"));
            true
        }
        4 if !pipes.is_empty() => {
            let k = r.pick(&pipes);
            let v = r.pick(&[0u32, 2, 4, 4096, 4097]);
            w.set(&format!("kckpt.fd[{k}].path_len"), v);
            w.say(format!("pipe fd[{k}] path_len {v}"));
            true
        }
        5 if !pipes.is_empty() => {
            let k = r.pick(&pipes);
            let v = r.pick(&[0u64, 1, 4095, 4097, 3 * 4096, 2 << 20, 1 << 63, u64::MAX, 4096, 1 << 20]);
            w.set64(&format!("kckpt.fd[{k}].pos"), v);
            w.say(format!("pipe fd[{k}] capacity {v:#x}"));
            !kckpt_image::pipe_capacity_ok(v) || (fds[k].data.len() as u64) > v
        }
        6 if !pipes.is_empty() => {
            let k = r.pick(&pipes);
            let v = fds[k].flags & !O_ACCMODE | r.pick(&[O_RDWR, 3]);
            w.set(&format!("kckpt.fd[{k}].flags"), v);
            w.say(format!("pipe fd[{k}] flags {v:#o} (read-write)"));
            true
        }
        7 if !pipes.is_empty() => {
            // the pipe loses all its writers (or readers): each becomes the other end
            let id = fds[r.pick(&pipes)].id;
            let write = r.chance(50);
            for k in pipes.iter().copied().filter(|&k| fds[k].id == id) {
                let v = fds[k].flags & !O_ACCMODE | if write { O_RDONLY } else { O_WRONLY };
                w.set(&format!("kckpt.fd[{k}].flags"), v);
            }
            w.say(format!("pipe {id} without a {} end", if write { "write" } else { "read" }));
            true
        }
        _ => {
            // mode: another file type, or only permission bits changed
            let v = r.pick(&[S_IFIFO, S_IFDIR, S_IFCHR, S_IFREG, 0o140000, 0o060000, 0]) | r.pick(&[0o644, 0o7777]);
            w.set(&name("mode"), v);
            w.say(format!("fd[{i}] mode {v:#o}"));
            match f.kind {
                FD_PATH => ![S_IFREG, S_IFDIR, S_IFCHR].contains(&(v & S_IFMT)),
                FD_UNLINKED => v & S_IFMT != S_IFREG,
                FD_EVENTFD => v > EFD_SEMAPHORE,
                _ => false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use kckpt_image::{Builder, Image};

    use super::super::{Mutant, Seed};
    use super::*;

    /// A builder-made seed with every fd kind and three VMAs: private
    /// file, shared anonymous and a shared file mapping (with NT_FILE).
    fn seed() -> Seed {
        let b = Builder::new()
            .segment(0x0804_8000, 1, PF_R | PF_X, VMA_FILE, vec![0x90; 16])
            .file_mapping(0x0804_8000, 0x0804_9000, 0, "/bin/true")
            .segment(0x1000_0000, 2, PF_R | PF_W, VMA_SHARED, b"shm".to_vec())
            .shared_file(0x2000_0000, 2, PF_R | PF_W, 1, "/tmp/shared")
            .fd(3, 0, 10, "/etc/passwd")
            .pipe_end(4, 1, false, 65536, b"unread")
            .pipe_end(5, 1, true, 65536, b"")
            .unlinked(6, 2, 0, 2, "/tmp/gone", b"deleted")
            .unlinked(7, 0, 0, 2, "/tmp/gone", b"")
            .pipe_end(8, 3, true, 4096, b"")
            .pipe_end(9, 3, false, 4096, b"")
            .rlimit(0, 10, 20)
            .bytes();
        Seed::new("built", b, 0).unwrap()
    }

    /// Run `m` with many seeds: every mutant it calls invalid is refused,
    /// and it does not call them all valid.
    fn check(m: fn(&mut Work, &mut Rng) -> bool, n: u64) -> Vec<String> {
        let s = seed();
        let mut said = Vec::new();
        let mut refused = 0;
        for k in 0..n {
            let mut r = Rng::new(k);
            let mut w = Work { s: &s, m: Mutant { seed: 0, len: s.bytes.len() as u32, patches: vec![], mode: 0, what: vec![] } };
            let must_fail = m(&mut w, &mut r);
            let got = Image::parse(&w.m.apply(&s.bytes));
            if must_fail {
                assert!(got.is_err(), "accepted: {:?}", w.m.what);
                refused += 1;
            }
            said.extend(w.m.what);
        }
        assert!(refused > n as usize / 3, "only {refused} of {n} mutants must fail");
        said
    }

    fn saw(said: &[String], what: &str) {
        assert!(said.iter().any(|s| s.contains(what)), "no mutant says {what:?}");
    }

    #[test]
    fn rlimit_mutants() {
        let said = check(m_rlimit, 600);
        for what in ["(cur above max)", "(finite, not below 2^32)", "RLIM_INFINITY", "not above the highest fd"] {
            saw(&said, what);
        }
    }

    #[test]
    fn shared_vma_mutants() {
        let said = check(m_vma_shared, 200);
        saw(&said, "flags 0x8 (SHARED)");
        saw(&said, "flags 0xa (SHARED)");
    }

    #[test]
    fn ntfile_mutants() {
        let said = check(m_ntfile, 600);
        for what in [
            "NT_FILE page size",
            "NT_FILE count",
            "NT_FILE entry 1 start",
            "NT_FILE entry 1 end",
            "NT_FILE entry 1 pgoff",
            "(offset beyond 4 GiB)",
            "name 0 without its NUL",
            "name 1 without its NUL",
            "name 1 empty",
            "(a private file VMA's: not checked)",
        ] {
            saw(&said, what);
        }
    }

    #[test]
    fn shared_file_flag_claims_follow_ntfile() {
        let s = seed();
        let vmas = &s.img.state.vmas;
        let files = &s.img.files;
        assert!(files_fit(files, vmas));
        // the private code VMA turned shared: its entry matches, accepted
        let mut v = vmas.clone();
        v[0].flags = VMA_SHARED_FILE;
        assert!(files_fit(files, &v));
        // the shared anonymous VMA turned a shared file mapping: it takes
        // entry 1 (the other mapping's), refused
        let mut v = vmas.clone();
        v[1].flags = VMA_SHARED_FILE;
        assert!(!files_fit(files, &v));
        assert!(Image::parse(&s.bytes).is_ok());
    }

    #[test]
    fn attrs_mutants() {
        let said = check(m_attrs, 1200);
        for what in [
            "(no NUL)",
            "after the NUL at 5",
            "personality 0x100000",
            "personality 0x1 (refused)",
            "(allowed)",
            "flags 0x2",
            "dumpable 0x3",
            "dumpable 0xffffffff",
            "ss_flags 0x1 (invalid)",
            "SS_DISABLE with ss_sp 0x10000000",
            "below MINSIGSTKSZ",
            "ss_sp 0xfffff000 + ss_size 0x2000",
            "ss_sp 0xbffff801",
            "attrs reserved = 0x80000000",
            "attrs extras = 0x8",
            "(valid)",
        ] {
            saw(&said, what);
        }
        // every personality bit outside the allowed set is tried
        for b in bad_personality_bits() {
            assert!(said.iter().any(|s| s.contains(&format!("personality {b:#x} ")) || s.contains(&format!("personality {:#x} ", b | ADDR_NO_RANDOMIZE))), "bit {b:#x}");
        }
    }

    #[test]
    fn fd_mutants() {
        let said = check(m_fd, 2000);
        for what in ["kind 0", "kind 5", "kind 4", "id 0", "id 1 (was 2)", "data_len 0xffffffff", "not the first record", "path_len", "capacity 0x0", "capacity 0xfff", "(read-write)", "without a write end", "without a read end", "mode 0o10"] {
            saw(&said, what);
        }
    }

    #[test]
    fn v2_mutants_reach_generate() {
        let s = [seed()];
        let a = super::super::generate(&s, 2000, 5);
        let v2 = a.iter().filter(|m| m.what.iter().any(|w| w.contains("rlimit") || w.contains("SHARED") || w.contains("NT_FILE") || w.starts_with("attrs ") || w.starts_with("fd[") || w.starts_with("pipe"))).count();
        assert!(v2 > 100, "{v2} of 2000 mutants touch v2 fields");
    }
}
