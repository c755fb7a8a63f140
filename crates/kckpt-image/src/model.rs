//! The decoded image: registers, notes, kckpt state and segment table.
//! Segment contents are not held here; they stay in the file or byte slice.

use serde::{Serialize, Serializer};

use crate::bytes::u32_at;

/// Paths are raw bytes (Linux paths need not be UTF-8); JSON shows them lossily.
fn lossy<S: Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&String::from_utf8_lossy(p))
}

fn hex_len<S: Serializer>(p: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u64(p.len() as u64)
}

/// `pr_reg` of i386 `elf_prstatus`, in its order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Regs {
    pub ebx: u32,
    pub ecx: u32,
    pub edx: u32,
    pub esi: u32,
    pub edi: u32,
    pub ebp: u32,
    pub eax: u32,
    pub ds: u32,
    pub es: u32,
    pub fs: u32,
    pub gs: u32,
    pub orig_eax: u32,
    pub eip: u32,
    pub cs: u32,
    pub eflags: u32,
    pub esp: u32,
    pub ss: u32,
}

/// Register names in `pr_reg` order.
pub const REG_NAMES: [&str; 17] = [
    "ebx", "ecx", "edx", "esi", "edi", "ebp", "eax", "ds", "es", "fs", "gs", "orig_eax", "eip",
    "cs", "eflags", "esp", "ss",
];

/// `__USER_CS` / `__USER_DS` on i386.
pub const USER_CS: u32 = 0x73;
pub const USER_DS: u32 = 0x7b;
/// `FLAG_MASK_32`: the eflags bits ptrace lets user space set.
pub const EFLAGS_USER_MASK: u32 = 0x0005_0dd5;

impl Regs {
    pub fn to_array(&self) -> [u32; 17] {
        [
            self.ebx, self.ecx, self.edx, self.esi, self.edi, self.ebp, self.eax, self.ds,
            self.es, self.fs, self.gs, self.orig_eax, self.eip, self.cs, self.eflags, self.esp,
            self.ss,
        ]
    }

    pub fn from_array(a: [u32; 17]) -> Self {
        let [ebx, ecx, edx, esi, edi, ebp, eax, ds, es, fs, gs, orig_eax, eip, cs, eflags, esp, ss] =
            a;
        Regs { ebx, ecx, edx, esi, edi, ebp, eax, ds, es, fs, gs, orig_eax, eip, cs, eflags, esp, ss }
    }

    /// The registers as `putreg()` would install them over a fresh exec's
    /// (eflags 0x202): selectors truncated to 16 bits, eflags masked to
    /// `FLAG_MASK_32`. Selector validity is checked by `Image::parse`.
    pub fn as_installed(&self) -> Regs {
        let sel = |v: u32| v & 0xffff;
        Regs {
            cs: sel(self.cs),
            ss: sel(self.ss),
            ds: sel(self.ds),
            es: sel(self.es),
            fs: sel(self.fs),
            gs: sel(self.gs),
            eflags: (0x202 & !EFLAGS_USER_MASK) | (self.eflags & EFLAGS_USER_MASK),
            ..*self
        }
    }
}

/// NT_PRSTATUS: pid and registers decoded, the rest kept raw (144 bytes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prstatus {
    pub pid: u32,
    pub regs: Regs,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

/// NT_PRPSINFO (124 bytes), with the name and arguments decoded for display.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Prpsinfo {
    pub fname: String,
    pub psargs: String,
    #[serde(skip)]
    pub raw: Vec<u8>,
}

impl Prpsinfo {
    pub fn from_raw(raw: &[u8]) -> Self {
        let cstr = |off: usize, n: usize| {
            let s = raw.get(off..off.saturating_add(n).min(raw.len())).unwrap_or(&[]);
            let end = s.iter().position(|&c| c == 0).unwrap_or(s.len());
            String::from_utf8_lossy(s.get(..end).unwrap_or(&[])).into_owned()
        };
        Prpsinfo { fname: cstr(28, 16), psargs: cstr(44, 80), raw: raw.to_vec() }
    }
}

/// One `struct user_desc` of NT_386_TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct UserDesc {
    pub entry_number: u32,
    pub base_addr: u32,
    pub limit: u32,
    /// seg_32bit:1 contents:2 read_exec_only:1 limit_in_pages:1 seg_not_present:1 useable:1
    pub flags: u32,
}

