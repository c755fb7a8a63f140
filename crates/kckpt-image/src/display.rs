//! A `readelf`-like human summary of an image.
//! `Image::summary(Some(file))` also counts present vs zero/hole pages.

use std::fmt;

mod extras;
pub use extras::signal_name;

use crate::consts::*;
use crate::model::*;

/// Display adapter; `file` (the whole image) enables page counts.
pub struct Summary<'a> {
    img: &'a Image,
    file: Option<&'a [u8]>,
}

impl Image {
    pub fn summary<'a>(&'a self, file: Option<&'a [u8]>) -> Summary<'a> {
        Summary { img: self, file }
    }
}

impl fmt::Display for Image {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.summary(None).fmt(f)
    }
}

fn pf(flags: u32) -> String {
    let b = |bit, c| if flags & bit != 0 { c } else { '-' };
    [b(PF_R, 'R'), b(PF_W, 'W'), b(PF_X, 'X')].iter().collect()
}

/// `kckpt_fd.kind` as a word ("path", "pipe", "unlinked", or the number).
pub fn fd_kind_name(kind: u32) -> String {
    match kind {
        FD_PATH => "path".into(),
        FD_PIPE => "pipe".into(),
        FD_UNLINKED => "unlinked".into(),
        FD_EVENTFD => "eventfd".into(),
        k => format!("kind {k}"),
    }
}

/// An rlimit value, "inf" for `RLIM_INFINITY`.
fn rlim(v: u64) -> String {
    if v == crate::RLIM_INFINITY64 {
        "inf".into()
    } else {
        v.to_string()
    }
}

/// The VMA flags as words; a shared file mapping is "shared file map".
fn vma_flags(flags: u32) -> String {
    if flags == VMA_SHARED_FILE {
        return "shared file map".into();
    }
    let names = [(VMA_GROWSDOWN, "stack"), (VMA_FILE, "file"), (VMA_HEAP, "heap"), (VMA_SHARED, "shared")];
    let v: Vec<&str> = names.iter().filter(|(b, _)| flags & b != 0).map(|(_, n)| *n).collect();
    v.join(",")
}

impl fmt::Display for Summary<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.header(f)?;
        self.registers(f)?;
        self.segments(f)?;
        self.mm(f)?;
        self.signals(f)?;
        self.rlimits(f)?;
        self.attrs(f)?;
        extras::extras(self.img, f)?;
        self.fds(f)
    }
}

