//! Host-side reader, validator and writer for kckpt checkpoint images.
//! The format is `docs/image-format.md`: an i386 ELF core with one extra "KCKPT" note.
//!
//! [`Image::parse`] enforces every rule the kernel loader enforces (it is the
//! fuzzer's oracle), [`Image::write_to`] produces the exact sparse layout, and
//! [`Builder`] makes small valid images for tests.

mod attrs;
mod builder;
mod bytes;
pub mod chain;
pub mod display;
mod error;
pub mod extras;
mod fds;
mod model;
mod ntfile;
mod offsets;
mod parse;
mod rlimits;
mod write;

pub use attrs::{personality_ok, sigaltstack_ok};
pub use builder::{default_rlimits, Builder};
pub use error::Error;
pub use extras::{Itimerval, PageRange, Parent, SigPending, Siginfo, Xstate};
pub use chain::{identity, path_for_child, Chain, Link, Source};
pub use model::*;
pub use fds::pipe_capacity_ok;
pub use parse::{check_file_mode, Limits};
pub use rlimits::rlimit_value_ok;
pub use write::Sink;

/// `TASK_SIZE` of an i386 kernel with the 3G/1G split.
pub const TASK_SIZE: u32 = 0xC000_0000;
/// The i386 page size; every segment boundary is a multiple of it.
pub const PAGE_SIZE: u32 = 4096;
/// Most VMAs (`PT_LOAD` headers) an image holds; more make checkpoint fail.
pub const MAX_VMAS: u32 = 65530;
/// Most program headers a loader accepts: the note plus `MAX_VMAS`.
pub const MAX_PHNUM: u32 = 1 + MAX_VMAS;
/// `KCKPT_MAX_FDS`: descriptor records in one image.
pub const MAX_FDS: u32 = 1024;
/// `KCKPT_MAX_FD_DATA`: inline descriptor data (pipes, unlinked files) per image.
pub const MAX_FD_DATA: u32 = 4 << 20;
/// `RLIM_INFINITY` as a `kckpt_rlimit` value.
pub const RLIM_INFINITY64: u64 = u64::MAX;
/// The kckpt note's format version this crate reads and writes.
pub const KCKPT_VERSION: u32 = 2;
/// `kckpt_state.magic`, "KCKP" little-endian.
pub const KCKPT_MAGIC: u32 = 0x504b_434b;
/// Longest path (`path_len`, `cwd_len`, including the NUL).
pub const PATH_MAX: u32 = 4096;