impl UserDesc {
    /// The "no segment" descriptor the kernel dumps for an unused slot (`LDT_empty`).
    pub fn empty(entry_number: u32) -> Self {
        UserDesc { entry_number, base_addr: 0, limit: 0, flags: (1 << 3) | (1 << 5) }
    }
    fn bit(&self, shift: u32, width: u32) -> u32 {
        (self.flags >> shift) & ((1 << width) - 1)
    }
    /// The kernel's `tls_desc_okay` (arch/x86/kernel/tls.c), on the 7 i386 bitfields.
    pub fn kernel_ok(&self) -> bool {
        let (seg32, contents, reo, lip, np, usable) =
            (self.bit(0, 1), self.bit(1, 2), self.bit(3, 1), self.bit(4, 1), self.bit(5, 1), self.bit(6, 1));
        let zero_base = self.base_addr == 0 && self.limit == 0 && contents == 0;
        let common = zero_base && seg32 == 0 && lip == 0 && usable == 0;
        let ldt_empty = common && reo == 1 && np == 1;
        let ldt_zero = common && reo == 0 && np == 0;
        ldt_empty || ldt_zero || (seg32 == 1 && contents <= 1 && np == 0)
    }
}

/// NT_PRXFPREG: the 512-byte fxsave area.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fxsave(pub Vec<u8>);

impl Fxsave {
    pub fn mxcsr(&self) -> u32 {
        u32_at(&self.0, 24).unwrap_or(0)
    }
    pub fn mxcsr_mask(&self) -> u32 {
        u32_at(&self.0, 28).unwrap_or(0)
    }
    /// XMM register `n` (0..8) as 16 bytes, if present.
    pub fn xmm(&self, n: usize) -> Option<[u8; 16]> {
        let off = 160usize.checked_add(n.checked_mul(16)?)?;
        crate::bytes::slice(&self.0, off, 16)?.try_into().ok()
    }
}

impl Serialize for Fxsave {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let xmm: Vec<String> = (0..8)
            .filter_map(|n| self.xmm(n))
            .map(|x| x.iter().rev().map(|b| format!("{b:02x}")).collect())
            .collect();
        let mut st = s.serialize_struct("Fxsave", 3)?;
        st.serialize_field("mxcsr", &self.mxcsr())?;
        st.serialize_field("mxcsr_mask", &self.mxcsr_mask())?;
        st.serialize_field("xmm", &xmm)?;
        st.end()
    }
}

/// One NT_FILE mapping.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileEntry {
    pub start: u32,
    pub end: u32,
    pub pgoff: u32,
    #[serde(serialize_with = "lossy")]
    pub path: Vec<u8>,
}

/// The mm fields of `kckpt_state`, in file order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct MmFields {
    pub start_code: u32,
    pub end_code: u32,
    pub start_data: u32,
    pub end_data: u32,
    pub start_brk: u32,
    pub brk: u32,
    pub start_stack: u32,
    pub arg_start: u32,
    pub arg_end: u32,
    pub env_start: u32,
    pub env_end: u32,
}

pub const MM_NAMES: [&str; 11] = [
    "start_code", "end_code", "start_data", "end_data", "start_brk", "brk", "start_stack",
    "arg_start", "arg_end", "env_start", "env_end",
];

impl MmFields {
    pub fn to_array(&self) -> [u32; 11] {
        [
            self.start_code, self.end_code, self.start_data, self.end_data, self.start_brk,
            self.brk, self.start_stack, self.arg_start, self.arg_end, self.env_start, self.env_end,
        ]
    }
    pub fn from_array(a: [u32; 11]) -> Self {
        let [start_code, end_code, start_data, end_data, start_brk, brk, start_stack, arg_start, arg_end, env_start, env_end] =
            a;
        MmFields {
            start_code, end_code, start_data, end_data, start_brk, brk, start_stack, arg_start,
            arg_end, env_start, env_end,
        }
    }
}

/// `kckpt_sigaction` (pad is always 0, so not kept).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Sigaction {
    pub handler: u32,
    pub flags: u32,
    pub restorer: u32,
    pub mask: u64,
}

/// `kckpt_vma`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Vma {
    pub start: u32,
    pub end: u32,
    pub flags: u32,
    pub pgoff: u32,
}

/// `kckpt_rlimit`: `RLIM_INFINITY` is `u64::MAX` ([`crate::RLIM_INFINITY64`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Rlimit {
    pub cur: u64,
    pub max: u64,
}

impl Rlimit {
    pub const INFINITY: Rlimit = Rlimit { cur: u64::MAX, max: u64::MAX };
}

