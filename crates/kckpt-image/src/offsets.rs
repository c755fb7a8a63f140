//! `Image::field_offsets`: where every header and note field sits in the file.
//! The fuzzer mutates these ranges; names read like `phdr[2].p_vaddr`.

use crate::consts::*;
use crate::model::*;

type Field = (String, usize, usize);

const EHDR_FIELDS: [(&str, usize, usize); 18] = [
    ("e_ident.magic", 0, 4),
    ("e_ident.class", 4, 1),
    ("e_ident.data", 5, 1),
    ("e_ident.version", 6, 1),
    ("e_ident.osabi", 7, 1),
    ("e_type", 16, 2),
    ("e_machine", 18, 2),
    ("e_version", 20, 4),
    ("e_entry", 24, 4),
    ("e_phoff", 28, 4),
    ("e_shoff", 32, 4),
    ("e_flags", 36, 4),
    ("e_ehsize", 40, 2),
    ("e_phentsize", 42, 2),
    ("e_phnum", 44, 2),
    ("e_shentsize", 46, 2),
    ("e_shnum", 48, 2),
    ("e_shstrndx", 50, 2),
];

const PHDR_FIELDS: [&str; 8] =
    ["p_type", "p_offset", "p_vaddr", "p_paddr", "p_filesz", "p_memsz", "p_flags", "p_align"];

const KCKPT_HDR: [&str; 4] = ["magic", "version", "size", "flags"];
/// `kckpt_fd`'s fixed fields in file order, with their widths.
const FD_FIELDS: [(&str, usize); 8] =
    [("fd", 4), ("flags", 4), ("pos", 8), ("mode", 4), ("kind", 4), ("id", 4), ("data_len", 4), ("path_len", 4)];
/// `kckpt_attrs`' words after `comm`, in file order.
const ATTRS_FIELDS: [&str; 8] =
    ["personality", "flags", "dumpable", "ss_sp", "ss_size", "ss_flags", "extras", "reserved"];
const KCKPT_MID: [&str; 5] = ["vdso_base", "umask", "nr_vmas", "nr_fds", "cwd_len"];

/// The i386 `siginfo_t` words the loader reads or `inspect` shows.
const SIGINFO_FIELDS: [&str; 6] = ["si_signo", "si_errno", "si_code", "si_pid", "si_uid", "si_value"];
/// `struct itimerval` as the note's four u32.
const ITIMER_FIELDS: [&str; 4] = ["interval_sec", "interval_usec", "value_sec", "value_usec"];

/// The legacy area's MXCSR, `sw_reserved` and the XSAVE header.
fn xstate_fields(v: &mut Vec<Field>, d: usize) {
    push(v, "xstate.mxcsr", d + 24, 4);
    push(v, "xstate.xcr0", d + XSTATE_XCR0_OFF, 8);
    push(v, "xstate.hdr.xfeatures", d + XSTATE_HDR_XFEATURES_OFF, 8);
    push(v, "xstate.hdr.xcomp_bv", d + XSTATE_HDR_XCOMP_BV_OFF, 8);
    push(v, "xstate.hdr.reserved", d + XSTATE_HDR_RESERVED_OFF, XSTATE_MIN_SIZE - XSTATE_HDR_RESERVED_OFF);
}

/// `itimer[0..3]` (real, virtual, prof) and their four fields.
fn itimer_fields(v: &mut Vec<Field>, d: usize) {
    for w in 0..3 {
        for (k, n) in ITIMER_FIELDS.iter().enumerate() {
            push(v, format!("itimer[{w}].{n}"), d + 16 * w + 4 * k, 4);
        }
    }
}

fn push(v: &mut Vec<Field>, name: impl Into<String>, off: usize, w: usize) {
    v.push((name.into(), off, w));
}

impl Image {
    /// (name, file offset, width) of each ELF header, phdr and note field.
    pub fn field_offsets(&self) -> Vec<Field> {
        let mut v = Vec::new();
        for (n, o, w) in EHDR_FIELDS {
            push(&mut v, n, o, w);
        }
        for i in 0..self.phnum() {
            for (k, n) in PHDR_FIELDS.iter().enumerate() {
                push(&mut v, format!("phdr[{i}].{n}"), EHDR_SIZE + PHDR_SIZE * i + 4 * k, 4);
            }
        }
        for (k, loc) in self.notes.iter().enumerate() {
            let tag = format!("note[{k}]({}/{:#x})", loc.name, loc.ntype);
            for (j, n) in ["n_namesz", "n_descsz", "n_type"].iter().enumerate() {
                push(&mut v, format!("{tag}.{n}"), loc.offset + 4 * j, 4);
            }
            self.desc_fields(&mut v, loc);
        }
        v
    }