/// ELF and note constants used by the format.
pub mod consts {
    pub const EHDR_SIZE: usize = 52;
    pub const PHDR_SIZE: usize = 32;
    pub const ET_CORE: u16 = 4;
    pub const EM_386: u16 = 3;
    pub const PT_LOAD: u32 = 1;
    pub const PT_NOTE: u32 = 4;
    pub const PF_X: u32 = 1;
    pub const PF_W: u32 = 2;
    pub const PF_R: u32 = 4;
    pub const NT_PRSTATUS: u32 = 1;
    pub const NT_PRFPREG: u32 = 2;
    pub const NT_PRPSINFO: u32 = 3;
    pub const NT_AUXV: u32 = 6;
    pub const NT_FILE: u32 = 0x4649_4c45;
    pub const NT_PRXFPREG: u32 = 0x46e6_2b7f;
    pub const NT_386_TLS: u32 = 0x200;
    pub const NT_KCKPT_STATE: u32 = 1;
    /// `LINUX` note: the XSAVE area (optional, `KCKPT_EXTRA_XSTATE`).
    pub const NT_X86_XSTATE: u32 = 0x202;
    /// `KCKPT` note: pending signals (optional, `KCKPT_EXTRA_SIGPENDING`).
    pub const NT_KCKPT_SIGPENDING: u32 = 2;
    /// `KCKPT` note: interval timers (optional, `KCKPT_EXTRA_ITIMERS`).
    pub const NT_KCKPT_ITIMERS: u32 = 3;
    /// `kckpt_attrs.extras` bits: which optional notes the image has.
    pub const KCKPT_EXTRA_XSTATE: u32 = 1;
    pub const KCKPT_EXTRA_SIGPENDING: u32 = 2;
    pub const KCKPT_EXTRA_ITIMERS: u32 = 4;
    /// An incremental image: `NT_KCKPT_PARENT` names the image holding the
    /// pages it does not. No kernel loader knows this bit: binfmt_cr refuses
    /// the image (ENOEXEC); `cr -r` flattens the chain first.
    pub const KCKPT_EXTRA_PARENT: u32 = 0x10;
    pub const KCKPT_EXTRAS_KNOWN: u32 =
        KCKPT_EXTRA_XSTATE | KCKPT_EXTRA_SIGPENDING | KCKPT_EXTRA_ITIMERS | KCKPT_EXTRA_PARENT;
    /// The bits a kernel loader (binfmt_cr) honours: all but `KCKPT_EXTRA_PARENT`.
    pub const KCKPT_EXTRAS_KERNEL: u32 = KCKPT_EXTRA_XSTATE | KCKPT_EXTRA_SIGPENDING | KCKPT_EXTRA_ITIMERS;
    /// `KCKPT` note: the parent of an incremental image (`KCKPT_EXTRA_PARENT`).
    /// (Type 4 and bit 0x8 are reserved for `NT_KCKPT_ORIGIN`.)
    pub const NT_KCKPT_PARENT: u32 = 5;
    /// `NT_KCKPT_PARENT`: fixed header before the ranges.
    pub const PARENT_HDR_SIZE: usize = 32;
    /// Longest chain: an incremental image is at most this many links above
    /// a complete one (`NT_KCKPT_PARENT.depth` 1..=16).
    pub const MAX_CHAIN_DEPTH: u32 = 16;
    /// Bounds of `NT_X86_XSTATE`'s descsz (legacy area + header; a page pair).
    pub const XSTATE_MIN_SIZE: usize = 576;
    pub const XSTATE_MAX_SIZE: usize = 8192;
    /// The legacy area's `sw_reserved` in a core dump or ptrace buffer:
    /// the producer's XCR0 as a u64 (asm/user.h `USER_XSTATE_XCR0_WORD`).
    pub const XSTATE_XCR0_OFF: usize = 464;
    /// The XSAVE header: xfeatures at 512, xcomp_bv at 520, zero to 576.
    pub const XSTATE_HDR_XFEATURES_OFF: usize = 512;
    pub const XSTATE_HDR_XCOMP_BV_OFF: usize = 520;
    pub const XSTATE_HDR_RESERVED_OFF: usize = 528;
    /// `KCKPT_MAX_SIGPENDING`: queued signals (both queues) in one image.
    pub const MAX_SIGPENDING: u32 = 1024;
    /// i386 `siginfo_t`.
    pub const SIGINFO_SIZE: usize = 128;
    pub const SIGKILL: u32 = 9;
    pub const SIGSTOP: u32 = 19;
    /// Standard signals are 1..SIGRTMIN; real-time ones SIGRTMIN..=64.
    pub const SIGRTMIN: u32 = 32;
    /// `NT_KCKPT_ITIMERS`: 3 × 4 u32.
    pub const ITIMERS_SIZE: usize = 48;
    pub const USEC_PER_SEC: u32 = 1_000_000;
    pub const ITIMER_SEC_MAX: u32 = 0x7fff_ffff;
    pub const PRSTATUS_SIZE: usize = 144;
    pub const PRSTATUS_REG_OFF: usize = 72;
    pub const PRSTATUS_PID_OFF: usize = 24;
    pub const PRPSINFO_SIZE: usize = 124;
    pub const FPREGS_SIZE: usize = 108;
    pub const FXSAVE_SIZE: usize = 512;
    pub const TLS_SIZE: usize = 48;
    /// `AT_VECTOR_SIZE` on i386 (6.12): 2 * (3 + 22 + 1) words of `saved_auxv`.
    pub const AUXV_MAX_BYTES: usize = 2 * (3 + 22 + 1) * 4;
    /// Fixed part of `struct kckpt_state`, before `kckpt_vma[]`.
    pub const KCKPT_FIXED_SIZE: usize = 1928;
    /// `kckpt_rlimit[NRLIMITS]`, 16 bytes each (u64 cur, u64 max).
    pub const RLIMIT_OFF: usize = 1624;
    pub const RLIMIT_SIZE: usize = 16;
    pub const NRLIMITS: usize = 16;
    pub const RLIMIT_NOFILE: usize = 7;
    /// `struct kckpt_attrs`, right after `kckpt_rlimit[16]`.
    pub const ATTRS_OFF: usize = 1880;
    pub const ATTRS_SIZE: usize = 48;
    /// `kckpt_attrs.comm`: `TASK_COMM_LEN`, NUL-terminated.
    pub const COMM_LEN: usize = 16;
    /// `kckpt_attrs.personality & PER_MASK` must be `PER_LINUX` (0).
    pub const PER_MASK: u32 = 0xff;
    pub const UNAME26: u32 = 0x002_0000;
    pub const ADDR_NO_RANDOMIZE: u32 = 0x004_0000;
    pub const ADDR_COMPAT_LAYOUT: u32 = 0x020_0000;
    pub const READ_IMPLIES_EXEC: u32 = 0x040_0000;
    pub const SHORT_INODE: u32 = 0x100_0000;
    pub const WHOLE_SECONDS: u32 = 0x200_0000;
    pub const STICKY_TIMEOUTS: u32 = 0x400_0000;
    pub const ADDR_LIMIT_3GB: u32 = 0x800_0000;
    /// The personality flags an image may carry (never `MMAP_PAGE_ZERO`,
    /// `ADDR_LIMIT_32BIT`, `FDPIC_FUNCPTRS`: restart must not grant them).
    pub const PERSONALITY_FLAGS_OK: u32 = UNAME26
        | ADDR_NO_RANDOMIZE
        | ADDR_COMPAT_LAYOUT
        | READ_IMPLIES_EXEC
        | SHORT_INODE
        | WHOLE_SECONDS
        | STICKY_TIMEOUTS
        | ADDR_LIMIT_3GB;
    /// `kckpt_attrs.flags`: the task had `no_new_privs`.
    pub const KCKPT_ATTR_NO_NEW_PRIVS: u32 = 1;
    /// `prctl(PR_GET_DUMPABLE)` values: `SUID_DUMP_DISABLE`, `_USER`, `_ROOT`.
    pub const DUMPABLE_MAX: u32 = 2;
    /// `stack_t.ss_flags` bits.
    pub const SS_ONSTACK: u32 = 1;
    pub const SS_DISABLE: u32 = 2;
    pub const SS_AUTODISARM: u32 = 1 << 31;
    /// Smallest alternate signal stack `sigaltstack(2)` accepts (i386).
    pub const MINSIGSTKSZ: u32 = 2048;
    pub const KCKPT_SIGACTION_OFF: usize = 88;
    pub const SIGACTION_SIZE: usize = 24;
    pub const NSIG: usize = 64;
    pub const VMA_SIZE: usize = 16;
    /// `kckpt_fd` before its path: fd flags pos mode kind id data_len path_len.
    pub const FD_FIXED_SIZE: usize = 36;
    pub const VMA_GROWSDOWN: u32 = 1;
    pub const VMA_FILE: u32 = 2;
    pub const VMA_HEAP: u32 = 4;
    /// Shared memory: alone, shared anonymous memory; with `VMA_FILE`
    /// (and nothing else), a shared file mapping ([`VMA_SHARED_FILE`]).
    pub const VMA_SHARED: u32 = 8;
    /// A shared file mapping: its data is the file's (the segment is a
    /// hole), restart maps the file its NT_FILE entry names again.
    pub const VMA_SHARED_FILE: u32 = VMA_SHARED | VMA_FILE;
    /// Highest `pgoff` of a shared file mapping (offset below 4 GiB).
    pub const SHARED_FILE_MAX_PGOFF: u32 = 0xfffff;
    /// `kckpt_fd.kind`: reopened by path.
    pub const FD_PATH: u32 = 1;
    /// `kckpt_fd.kind`: one end of a pipe whose both ends are in the image.
    pub const FD_PIPE: u32 = 2;
    /// `kckpt_fd.kind`: a regular file unlinked while open, contents inline.
    pub const FD_UNLINKED: u32 = 3;
    /// `kckpt_fd.kind`: an eventfd; `pos` is its counter, `mode` its
    /// `EFD_SEMAPHORE` flag, `id` names it.
    pub const FD_EVENTFD: u32 = 4;
    /// `kckpt_fd.mode` of an eventfd: `EFD_SEMAPHORE` or 0.
    pub const EFD_SEMAPHORE: u32 = 1;
    /// Highest eventfd counter (`eventfd_write()` refuses `ULLONG_MAX`).
    pub const EVENTFD_MAX: u64 = 0xffff_ffff_ffff_fffe;
    /// i386 `O_NONBLOCK` and `O_CLOEXEC`.
    pub const O_NONBLOCK: u32 = 0o4000;
    pub const O_CLOEXEC: u32 = 0o2000000;
    pub const S_IFMT: u32 = 0o170000;
    pub const S_IFREG: u32 = 0o100000;
    pub const S_IFDIR: u32 = 0o040000;
    pub const S_IFCHR: u32 = 0o020000;
    pub const S_IFIFO: u32 = 0o010000;
    pub const O_ACCMODE: u32 = 3;
    pub const O_RDONLY: u32 = 0;
    pub const O_WRONLY: u32 = 1;
    pub const O_RDWR: u32 = 2;
    /// Pipe capacity bounds (`F_SETPIPE_SZ`; 1 MiB is `pipe-max-size`'s default).
    pub const PIPE_MIN_SIZE: u64 = 4096;
    pub const PIPE_MAX_SIZE: u64 = 1 << 20;
}