/// Resource names in `kckpt_rlimit[]` order (index = `RLIMIT_*` number).
pub const RLIMIT_NAMES: [&str; 16] = [
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
];

/// `kckpt_attrs`: per-task attributes restart sets after the point of no return.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Attrs {
    /// The task name, NUL-terminated and zero padded; JSON shows it up to the NUL.
    #[serde(serialize_with = "comm_str")]
    pub comm: [u8; 16],
    /// `personality(2)`: `PER_LINUX` plus flags in `consts::PERSONALITY_FLAGS_OK`.
    pub personality: u32,
    /// `kckpt_attrs.flags` bit `KCKPT_ATTR_NO_NEW_PRIVS` (the only bit it may have).
    pub no_new_privs: bool,
    /// `prctl(PR_GET_DUMPABLE)`: 0, 1 or 2.
    pub dumpable: u32,
    /// `sigaltstack`: base, size and flags (0, `SS_DISABLE` or `SS_AUTODISARM`).
    pub ss_sp: u32,
    pub ss_size: u32,
    pub ss_flags: u32,
}

fn comm_str<S: Serializer>(c: &[u8; 16], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&Attrs::name_of(c))
}

impl Attrs {
    /// `comm` from a name: at most 15 bytes, zero padded.
    pub fn comm_from(name: &[u8]) -> [u8; 16] {
        let mut c = [0u8; 16];
        let n = name.len().min(15);
        c[..n].copy_from_slice(&name[..n]);
        c
    }

    /// The bytes of `c` before its first NUL, lossily as text.
    pub fn name_of(c: &[u8; 16]) -> String {
        let end = c.iter().position(|&b| b == 0).unwrap_or(c.len());
        String::from_utf8_lossy(&c[..end]).into_owned()
    }

    /// The task name, lossily as text.
    pub fn name(&self) -> String {
        Self::name_of(&self.comm)
    }

    /// `kckpt_attrs.flags` as written.
    pub fn flags(&self) -> u32 {
        if self.no_new_privs {
            crate::consts::KCKPT_ATTR_NO_NEW_PRIVS
        } else {
            0
        }
    }
}

impl Default for Attrs {
    /// What [`crate::Builder`] starts with: comm "kckpt", `PER_LINUX`,
    /// no `no_new_privs`, dumpable 1, no alternate signal stack.
    fn default() -> Self {
        Attrs {
            comm: Attrs::comm_from(b"kckpt"),
            personality: 0,
            no_new_privs: false,
            dumpable: 1,
            ss_sp: 0,
            ss_size: 0,
            ss_flags: crate::consts::SS_DISABLE,
        }
    }
}

/// `kckpt_fd`: a descriptor of kind PATH, PIPE, UNLINKED or EVENTFD (`consts::FD_*`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fd {
    pub fd: u32,
    pub flags: u32,
    /// File position (PATH, UNLINKED); pipe capacity in bytes (PIPE);
    /// the counter (EVENTFD).
    pub pos: u64,
    /// `S_IFMT` and permission bits of the inode; for EVENTFD its
    /// `EFD_SEMAPHORE` flag (1) or 0.
    pub mode: u32,
    /// `consts::FD_PATH`, `FD_PIPE`, `FD_UNLINKED` or `FD_EVENTFD`.
    pub kind: u32,
    /// 0 for PATH; the pipe, unlinked file or eventfd this record shares with others.
    pub id: u32,
    /// Without the trailing NUL (empty for a pipe).
    #[serde(serialize_with = "lossy")]
    pub path: Vec<u8>,
    /// Pipe contents or unlinked file contents (first record of an id only).
    #[serde(serialize_with = "hex_len", rename = "data_len")]
    pub data: Vec<u8>,
}

/// The NT_KCKPT_STATE descriptor (version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KckptState {
    pub mm: MmFields,
    pub vdso_base: u32,
    pub umask: u32,
    pub sigblocked: u64,
    /// Index n-1 is signal n; always 64 entries.
    pub sigactions: Vec<Sigaction>,
    /// Index r is resource r (`RLIMIT_CPU` = 0 .. `RLIMIT_RTTIME` = 15).
    pub rlimits: [Rlimit; 16],
    /// Task name, personality, no_new_privs, dumpable, sigaltstack.
    pub attrs: Attrs,
    pub vmas: Vec<Vma>,
    pub fds: Vec<Fd>,
    /// Without the trailing NUL.
    #[serde(serialize_with = "lossy")]
    pub cwd: Vec<u8>,
}