    fn desc_fields(&self, v: &mut Vec<Field>, loc: &NoteLoc) {
        let d = loc.desc_offset;
        match (loc.name.as_str(), loc.ntype) {
            ("CORE", NT_PRSTATUS) => {
                push(v, "prstatus.pr_pid", d + PRSTATUS_PID_OFF, 4);
                for (k, r) in REG_NAMES.iter().enumerate() {
                    push(v, format!("prstatus.{r}"), d + PRSTATUS_REG_OFF + 4 * k, 4);
                }
            }
            ("CORE", NT_AUXV) => {
                for k in 0..loc.descsz / 8 {
                    push(v, format!("auxv[{k}].type"), d + 8 * k, 4);
                    push(v, format!("auxv[{k}].val"), d + 8 * k + 4, 4);
                }
            }
            ("CORE", NT_FILE) => self.file_fields(v, d),
            ("LINUX", NT_PRXFPREG) => {
                push(v, "fxsave.mxcsr", d + 24, 4);
                push(v, "fxsave.mxcsr_mask", d + 28, 4);
            }
            ("LINUX", NT_386_TLS) => {
                for i in 0..3 {
                    for (k, n) in ["entry_number", "base_addr", "limit", "flags"].iter().enumerate() {
                        push(v, format!("tls[{i}].{n}"), d + 16 * i + 4 * k, 4);
                    }
                }
            }
            ("KCKPT", NT_KCKPT_STATE) => self.kckpt_fields(v, d),
            ("LINUX", NT_X86_XSTATE) => xstate_fields(v, d),
            ("KCKPT", NT_KCKPT_SIGPENDING) => self.sigpending_fields(v, d),
            ("KCKPT", NT_KCKPT_ITIMERS) => itimer_fields(v, d),
            _ => {}
        }
    }

    /// `sigpending.nr_thread`, `.nr_process`, then `sigpending.thread[k].si_signo`
    /// and `sigpending.process[k].…` for the entries the image has.
    fn sigpending_fields(&self, v: &mut Vec<Field>, d: usize) {
        push(v, "sigpending.nr_thread", d, 4);
        push(v, "sigpending.nr_process", d + 4, 4);
        let Some(p) = &self.sigpending else { return };
        let queues = [("thread", p.thread.len()), ("process", p.process.len())];
        let mut o = d + 8;
        for (q, n) in queues {
            for k in 0..n {
                for (j, f) in SIGINFO_FIELDS.iter().enumerate() {
                    push(v, format!("sigpending.{q}[{k}].{f}"), o + 4 * j, 4);
                }
                o += SIGINFO_SIZE;
            }
        }
    }

    fn file_fields(&self, v: &mut Vec<Field>, d: usize) {
        push(v, "nt_file.count", d, 4);
        push(v, "nt_file.page_size", d + 4, 4);
        let mut p = d + 8;
        for (i, _) in self.files.iter().enumerate() {
            for n in ["start", "end", "pgoff"] {
                push(v, format!("nt_file[{i}].{n}"), p, 4);
                p += 4;
            }
        }
        for (i, e) in self.files.iter().enumerate() {
            push(v, format!("nt_file[{i}].path"), p, e.path.len() + 1);
            p += e.path.len() + 1;
        }
    }

    fn kckpt_fields(&self, v: &mut Vec<Field>, d: usize) {
        for (k, n) in KCKPT_HDR.iter().chain(MM_NAMES.iter()).chain(KCKPT_MID.iter()).enumerate() {
            push(v, format!("kckpt.{n}"), d + 4 * k, 4);
        }
        push(v, "kckpt.sigblocked", d + 80, 8);
        for s in 0..NSIG {
            let o = d + KCKPT_SIGACTION_OFF + SIGACTION_SIZE * s;
            for (k, n) in ["handler", "flags", "restorer", "pad"].iter().enumerate() {
                push(v, format!("kckpt.sigaction[{}].{n}", s + 1), o + 4 * k, 4);
            }
            push(v, format!("kckpt.sigaction[{}].mask", s + 1), o + 16, 8);
        }
        for r in 0..NRLIMITS {
            let o = d + RLIMIT_OFF + RLIMIT_SIZE * r;
            push(v, format!("kckpt.rlimit[{r}].cur"), o, 8);
            push(v, format!("kckpt.rlimit[{r}].max"), o + 8, 8);
        }
        let a = d + ATTRS_OFF;
        push(v, "kckpt.attrs.comm", a, COMM_LEN);
        for (k, n) in ATTRS_FIELDS.iter().enumerate() {
            push(v, format!("kckpt.attrs.{n}"), a + COMM_LEN + 4 * k, 4);
        }
        let mut p = d + KCKPT_FIXED_SIZE;
        for i in 0..self.state.vmas.len() {
            for n in ["start", "end", "flags", "pgoff"] {
                push(v, format!("kckpt.vma[{i}].{n}"), p, 4);
                p += 4;
            }
        }
        for (i, f) in self.state.fds.iter().enumerate() {
            for (n, w) in FD_FIELDS {
                push(v, format!("kckpt.fd[{i}].{n}"), p, w);
                p += w;
            }
            let padded = (f.path.len() + 1).div_ceil(4) * 4;
            push(v, format!("kckpt.fd[{i}].path"), p, padded);
            p += padded;
            let padded = f.data.len().div_ceil(4) * 4;
            if padded != 0 {
                push(v, format!("kckpt.fd[{i}].data"), p, padded);
            }
            p += padded;
        }
        push(v, "kckpt.cwd", p, (self.state.cwd.len() + 1).div_ceil(4) * 4);
    }
}
