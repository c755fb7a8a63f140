//! `Builder`: a minimal valid image from scratch, for tests and the fuzzer.
//! Add segments in ascending address order; `build` lays the file out.

use crate::consts::*;
use crate::model::*;
use crate::{Itimerval, SigPending, Siginfo, Xstate, PAGE_SIZE};

/// Builds an [`Image`] plus its segment contents.
#[derive(Debug, Clone)]
pub struct Builder {
    img: Image,
    data: Vec<Vec<u8>>,
}

impl Default for Builder {
    fn default() -> Self {
        Self::new()
    }
}

fn default_regs() -> Regs {
    Regs {
        eax: 1,
        orig_eax: u32::MAX,
        ds: USER_DS,
        es: USER_DS,
        ss: USER_DS,
        cs: USER_CS,
        eflags: 0x202,
        eip: 0x0804_8000,
        esp: 0xbfff_f000,
        ..Regs::default()
    }
}

/// Linux's `INIT_RLIMITS` where they are fixed (stack 8 MiB, core 0,
/// nofile 1024/4096, memlock 8 MiB, msgqueue 800 KiB, nice and rtprio 0),
/// infinity for the rest (nproc and sigpending are sized at boot).
pub fn default_rlimits() -> [Rlimit; NRLIMITS] {
    let mut r = [Rlimit::INFINITY; NRLIMITS];
    let inf = crate::RLIM_INFINITY64;
    r[3] = Rlimit { cur: 8 << 20, max: inf };
    r[4] = Rlimit { cur: 0, max: inf };
    r[RLIMIT_NOFILE] = Rlimit { cur: 1024, max: 4096 };
    r[8] = Rlimit { cur: 8 << 20, max: 8 << 20 };
    r[12] = Rlimit { cur: 819_200, max: 819_200 };
    r[13] = Rlimit { cur: 0, max: 0 };
    r[14] = Rlimit { cur: 0, max: 0 };
    r
}

