//! Every way an image can break the format, one variant per loader rule.
//! `Display` names the rule so `inspect` and the fuzzer can report it.

use std::fmt;

/// A rule of `docs/image-format.md` that an image breaks (or an I/O failure).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Shorter than the 52-byte ELF header.
    FileTooSmall { len: u64 },
    /// `e_ident` does not start with `\x7fELF`.
    BadMagic,
    /// `e_ident[EI_CLASS/EI_DATA/EI_VERSION]` is not 32-bit/little-endian/1.
    BadIdent { field: &'static str, value: u8 },
    /// An ELF header field differs from the value the format fixes.
    BadHeaderField { field: &'static str, value: u32, expected: u32 },
    /// `e_phnum` is 0 or above `1 + MAX_VMAS`.
    BadPhnum { phnum: u32 },
    /// The program header table extends past the end of the file.
    PhdrsOutsideFile,
    /// Program header 0 is not `PT_NOTE`.
    FirstNotNote { p_type: u32 },
    /// Program header `i` (i >= 1) is not `PT_LOAD` (so not exactly one `PT_NOTE`).
    NotLoad { i: usize, p_type: u32 },
    /// `PT_NOTE` field differs from the layout (offset right after the phdrs, align 4).
    NoteSegment { field: &'static str, value: u32, expected: u32 },
    /// `PT_NOTE` size is 0 or not a multiple of 4.
    NoteSegmentSize { filesz: u32 },
    /// `PT_NOTE` extends past the end of the file.
    NoteSegmentOutsideFile,
    /// A note header, name or descriptor (padded to 4) runs past the `PT_NOTE` segment.
    NoteTruncated { offset: usize },
    /// A required note appears more than once.
    DuplicateNote { note: &'static str },
    /// A required note is absent.
    MissingNote { note: &'static str },
    /// A fixed-size note has the wrong `descsz`.
    NoteSize { note: &'static str, descsz: u32, expected: u32 },
    /// `NT_AUXV` is not u32 pairs ending at (and only at) `AT_NULL`, or too long.
    BadAuxv { why: &'static str },
    /// `PT_LOAD[i]` `p_vaddr`, `p_offset` or `p_memsz` is not page-aligned.
    SegmentUnaligned { i: usize, field: &'static str },
    /// `PT_LOAD[i]` has `p_filesz != p_memsz`.
    SegmentFileszMismatch { i: usize },
    /// `PT_LOAD[i]` has `p_memsz == 0` (a VMA is never empty).
    SegmentEmpty { i: usize },
    /// `PT_LOAD[i]` has `p_align != 4096` or `p_paddr != 0`.
    SegmentField { i: usize, field: &'static str, value: u32 },
    /// `PT_LOAD[i]` has a flag other than `PF_R|PF_W|PF_X`.
    UnknownSegmentFlags { i: usize, flags: u32 },
    /// `p_vaddr + p_memsz` of `PT_LOAD[i]` overflows or exceeds `TASK_SIZE`.
    SegmentAboveTaskSize { i: usize },
    /// `PT_LOAD[i]` starts below `vm.mmap_min_addr`.
    SegmentBelowMinAddr { i: usize },
    /// `PT_LOAD[i]` starts below the end of `PT_LOAD[i-1]` (not ascending / overlapping).
    SegmentOverlap { i: usize },
    /// `PT_LOAD[i]` overlaps the vDSO (text or vvar) pages at `vdso_base`.
    SegmentOverlapsVdso { i: usize },
    /// `p_offset + p_filesz` of `PT_LOAD[i]` exceeds the file size.
    SegmentOutsideFile { i: usize },
    /// `PT_LOAD[i]` file data is not after the notes / after `PT_LOAD[i-1]`'s data.
    SegmentFileOverlap { i: usize },
    /// The kckpt descriptor is shorter than a field it must contain.
    KckptTruncated { what: &'static str },
    /// `kckpt_state.magic` is wrong.
    KckptMagic { value: u32 },
    /// `kckpt_state.version` is not 2 (e.g. a version 1 image from an older kernel).
    KckptVersion { value: u32 },
    /// `kckpt_state.size` differs from the note's `descsz`.
    KckptSize { size: u32, descsz: u32 },
    /// `kckpt_state.flags` has a bit set.
    UnknownFlags { flags: u32 },
    /// An mm field is below `mmap_min_addr` or not below `TASK_SIZE`.
    MmField { field: &'static str, value: u32 },
    /// `brk < start_brk`.
    BrkBelowStart { start_brk: u32, brk: u32 },
    /// `vdso_base` is not page-aligned or its pages are not below `TASK_SIZE`.
    BadVdsoBase { value: u32 },
    /// `nr_vmas` differs from the number of `PT_LOAD` headers.
    VmaCount { nr_vmas: u32, loads: u32 },
    /// `cwd_len` is not in 1..=4096.
    CwdLen { len: u32 },
    /// `kckpt_sigaction[sig-1].pad` is not 0.
    SigactionPad { sig: u32 },
    /// `kckpt_sigaction[sig-1]` handler or restorer not below `TASK_SIZE`.
    SigactionAddr { sig: u32, field: &'static str, value: u32 },
    /// An mm start/end pair is reversed (`start_code <= end_code`, ...).
    MmOrder { start: &'static str, end: &'static str },
    /// `umask` has bits above 0777.
    BadUmask { umask: u32 },
    /// `kckpt_fd[i].pos` above `INT64_MAX`.
    FdPos { i: usize, pos: u64 },
    /// `kckpt_fd[i].fd` is not above the previous record's (duplicate or unordered).
    FdOrder { i: usize, fd: u32 },
    /// More than `MAX_FDS` descriptor records.
    TooManyFds { nr: u32 },
    /// A segment selector in `pr_reg` fails `putreg()`'s check
    /// (RPL != 3 and not null; or null cs/ss).
    BadSelector { reg: &'static str, value: u32 },
    /// The image file is setuid or setgid.
    SetidFile { mode: u32 },
    /// `kckpt_vma[i]` start/end differ from `PT_LOAD[i]`.
    VmaMismatch { i: usize },
    /// `kckpt_vma[i].flags` has a bit other than GROWSDOWN|FILE|HEAP|SHARED.
    VmaFlags { i: usize, flags: u32 },
    /// `kckpt_fd[i].path_len` is not in 1..=4096.
    FdPathLen { i: usize, len: u32 },
    /// `kckpt_vma[i].flags` has `SHARED` with flags other than exactly
    /// `FILE` (`SHARED` alone is shared anonymous memory, `SHARED|FILE` a
    /// shared file mapping).
    VmaSharedWithOther { i: usize, flags: u32 },
    /// `kckpt_fd[i].kind` is not PATH (1), PIPE (2), UNLINKED (3) or EVENTFD (4).
    FdKind { i: usize, kind: u32 },
    /// `kckpt_fd[i].mode`'s file type is not one its kind allows
    /// (PATH: S_IFREG/S_IFDIR/S_IFCHR; UNLINKED: S_IFREG).
    FdFileType { i: usize, kind: u32, mode: u32 },
    /// `kckpt_fd[i]` of kind PATH has an `id` other than 0.
    FdPathId { i: usize, id: u32 },
    /// `kckpt_fd[i]` of kind PATH has `data_len` other than 0.
    FdPathData { i: usize, data_len: u32 },
    /// `kckpt_fd[i]` of kind PIPE, UNLINKED or EVENTFD has `id` 0.
    FdIdZero { i: usize, kind: u32 },
    /// `kckpt_fd[i]` uses an `id` that a record of another kind uses.
    /// `kckpt_fd[i]` is not the first (lowest-fd) record of its id, yet has data.
    FdDataNotFirst { i: usize, id: u32, data_len: u32 },
    /// Inline fd data of the whole image above `MAX_FD_DATA`.
    FdDataTotal { total: u64 },
    /// Pipe `kckpt_fd[i]`: `flags & O_ACCMODE` is neither O_RDONLY nor O_WRONLY.
    PipeAccess { i: usize, flags: u32 },
    /// Pipe `kckpt_fd[i]`: `path_len` is not 1 (a pipe has an empty path).
    PipePathLen { i: usize, len: u32 },
    /// Pipe `kckpt_fd[i]`: capacity (`pos`) not a power of two in 4096..=1 MiB.
    PipeCapacity { i: usize, pos: u64 },
    /// Pipe `kckpt_fd[i]`: more unread bytes than the capacity.
    PipeDataTooLong { i: usize, data_len: u32, pos: u64 },
    /// Pipe `id` has no record of one of its ends ("read" or "write").
    PipeMissingEnd { id: u32, end: &'static str },
    /// `kckpt_fd[i].fd` is not below the image's `RLIMIT_NOFILE` soft limit.
    FdAboveNofile { i: usize, fd: u32, nofile: u64 },
    /// `kckpt_rlimit[r]` has `cur > max`.
    RlimitOrder { r: usize, cur: u64, max: u64 },
    /// `kckpt_rlimit[r]`: a finite value (not `RLIM_INFINITY`) of 2^32 or more.
    RlimitValue { r: usize, field: &'static str, value: u64 },
    /// `kckpt_attrs.comm[15]` is not 0 (the name is not NUL-terminated).
    CommNotTerminated,
    /// `kckpt_attrs.comm[at]`, after the first NUL, is not 0.
    CommAfterNul { at: usize, byte: u8 },
    /// `kckpt_attrs.personality & 0xff` is not `PER_LINUX` (0).
    PersonalityNotLinux { personality: u32 },
    /// `kckpt_attrs.personality` has flag `bits` outside the allowed set
    /// (e.g. `MMAP_PAGE_ZERO`).
    PersonalityFlags { personality: u32, bits: u32 },
    /// `kckpt_attrs.flags` has a bit other than `KCKPT_ATTR_NO_NEW_PRIVS`.
    AttrFlags { flags: u32 },
    /// `kckpt_attrs.dumpable` is not 0, 1 or 2.
    Dumpable { value: u32 },
    /// `kckpt_attrs.ss_flags` is not 0, `SS_DISABLE` or `SS_AUTODISARM`.
    SigaltstackFlags { ss_flags: u32 },
    /// `SS_DISABLE` with a non-zero `ss_sp` or `ss_size`.
    SigaltstackDisabled { ss_sp: u32, ss_size: u32 },
    /// An enabled alternate signal stack smaller than `MINSIGSTKSZ`.
    SigaltstackSize { ss_size: u32 },
    /// `ss_sp + ss_size` overflows or exceeds `TASK_SIZE`.
    SigaltstackRange { ss_sp: u32, ss_size: u32 },
    /// `kckpt_attrs.reserved` (at 1924) is not 0.
    AttrsReserved { value: u32 },
    /// `kckpt_attrs.extras` has a bit other than XSTATE, SIGPENDING, ITIMERS:
    /// a note this loader would not know how to honour.
    ExtrasUnknown { extras: u32 },
    /// `extras` has `bit` set but the image lacks its note.
    ExtraNoteMissing { note: &'static str, bit: u32 },
    /// The image has an optional note whose `extras` `bit` is clear.
    ExtraNoteUnflagged { note: &'static str, bit: u32 },
    /// `NT_X86_XSTATE` descsz below 576, above 8192 or not a multiple of 4.
    XstateSize { descsz: u32 },
    /// `NT_X86_XSTATE`: header `xcomp_bv` (at 520) is not 0 (compacted format).
    XstateCompacted { xcomp_bv: u64 },
    /// `NT_X86_XSTATE`: XSAVE header reserved byte `at` (528..576) is not 0.
    XstateHeaderReserved { at: usize, byte: u8 },
    /// `NT_X86_XSTATE`: header `xfeatures` has components the producer's
    /// XCR0 (`sw_reserved.xfeatures`) does not enable.
    XstateFeatures { xfeatures: u64, xcr0: u64 },
    /// `NT_X86_XSTATE`: MXCSR has bits the CPU refuses.
    XstateMxcsr { value: u32 },
    /// `NT_KCKPT_SIGPENDING` shorter than its 8-byte header.
    SigpendingShort { descsz: u32 },
    /// `NT_KCKPT_SIGPENDING`: `nr_thread + nr_process` above `MAX_SIGPENDING`.
    SigpendingTooMany { nr: u64 },
    /// `NT_KCKPT_SIGPENDING`: descsz is not `8 + 128 * (nr_thread + nr_process)`.
    SigpendingSize { descsz: u32, expected: u64 },
    /// `NT_KCKPT_SIGPENDING`: entry `k` of `queue` has `si_signo` outside 1..=64.
    SigpendingSigno { queue: &'static str, k: usize, signo: u32 },
    /// `NT_KCKPT_SIGPENDING`: entry `k` of `queue` is SIGKILL or SIGSTOP,
    /// which never stay pending.
    SigpendingUnqueueable { queue: &'static str, k: usize, signo: u32 },
    /// `NT_KCKPT_SIGPENDING`: entry `k` of `queue` repeats a standard
    /// signal (1..31) already in that queue.
    SigpendingDuplicate { queue: &'static str, k: usize, signo: u32 },
    /// `NT_KCKPT_PARENT` shorter than its 32-byte header.
    ParentShort { descsz: u32 },
    /// `NT_KCKPT_PARENT.depth` is 0 or above `MAX_CHAIN_DEPTH`.
    ParentDepth { depth: u32 },
    /// `NT_KCKPT_PARENT.reserved` is not 0.
    ParentReserved { value: u32 },
    /// `NT_KCKPT_PARENT.path_len` is not in 2..=4096 (the path is never empty).
    ParentPathLen { len: u32 },
    /// `NT_KCKPT_PARENT` descsz is not 32 + 8 × nr_ranges + path_len padded to 4.
    ParentSize { descsz: u32, expected: u64 },
    /// Range `k` has `npages` 0 or an unaligned `vaddr`.
    ParentRange { k: usize, vaddr: u32, npages: u32 },
    /// Range `k` starts below the end of range `k - 1` (unordered or overlapping).
    ParentRangeOrder { k: usize, vaddr: u32 },
    /// The parent's path has no NUL at `path_len - 1` or one before it.
    ParentPathNul,
    /// The padding after the parent's path is not zero.
    ParentPadding,
    /// Range `k` is not inside one segment of the image's own memory
    /// (outside every `PT_LOAD`, across two, or in a shared file mapping).
    ParentRangeOutside { k: usize, vaddr: u32, npages: u32 },
    /// A page the image takes from its parent has data in the image too
    /// (the file's page is not a hole or zero): which one is meant?
    ParentRangeHasData { vaddr: u32 },
    /// The parent image cannot be opened or read.
    ParentMissing { path: String, err: String },
    /// The parent file is not a valid image.
    ParentInvalid { path: String, err: String },
    /// The parent's size or header hash differ from what the child recorded:
    /// it was replaced or modified since.
    ParentChanged { path: String, what: &'static str, recorded: u64, found: u64 },
    /// A page the child takes from `path` is not in one of its own segments.
    ParentLacksPage { path: String, vaddr: u32 },
    /// `path` appears twice in the chain.
    ChainCycle { path: String },
    /// `path`'s depth (0 for a complete image) is not its child's depth - 1.
    ChainDepth { path: String, depth: u32, expected: u32 },
    /// `NT_KCKPT_ITIMERS` descsz is not 48.
    ItimersSize { descsz: u32 },
    /// `NT_KCKPT_ITIMERS`: a `usec` field of 1000000 or more.
    ItimerUsec { which: &'static str, field: &'static str, value: u32 },
    /// `NT_KCKPT_ITIMERS`: a `sec` field above 0x7fffffff.
    ItimerSec { which: &'static str, field: &'static str, value: u32 },
    /// Eventfd `kckpt_fd[i]`: `mode` is neither `EFD_SEMAPHORE` (1) nor 0.
    EventfdMode { i: usize, mode: u32 },
    /// Eventfd `kckpt_fd[i]`: `flags & O_ACCMODE` is not `O_RDWR`.
    EventfdAccess { i: usize, flags: u32 },
    /// Eventfd `kckpt_fd[i]`: `flags` has bits other than `O_RDWR`,
    /// `O_NONBLOCK`, `O_CLOEXEC`.
    EventfdFlags { i: usize, flags: u32 },
    /// Eventfd `kckpt_fd[i]`: `data_len` is not 0.
    EventfdData { i: usize, data_len: u32 },
    /// Eventfd `kckpt_fd[i]`: `path_len` is not 1 (an eventfd has no path).
    EventfdPathLen { i: usize, len: u32 },
    /// Eventfd `kckpt_fd[i]`: counter or mode differ from an earlier record
    /// of the same `id` (one eventfd has one counter).
    EventfdMismatch { i: usize, id: u32 },
    /// A path is not NUL-terminated at `len - 1`, or has an earlier NUL.
    PathNul { what: String },
    /// Padding after a path is not zero.
    PaddingNotZero { what: String },
    /// Bytes left in the kckpt descriptor after cwd.
    KckptTrailing { extra: usize },
    /// MXCSR has bits the kernel's `xfpregs_set` rejects.
    Mxcsr { value: u32 },
    /// A TLS `user_desc` fails the kernel's `tls_desc_okay`.
    TlsDesc { i: usize },
    /// With a shared file mapping: NT_FILE shorter than its 8-byte header.
    NtFileShort { size: usize },
    /// With a shared file mapping: NT_FILE page size is not 4096.
    NtFilePageSize { page_size: u32 },
    /// With a shared file mapping: NT_FILE count above `(size - 8) / 12`.
    NtFileCount { count: u32, size: usize },
    /// With a shared file mapping: no NT_FILE entry (or name) is left for
    /// the file-backed `kckpt_vma[i]`.
    NtFileLacksVma { i: usize },
    /// With a shared file mapping: NT_FILE name `k` is empty or not
    /// NUL-terminated inside the note.
    NtFileName { k: usize },
    /// NT_FILE entry `k` (start, end, pgoff) differs from the shared file
    /// mapping `kckpt_vma[i]` it describes.
    NtFileMismatch { k: usize, i: usize },
    /// The shared file mapping `kckpt_vma[i]` has an offset of 4 GiB or
    /// more (`pgoff` above 0xfffff): the loader cannot map it.
    NtFilePgoff { i: usize, pgoff: u32 },
    /// Writer: segment data longer than the segment.
    DataTooLong { i: usize },
    /// Writer: not one data slice per segment.
    DataCount { expected: usize, got: usize },
    /// I/O error while reading or writing.
    Io(String),
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Error::Io(e.to_string())
    }
}

impl std::error::Error for Error {}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Error::*;
        match self {
            FileTooSmall { len } => write!(f, "file is {len} bytes, smaller than an ELF header"),
            BadMagic => write!(f, "ELF header: bad magic (not \\x7fELF)"),
            BadIdent { field, value } => write!(f, "ELF header: {field} is {value}"),
            BadHeaderField { field, value, expected } => {
                write!(f, "ELF header: {field} is {value:#x}, must be {expected:#x}")
            }
            BadPhnum { phnum } => write!(f, "ELF header: e_phnum {phnum} not in 1..={}", crate::MAX_PHNUM),
            PhdrsOutsideFile => write!(f, "program headers extend past the end of the file"),
            FirstNotNote { p_type } => write!(f, "phdr 0: p_type {p_type:#x}, must be PT_NOTE"),
            NotLoad { i, p_type } => write!(f, "phdr {i}: p_type {p_type:#x}, must be PT_LOAD"),
            NoteSegment { field, value, expected } => {
                write!(f, "PT_NOTE: {field} is {value:#x}, must be {expected:#x}")
            }
            NoteSegmentSize { filesz } => {
                write!(f, "PT_NOTE: p_filesz {filesz:#x} is 0 or not 4-aligned")
            }
            NoteSegmentOutsideFile => write!(f, "PT_NOTE extends past the end of the file"),
            NoteTruncated { offset } => {
                write!(f, "note at file offset {offset:#x} runs past the PT_NOTE segment")
            }
            DuplicateNote { note } => write!(f, "note {note} appears more than once"),
            MissingNote { note } => write!(f, "required note {note} is missing"),
            NoteSize { note, descsz, expected } => {
                write!(f, "note {note}: descsz {descsz}, must be {expected}")
            }
            BadAuxv { why } => write!(f, "NT_AUXV: {why}"),
            SegmentUnaligned { i, field } => write!(f, "PT_LOAD[{i}]: {field} not page-aligned"),
            SegmentFileszMismatch { i } => write!(f, "PT_LOAD[{i}]: p_filesz != p_memsz"),
            SegmentEmpty { i } => write!(f, "PT_LOAD[{i}]: p_memsz is 0"),
            SegmentField { i, field, value } => {
                write!(f, "PT_LOAD[{i}]: {field} is {value:#x}")
            }
            UnknownSegmentFlags { i, flags } => {
                write!(f, "PT_LOAD[{i}]: p_flags {flags:#x} has bits other than PF_R|PF_W|PF_X")
            }
            SegmentAboveTaskSize { i } => {
                write!(f, "PT_LOAD[{i}]: p_vaddr + p_memsz overflows or exceeds TASK_SIZE")
            }
            SegmentOverlap { i } => {
                write!(f, "PT_LOAD[{i}]: not above PT_LOAD[{}] (unordered or overlapping)", i.saturating_sub(1))
            }
            SegmentOverlapsVdso { i } => write!(f, "PT_LOAD[{i}]: overlaps vdso_base's pages"),
            SegmentOutsideFile { i } => {
                write!(f, "PT_LOAD[{i}]: p_offset + p_filesz exceeds the file size")
            }
            SegmentFileOverlap { i } => {
                write!(f, "PT_LOAD[{i}]: file data not after the notes and the previous segment")
            }
            KckptTruncated { what } => write!(f, "kckpt note: truncated in {what}"),
            KckptMagic { value } => write!(f, "kckpt note: magic {value:#x}, must be {:#x}", crate::KCKPT_MAGIC),
            KckptVersion { value } => write!(
                f,
                "kckpt note: version {value}, only {} is known (older images are refused, not misread)",
                crate::KCKPT_VERSION
            ),
            KckptSize { size, descsz } => {
                write!(f, "kckpt note: size {size} != note descsz {descsz}")
            }
            UnknownFlags { flags } => write!(f, "kckpt note: unknown flags {flags:#x}"),
            MmField { field, value } => {
                write!(f, "kckpt note: {field} {value:#x} below mmap_min_addr or not below TASK_SIZE")
            }
            BrkBelowStart { start_brk, brk } => {
                write!(f, "kckpt note: brk {brk:#x} below start_brk {start_brk:#x}")
            }
            BadVdsoBase { value } => {
                write!(f, "kckpt note: vdso_base {value:#x} unaligned or beyond TASK_SIZE")
            }
            VmaCount { nr_vmas, loads } => {
                write!(f, "kckpt note: nr_vmas {nr_vmas} != {loads} PT_LOAD headers")
            }
            CwdLen { len } => write!(f, "kckpt note: cwd_len {len} not in 1..=4096"),
            SigactionPad { sig } => write!(f, "kckpt note: sigaction {sig}: pad is not 0"),
            SigactionAddr { sig, field, value } => {
                write!(f, "kckpt note: sigaction {sig}: {field} {value:#x} not below TASK_SIZE")
            }
            MmOrder { start, end } => write!(f, "kckpt note: {start} > {end}"),
            BadUmask { umask } => write!(f, "kckpt note: umask {umask:#o} above 0777"),
            FdPos { i, pos } => write!(f, "kckpt note: kckpt_fd[{i}] pos {pos:#x} above INT64_MAX"),
            FdOrder { i, fd } => write!(f, "kckpt note: kckpt_fd[{i}] fd {fd} not above the previous record's"),
            TooManyFds { nr } => write!(f, "kckpt note: {nr} fd records, more than {}", crate::MAX_FDS),
            SegmentBelowMinAddr { i } => write!(f, "PT_LOAD[{i}] starts below mmap_min_addr"),
            BadSelector { reg, value } => {
                write!(f, "NT_PRSTATUS: {reg} {value:#x} is not a selector a new i386 task can load")
            }
            SetidFile { mode } => write!(f, "image file mode {mode:#o} is setuid/setgid"),
            VmaMismatch { i } => write!(f, "kckpt note: kckpt_vma[{i}] does not match PT_LOAD[{i}]"),
            VmaFlags { i, flags } => write!(f, "kckpt note: kckpt_vma[{i}] unknown flags {flags:#x}"),
            FdPathLen { i, len } => write!(f, "kckpt note: kckpt_fd[{i}] path_len {len} not in 1..=4096"),
            VmaSharedWithOther { i, flags } => write!(
                f,
                "kckpt note: kckpt_vma[{i}] flags {flags:#x}: SHARED with a flag other than FILE alone"
            ),
            FdKind { i, kind } => write!(f, "kckpt note: kckpt_fd[{i}] unknown kind {kind}"),
            FdFileType { i, kind, mode } => write!(
                f,
                "kckpt note: kckpt_fd[{i}] mode {mode:#o}: file type not allowed for kind {}",
                crate::display::fd_kind_name(*kind)
            ),
            FdPathId { i, id } => write!(f, "kckpt note: kckpt_fd[{i}] (path) id {id}, must be 0"),
            FdPathData { i, data_len } => {
                write!(f, "kckpt note: kckpt_fd[{i}] (path) data_len {data_len}, must be 0")
            }
            FdIdZero { i, kind } => write!(
                f,
                "kckpt note: kckpt_fd[{i}] ({}) id 0, must be >= 1",
                crate::display::fd_kind_name(*kind)
            ),
            FdDataNotFirst { i, id, data_len } => write!(
                f,
                "kckpt note: kckpt_fd[{i}] data_len {data_len}: only the first record of id {id} carries data"
            ),
            FdDataTotal { total } => write!(
                f,
                "kckpt note: {total} bytes of inline fd data, more than {}",
                crate::MAX_FD_DATA
            ),
            PipeAccess { i, flags } => write!(
                f,
                "kckpt note: kckpt_fd[{i}] (pipe) flags {flags:#o}: access mode not O_RDONLY or O_WRONLY"
            ),
            PipePathLen { i, len } => {
                write!(f, "kckpt note: kckpt_fd[{i}] (pipe) path_len {len}, must be 1")
            }
            PipeCapacity { i, pos } => write!(
                f,
                "kckpt note: kckpt_fd[{i}] (pipe) capacity {pos} not a power of two in 4096..=1048576"
            ),
            PipeDataTooLong { i, data_len, pos } => write!(
                f,
                "kckpt note: kckpt_fd[{i}] (pipe) {data_len} bytes of data above its capacity {pos}"
            ),
            PipeMissingEnd { id, end } => {
                write!(f, "kckpt note: pipe id {id} has no {end} end in the image")
            }
            FdAboveNofile { i, fd, nofile } => {
                write!(f, "kckpt note: kckpt_fd[{i}] fd {fd} not below RLIMIT_NOFILE {nofile}")
            }
            RlimitOrder { r, cur, max } => write!(
                f,
                "kckpt note: {} cur {cur:#x} above max {max:#x}",
                crate::RLIMIT_NAMES.get(*r).unwrap_or(&"rlimit")
            ),
            RlimitValue { r, field, value } => write!(
                f,
                "kckpt note: {} {field} {value:#x} is neither RLIM_INFINITY nor below 2^32",
                crate::RLIMIT_NAMES.get(*r).unwrap_or(&"rlimit")
            ),
            CommNotTerminated => write!(f, "kckpt note: comm[15] is not 0 (task name not NUL-terminated)"),
            CommAfterNul { at, byte } => {
                write!(f, "kckpt note: comm[{at}] is {byte:#x} after the name's NUL, must be 0")
            }
            PersonalityNotLinux { personality } => {
                write!(f, "kckpt note: personality {personality:#x} is not PER_LINUX (low byte must be 0)")
            }
            PersonalityFlags { personality, bits } => write!(
                f,
                "kckpt note: personality {personality:#x} has flags {bits:#x} restart must not grant"
            ),
            AttrFlags { flags } => {
                write!(f, "kckpt note: attrs flags {flags:#x} has bits other than NO_NEW_PRIVS")
            }
            Dumpable { value } => write!(f, "kckpt note: dumpable {value:#x} not 0, 1 or 2"),
            SigaltstackFlags { ss_flags } => write!(
                f,
                "kckpt note: sigaltstack ss_flags {ss_flags:#x} not 0, SS_DISABLE or SS_AUTODISARM"
            ),
            SigaltstackDisabled { ss_sp, ss_size } => write!(
                f,
                "kckpt note: sigaltstack SS_DISABLE with ss_sp {ss_sp:#x} ss_size {ss_size:#x}, both must be 0"
            ),
            SigaltstackSize { ss_size } => write!(
                f,
                "kckpt note: sigaltstack ss_size {ss_size} below MINSIGSTKSZ ({})",
                crate::consts::MINSIGSTKSZ
            ),
            SigaltstackRange { ss_sp, ss_size } => write!(
                f,
                "kckpt note: sigaltstack ss_sp {ss_sp:#x} + ss_size {ss_size:#x} overflows or exceeds TASK_SIZE"
            ),
            AttrsReserved { value } => write!(f, "kckpt note: attrs reserved is {value:#x}, must be 0"),
            ExtrasUnknown { extras } => write!(
                f,
                "kckpt note: attrs extras {extras:#x} has unknown bits {:#x} (an optional record this loader cannot honour)",
                extras & !crate::consts::KCKPT_EXTRAS_KNOWN
            ),
            ExtraNoteMissing { note, bit } => {
                write!(f, "attrs extras bit {bit:#x} is set but the image has no {note} note")
            }
            ExtraNoteUnflagged { note, bit } => {
                write!(f, "the image has a {note} note but attrs extras bit {bit:#x} is clear")
            }
            XstateSize { descsz } => write!(
                f,
                "NT_X86_XSTATE: descsz {descsz} not a multiple of 4 in {}..={}",
                crate::consts::XSTATE_MIN_SIZE,
                crate::consts::XSTATE_MAX_SIZE
            ),
            XstateCompacted { xcomp_bv } => {
                write!(f, "NT_X86_XSTATE: xcomp_bv {xcomp_bv:#x}, must be 0 (standard format)")
            }
            XstateHeaderReserved { at, byte } => {
                write!(f, "NT_X86_XSTATE: XSAVE header reserved byte at {at} is {byte:#x}, must be 0")
            }
            XstateFeatures { xfeatures, xcr0 } => write!(
                f,
                "NT_X86_XSTATE: header xfeatures {xfeatures:#x} has components {:#x} outside the producer's xfeatures {xcr0:#x}",
                xfeatures & !xcr0
            ),
            XstateMxcsr { value } => write!(f, "NT_X86_XSTATE: mxcsr {value:#x} has reserved bits"),
            SigpendingShort { descsz } => {
                write!(f, "NT_KCKPT_SIGPENDING: descsz {descsz} shorter than its 8-byte header")
            }
            SigpendingTooMany { nr } => write!(
                f,
                "NT_KCKPT_SIGPENDING: {nr} pending signals, more than {}",
                crate::consts::MAX_SIGPENDING
            ),
            SigpendingSize { descsz, expected } => {
                write!(f, "NT_KCKPT_SIGPENDING: descsz {descsz}, must be {expected} (8 + 128 per entry)")
            }
            SigpendingSigno { queue, k, signo } => {
                write!(f, "NT_KCKPT_SIGPENDING: {queue} entry {k}: si_signo {signo} not in 1..=64")
            }
            SigpendingUnqueueable { queue, k, signo } => {
                write!(f, "NT_KCKPT_SIGPENDING: {queue} entry {k}: si_signo {signo} (SIGKILL/SIGSTOP) cannot be pending")
            }
            SigpendingDuplicate { queue, k, signo } => write!(
                f,
                "NT_KCKPT_SIGPENDING: {queue} entry {k}: standard signal {signo} already queued for the {queue}"
            ),
            ParentShort { descsz } => write!(f, "NT_KCKPT_PARENT: descsz {descsz} shorter than its 32-byte header"),
            ParentDepth { depth } => write!(
                f,
                "NT_KCKPT_PARENT: depth {depth} not in 1..={} (chain too deep or broken)",
                crate::consts::MAX_CHAIN_DEPTH
            ),
            ParentReserved { value } => write!(f, "NT_KCKPT_PARENT: reserved is {value:#x}, must be 0"),
            ParentPathLen { len } => write!(f, "NT_KCKPT_PARENT: path_len {len} not in 2..=4096"),
            ParentSize { descsz, expected } => {
                write!(f, "NT_KCKPT_PARENT: descsz {descsz}, must be {expected} (32 + 8 per range + padded path)")
            }
            ParentRange { k, vaddr, npages } => {
                write!(f, "NT_KCKPT_PARENT: range {k} ({vaddr:#x}, {npages} pages): empty or not page aligned")
            }
            ParentRangeOrder { k, vaddr } => {
                write!(f, "NT_KCKPT_PARENT: range {k} at {vaddr:#x} not above the previous range (unordered or overlapping)")
            }
            ParentPathNul => write!(f, "NT_KCKPT_PARENT: path: NUL not exactly at path_len - 1"),
            ParentPadding => write!(f, "NT_KCKPT_PARENT: padding after the path is not zero"),
            ParentRangeOutside { k, vaddr, npages } => write!(
                f,
                "NT_KCKPT_PARENT: range {k} ({vaddr:#x}, {npages} pages) not inside one private segment"
            ),
            ParentRangeHasData { vaddr } => {
                write!(f, "page {vaddr:#x} is taken from the parent but has data in the image too")
            }
            ParentMissing { path, err } => write!(f, "parent image {path}: {err}"),
            ParentInvalid { path, err } => write!(f, "parent image {path} is invalid: {err}"),
            ParentChanged { path, what, recorded, found } => write!(
                f,
                "parent image {path} changed since the checkpoint ({what} {found:#x}, recorded {recorded:#x}): replaced or modified"
            ),
            ParentLacksPage { path, vaddr } => {
                write!(f, "parent image {path} has no page {vaddr:#x} that its child takes from it")
            }
            ChainCycle { path } => write!(f, "parent chain comes back to {path} (a cycle)"),
            ChainDepth { path, depth, expected } => write!(
                f,
                "parent image {path} is {depth} links above a complete image, its child says {expected}"
            ),
            ItimersSize { descsz } => write!(f, "NT_KCKPT_ITIMERS: descsz {descsz}, must be 48"),
            ItimerUsec { which, field, value } => {
                write!(f, "NT_KCKPT_ITIMERS: {which} {field} {value} not below 1000000")
            }
            ItimerSec { which, field, value } => {
                write!(f, "NT_KCKPT_ITIMERS: {which} {field} {value:#x} above 0x7fffffff")
            }
            EventfdMode { i, mode } => {
                write!(f, "kckpt note: eventfd kckpt_fd[{i}] mode {mode:#x}, must be 0 or EFD_SEMAPHORE (1)")
            }
            EventfdAccess { i, flags } => {
                write!(f, "kckpt note: eventfd kckpt_fd[{i}] flags {flags:#o} not O_RDWR")
            }
            EventfdFlags { i, flags } => write!(
                f,
                "kckpt note: eventfd kckpt_fd[{i}] flags {flags:#o} have bits other than O_RDWR|O_NONBLOCK|O_CLOEXEC"
            ),
            EventfdData { i, data_len } => {
                write!(f, "kckpt note: eventfd kckpt_fd[{i}] data_len {data_len}, must be 0")
            }
            EventfdPathLen { i, len } => {
                write!(f, "kckpt note: eventfd kckpt_fd[{i}] path_len {len}, must be 1 (no path)")
            }
            EventfdMismatch { i, id } => write!(
                f,
                "kckpt note: eventfd kckpt_fd[{i}] counter or mode differ from an earlier record of eventfd {id}"
            ),
            PathNul { what } => write!(f, "kckpt note: {what}: NUL not exactly at len - 1"),
            PaddingNotZero { what } => write!(f, "kckpt note: {what}: padding is not zero"),
            KckptTrailing { extra } => write!(f, "kckpt note: {extra} bytes after cwd"),
            Mxcsr { value } => write!(f, "NT_PRXFPREG: mxcsr {value:#x} has reserved bits"),
            TlsDesc { i } => write!(f, "NT_386_TLS: user_desc {i} fails tls_desc_okay"),
            NtFileShort { size } => {
                write!(f, "NT_FILE: {size} bytes, shorter than its header (a shared file mapping needs it)")
            }
            NtFilePageSize { page_size } => {
                write!(f, "NT_FILE: page size {page_size}, must be 4096 (a shared file mapping needs it)")
            }
            NtFileCount { count, size } => {
                write!(f, "NT_FILE: count {count} entries do not fit in its {size} bytes")
            }
            NtFileLacksVma { i } => write!(f, "NT_FILE lacks kckpt_vma {i} (no entry or name left for it)"),
            NtFileName { k } => write!(f, "NT_FILE: name {k} is empty or not NUL-terminated inside the note"),
            NtFileMismatch { k, i } => write!(
                f,
                "NT_FILE entry {k} (start, end, pgoff) does not match the shared file mapping kckpt_vma[{i}]"
            ),
            NtFilePgoff { i, pgoff } => write!(
                f,
                "kckpt note: shared file mapping kckpt_vma[{i}] pgoff {pgoff:#x}: offset not below 4 GiB"
            ),
            DataTooLong { i } => write!(f, "write: data for segment {i} longer than the segment"),
            DataCount { expected, got } => {
                write!(f, "write: {got} data slices for {expected} segments")
            }
            Io(e) => write!(f, "I/O: {e}"),
        }
    }
}