/// One `PT_LOAD`: a VMA's pages, at `offset` in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Segment {
    pub vaddr: u32,
    pub memsz: u32,
    pub offset: u32,
    /// `PF_R|PF_W|PF_X` bits.
    pub flags: u32,
}

impl Segment {
    /// File byte range of the segment's data.
    pub fn file_range(&self) -> std::ops::Range<usize> {
        let start = self.offset as usize;
        start..start.saturating_add(self.memsz as usize)
    }
}

/// A note this crate does not interpret; kept and rewritten after the required ones.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RawNote {
    #[serde(serialize_with = "lossy")]
    pub name: Vec<u8>,
    pub ntype: u32,
    #[serde(serialize_with = "hex_len", rename = "descsz")]
    pub desc: Vec<u8>,
}

/// Where a note sits in the file (filled by parse and by [`Image::relayout`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteLoc {
    pub name: String,
    pub ntype: u32,
    /// File offset of the `Elf32_Nhdr`.
    pub offset: usize,
    /// File offset of the descriptor.
    pub desc_offset: usize,
    pub descsz: usize,
}

/// A whole kckpt image, minus segment contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Image {
    pub prstatus: Prstatus,
    pub prpsinfo: Prpsinfo,
    pub auxv: Vec<(u32, u32)>,
    /// NT_FILE entries (informational; page size 4096 implied).
    pub files: Vec<FileEntry>,
    /// Exact NT_FILE bytes when they do not re-encode from `files` (else empty).
    #[serde(skip)]
    pub files_raw: Vec<u8>,
    /// NT_PRFPREG, `user_i387_struct`, 108 raw bytes.
    #[serde(serialize_with = "hex_len", rename = "fpregs_len")]
    pub fpregs: Vec<u8>,
    pub fxsave: Fxsave,
    pub tls: [UserDesc; 3],
    pub state: KckptState,
    pub segments: Vec<Segment>,
    /// `NT_X86_XSTATE`, if the image has it (`extras` bit `KCKPT_EXTRA_XSTATE`).
    pub xstate: Option<crate::Xstate>,
    /// `NT_KCKPT_SIGPENDING` (`KCKPT_EXTRA_SIGPENDING`).
    pub sigpending: Option<crate::SigPending>,
    /// `NT_KCKPT_ITIMERS`: real, virtual, prof (`KCKPT_EXTRA_ITIMERS`).
    pub itimers: Option<[crate::Itimerval; 3]>,
    /// `NT_KCKPT_PARENT` (`KCKPT_EXTRA_PARENT`): an incremental image.
    pub parent: Option<crate::Parent>,
    pub extra_notes: Vec<RawNote>,
    /// Layout: note locations in the order written.
    pub notes: Vec<NoteLoc>,
}

impl Image {
    /// Program header count (`1 + segments`).
    pub fn phnum(&self) -> usize {
        1 + self.segments.len()
    }

    /// The bytes of segment `i` within the image file `file`, if in range.
    pub fn segment_data<'a>(&self, file: &'a [u8], i: usize) -> Option<&'a [u8]> {
        file.get(self.segments.get(i)?.file_range())
    }

    /// (non-zero pages, zero-or-hole pages) of each segment in `file`.
    pub fn page_counts(&self, file: &[u8]) -> Vec<(usize, usize)> {
        (0..self.segments.len())
            .map(|i| {
                let data = self.segment_data(file, i).unwrap_or(&[]);
                let present = data.chunks(PAGE_SIZE_USIZE).filter(|p| p.iter().any(|&b| b != 0)).count();
                let total = data.len() / PAGE_SIZE_USIZE;
                (present, total.saturating_sub(present))
            })
            .collect()
    }

    /// JSON for `inspect --json`; `file` adds per-segment page counts.
    pub fn to_json(&self, file: Option<&[u8]>) -> serde_json::Value {
        let mut v = serde_json::to_value(self).unwrap_or(serde_json::Value::Null);
        if let (Some(f), Some(obj)) = (file, v.as_object_mut()) {
            let pages: Vec<_> = self
                .page_counts(f)
                .into_iter()
                .map(|(p, h)| serde_json::json!({"present": p, "zero_or_hole": h}))
                .collect();
            obj.insert("pages".into(), pages.into());
        }
        v
    }
}

pub(crate) const PAGE_SIZE_USIZE: usize = crate::PAGE_SIZE as usize;