impl Builder {
    /// No segments, default registers, all signals SIG_DFL, cwd "/",
    /// the default [`Attrs`] (comm "kckpt", dumpable 1, no sigaltstack).
    pub fn new() -> Self {
        let mut psinfo = vec![0u8; PRPSINFO_SIZE];
        psinfo[28..32].copy_from_slice(b"test");
        let mut fx = vec![0u8; FXSAVE_SIZE];
        fx[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
        fx[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
        let img = Image {
            prstatus: Prstatus { pid: 1, regs: default_regs(), raw: vec![0; PRSTATUS_SIZE] },
            prpsinfo: Prpsinfo::from_raw(&psinfo),
            auxv: vec![(6, PAGE_SIZE), (0, 0)],
            files: Vec::new(),
            files_raw: Vec::new(),
            fpregs: vec![0; FPREGS_SIZE],
            fxsave: Fxsave(fx),
            tls: [UserDesc::empty(6), UserDesc::empty(7), UserDesc::empty(8)],
            state: KckptState {
                // the lowest addresses the loader accepts (mmap_min_addr)
                mm: MmFields::from_array([crate::PAGE_SIZE; 11]),
                vdso_base: 0,
                umask: 0o022,
                sigblocked: 0,
                sigactions: vec![Sigaction::default(); NSIG],
                rlimits: default_rlimits(),
                attrs: Attrs::default(),
                vmas: Vec::new(),
                fds: Vec::new(),
                cwd: b"/".to_vec(),
            },
            segments: Vec::new(),
            xstate: None,
            sigpending: None,
            itimers: None,
            parent: None,
            extra_notes: Vec::new(),
            notes: Vec::new(),
        };
        Builder { img, data: Vec::new() }
    }

    /// A segment at `vaddr` (page-aligned) of `pages` pages; `data` fills its start.
    pub fn segment(mut self, vaddr: u32, pages: u32, pf: u32, vma_flags: u32, data: Vec<u8>) -> Self {
        let memsz = pages.saturating_mul(PAGE_SIZE);
        self.img.segments.push(Segment { vaddr, memsz, offset: 0, flags: pf });
        let end = vaddr.wrapping_add(memsz);
        self.img.state.vmas.push(Vma { start: vaddr, end, flags: vma_flags, pgoff: 0 });
        self.data.push(data);
        self
    }

    /// A shared file mapping (`VMA_SHARED_FILE`) at `vaddr` of `pages` pages,
    /// `pgoff` pages into `path`: a hole segment (its data is the file's)
    /// and its NT_FILE entry. Add NT_FILE entries in VMA order.
    pub fn shared_file(self, vaddr: u32, pages: u32, pf: u32, pgoff: u32, path: &str) -> Self {
        let mut b = self.segment(vaddr, pages, pf, VMA_SHARED_FILE, Vec::new());
        let end = vaddr.wrapping_add(pages.saturating_mul(PAGE_SIZE));
        if let Some(v) = b.img.state.vmas.last_mut() {
            v.pgoff = pgoff;
        }
        b.file_mapping(vaddr, end, pgoff, path)
    }

    /// An NT_FILE entry (and marks nothing else; pair with `VMA_FILE`).
    pub fn file_mapping(mut self, start: u32, end: u32, pgoff: u32, path: &str) -> Self {
        self.img.files.push(FileEntry { start, end, pgoff, path: path.as_bytes().to_vec() });
        self
    }

    pub fn regs(mut self, regs: Regs) -> Self {
        self.img.prstatus.regs = regs;
        self
    }

    pub fn pid(mut self, pid: u32) -> Self {
        self.img.prstatus.pid = pid;
        self
    }

    pub fn mm(mut self, mm: MmFields) -> Self {
        self.img.state.mm = mm;
        self
    }

    pub fn vdso_base(mut self, v: u32) -> Self {
        self.img.state.vdso_base = v;
        self
    }

    /// Signal `sig` (1..=64) gets action `a`.
    pub fn sigaction(mut self, sig: usize, a: Sigaction) -> Self {
        if let Some(slot) = sig.checked_sub(1).and_then(|k| self.img.state.sigactions.get_mut(k)) {
            *slot = a;
        }
        self
    }

    pub fn sigblocked(mut self, mask: u64) -> Self {
        self.img.state.sigblocked = mask;
        self
    }

    /// A regular file (mode 0644) open at `fd`, reopened by path.
    pub fn fd(self, fd: u32, flags: u32, pos: u64, path: &str) -> Self {
        let path = path.as_bytes().to_vec();
        self.fd_record(Fd { fd, flags, pos, mode: S_IFREG | 0o644, kind: FD_PATH, id: 0, path, data: Vec::new() })
    }

    /// One end of pipe `id` at `fd` (`write`: the write end), of capacity
    /// `capacity`, holding `data` unread (give it on the lowest fd only).
    pub fn pipe_end(self, fd: u32, id: u32, write: bool, capacity: u64, data: &[u8]) -> Self {
        let flags = if write { O_WRONLY } else { O_RDONLY };
        let (kind, mode, path, data) = (FD_PIPE, S_IFIFO | 0o600, Vec::new(), data.to_vec());
        self.fd_record(Fd { fd, flags, pos: capacity, mode, kind, id, path, data })
    }

    /// An unlinked regular file `id` at `fd`; `data` is its contents on the
    /// first record of the id (empty on later ones).
    pub fn unlinked(self, fd: u32, flags: u32, pos: u64, id: u32, path: &str, data: &[u8]) -> Self {
        let (path, data) = (path.as_bytes().to_vec(), data.to_vec());
        self.fd_record(Fd { fd, flags, pos, mode: S_IFREG | 0o600, kind: FD_UNLINKED, id, path, data })
    }

    /// Eventfd `id` at `fd` with counter `count`, `EFD_SEMAPHORE` if
    /// `semaphore`; `flags` beyond `O_RDWR` (`O_NONBLOCK`, `O_CLOEXEC`).
    pub fn eventfd(self, fd: u32, id: u32, count: u64, semaphore: bool, flags: u32) -> Self {
        let mode = if semaphore { EFD_SEMAPHORE } else { 0 };
        let flags = O_RDWR | flags;
        self.fd_record(Fd { fd, flags, pos: count, mode, kind: FD_EVENTFD, id, path: Vec::new(), data: Vec::new() })
    }

    /// The XSAVE area (`NT_X86_XSTATE`); see [`Xstate::new`].
    pub fn xstate(mut self, x: Xstate) -> Self {
        self.img.xstate = Some(x);
        self
    }

    /// Pending signals (`NT_KCKPT_SIGPENDING`).
    pub fn sigpending(mut self, thread: Vec<Siginfo>, process: Vec<Siginfo>) -> Self {
        self.img.sigpending = Some(SigPending { thread, process });
        self
    }

    /// The three interval timers (`NT_KCKPT_ITIMERS`): real, virtual, prof.
    pub fn itimers(mut self, t: [Itimerval; 3]) -> Self {
        self.img.itimers = Some(t);
        self
    }

    /// Any descriptor record, appended as is (keep fds ascending).
    pub fn fd_record(mut self, f: Fd) -> Self {
        self.img.state.fds.push(f);
        self
    }

    /// Resource `r` (`RLIMIT_*` number, 0..16) gets `cur`/`max`.
    pub fn rlimit(mut self, r: usize, cur: u64, max: u64) -> Self {
        if let Some(slot) = self.img.state.rlimits.get_mut(r) {
            *slot = Rlimit { cur, max };
        }
        self
    }

    /// All of `kckpt_attrs` at once.
    pub fn attrs(mut self, a: Attrs) -> Self {
        self.img.state.attrs = a;
        self
    }

    /// The task name (at most 15 bytes are kept).
    pub fn comm(mut self, name: &[u8]) -> Self {
        self.img.state.attrs.comm = Attrs::comm_from(name);
        self
    }

    pub fn personality(mut self, p: u32) -> Self {
        self.img.state.attrs.personality = p;
        self
    }

    pub fn no_new_privs(mut self, on: bool) -> Self {
        self.img.state.attrs.no_new_privs = on;
        self
    }

    pub fn dumpable(mut self, d: u32) -> Self {
        self.img.state.attrs.dumpable = d;
        self
    }

    /// The alternate signal stack (`SS_DISABLE` with 0, 0 for none).
    pub fn sigaltstack(mut self, sp: u32, size: u32, flags: u32) -> Self {
        let a = &mut self.img.state.attrs;
        (a.ss_sp, a.ss_size, a.ss_flags) = (sp, size, flags);
        self
    }

    pub fn cwd(mut self, cwd: &str) -> Self {
        self.img.state.cwd = cwd.as_bytes().to_vec();
        self
    }

    pub fn tls(mut self, i: usize, d: UserDesc) -> Self {
        if let Some(slot) = self.img.tls.get_mut(i) {
            *slot = d;
        }
        self
    }

    /// The image (laid out) and the per-segment data.
    pub fn build(self) -> (Image, Vec<Vec<u8>>) {
        let mut img = self.img;
        img.relayout();
        (img, self.data)
    }

    /// The written image file.
    pub fn bytes(self) -> Vec<u8> {
        let (img, data) = self.build();
        let refs: Vec<&[u8]> = data.iter().map(|d| d.as_slice()).collect();
        img.to_bytes(&refs).unwrap_or_default()
    }
}