impl Summary<'_> {
    fn header(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let i = self.img;
        writeln!(f, "kckpt image v{}: ELF32 LSB CORE, Intel 80386, {} program headers", crate::KCKPT_VERSION, i.phnum())?;
        writeln!(f, "  pid {}  comm {:?}  args {:?}", i.prstatus.pid, i.prpsinfo.fname, i.prpsinfo.psargs)?;
        writeln!(f, "Notes:")?;
        for n in &i.notes {
            writeln!(f, "  {:<6} {:#010x}  at {:#08x}  descsz {}", n.name, n.ntype, n.offset, n.descsz)?;
        }
        Ok(())
    }

    fn registers(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Registers:")?;
        let a = self.img.prstatus.regs.to_array();
        for (row_names, row_vals) in REG_NAMES.chunks(6).zip(a.chunks(6)) {
            write!(f, " ")?;
            for (n, v) in row_names.iter().zip(row_vals) {
                write!(f, " {n:>8}={v:08x}")?;
            }
            writeln!(f)?;
        }
        let fx = &self.img.fxsave;
        writeln!(f, "  mxcsr={:08x}", fx.mxcsr())?;
        for (k, t) in self.img.tls.iter().enumerate() {
            writeln!(
                f,
                "  tls[{k}] entry {} base {:#x} limit {:#x} flags {:#x}",
                t.entry_number, t.base_addr, t.limit, t.flags
            )?;
        }
        Ok(())
    }

    fn segments(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Segments:")?;
        writeln!(f, "  {:<23} {:<3} {:>10} {:>10}  {:<16} pages", "vaddr", "flg", "offset", "size", "vma")?;
        let counts = self.file.map(|b| self.img.page_counts(b));
        for (i, s) in self.img.segments.iter().enumerate() {
            let end = s.vaddr as u64 + s.memsz as u64;
            let vma = self.img.state.vmas.get(i).map_or(String::new(), |v| vma_flags(v.flags));
            let pages = match counts.as_ref().and_then(|c| c.get(i)) {
                Some((p, h)) => format!("{p} present, {h} zero/hole"),
                None => format!("{}", s.memsz / crate::PAGE_SIZE),
            };
            writeln!(
                f,
                "  {:08x}-{:08x}       {} {:#10x} {:#10x}  {:<16} {pages}",
                s.vaddr, end, pf(s.flags), s.offset, s.memsz, vma
            )?;
        }
        Ok(())
    }

    fn mm(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = &self.img.state;
        writeln!(f, "mm:")?;
        for (n, v) in MM_NAMES.iter().zip(st.mm.to_array()) {
            writeln!(f, "  {n:<12} {v:#010x}")?;
        }
        writeln!(f, "  vdso_base    {:#010x}", st.vdso_base)?;
        writeln!(f, "  umask        {:#05o}", st.umask)?;
        let auxv: Vec<String> = self.img.auxv.iter().map(|(k, v)| format!("{k}={v:#x}")).collect();
        writeln!(f, "  auxv         {}", auxv.join(" "))
    }

    fn signals(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = &self.img.state;
        writeln!(f, "Signals: blocked {:#018x}", st.sigblocked)?;
        for (k, a) in st.sigactions.iter().enumerate().filter(|(_, a)| a.handler != 0) {
            let h = match a.handler {
                1 => "SIG_IGN".to_string(),
                h => format!("{h:#010x}"),
            };
            writeln!(
                f,
                "  {:>2}: handler {h} flags {:#x} restorer {:#x} mask {:#x}",
                k + 1,
                a.flags,
                a.restorer,
                a.mask
            )?;
        }
        Ok(())
    }

    /// The limits that are not infinity/infinity, by name.
    fn rlimits(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Rlimits (others unlimited):")?;
        let inf = Rlimit::INFINITY;
        for (name, l) in RLIMIT_NAMES.iter().zip(&self.img.state.rlimits).filter(|(_, l)| **l != inf) {
            writeln!(f, "  {name:<18} cur {:<10} max {}", rlim(l.cur), rlim(l.max))?;
        }
        Ok(())
    }

    fn attrs(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let a = &self.img.state.attrs;
        writeln!(f, "Attributes:")?;
        writeln!(f, "  comm         {:?}", a.name())?;
        writeln!(f, "  personality  {:#010x}", a.personality)?;
        writeln!(f, "  no_new_privs {}", if a.no_new_privs { "yes" } else { "no" })?;
        writeln!(f, "  dumpable     {}", a.dumpable)?;
        if a.ss_flags == SS_DISABLE {
            writeln!(f, "  sigaltstack  disabled")
        } else {
            let auto = if a.ss_flags & SS_AUTODISARM != 0 { " autodisarm" } else { "" };
            writeln!(f, "  sigaltstack  {:#010x} size {:#x}{auto}", a.ss_sp, a.ss_size)
        }
    }

    fn fds(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let st = &self.img.state;
        writeln!(f, "Files:")?;
        for d in &st.fds {
            if d.kind == FD_EVENTFD {
                extras::eventfd_line(f, d)?;
                continue;
            }
            let path = String::from_utf8_lossy(&d.path);
            let (kind, what) = (fd_kind_name(d.kind), if d.kind == FD_PIPE { "capacity" } else { "pos" });
            write!(f, "  fd {:>3} {kind:<8} flags {:#o} mode {:#o} {what} {}", d.fd, d.flags, d.mode, d.pos)?;
            if d.kind != FD_PATH {
                write!(f, " id {} data {}", d.id, d.data.len())?;
            }
            if d.path.is_empty() {
                writeln!(f)?;
            } else {
                writeln!(f, " {path}")?;
            }
        }
        for e in &self.img.files {
            let path = String::from_utf8_lossy(&e.path);
            let shared = st.vmas.iter().any(|v| v.flags == VMA_SHARED_FILE && (v.start, v.end) == (e.start, e.end));
            let what = if shared { "shared file map, mapped again" } else { "map" };
            writeln!(f, "  {what} {:08x}-{:08x} pgoff {:#x} {path}", e.start, e.end, e.pgoff)?;
        }
        writeln!(f, "cwd: {}", String::from_utf8_lossy(&st.cwd))
    }
}
