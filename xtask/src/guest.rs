//! The guest context, made once per command and handed to test-vm,
//! fuzz-images, bench and selftest: the built kernel, its syscall number
//! and features, the cpio tool, the accelerator and the one `Shell`.

use std::cell::OnceCell;
use std::path::{Path, PathBuf};

use anyhow::Result;
use fs_err as fs;
use xshell::Shell;

use crate::build::{self, Kernel};
use crate::cpio::Spec;
use crate::flavor::Flavor;
use crate::rootfs::{self, Features, GuestTest};
use crate::syscalls::{self, SyscallNr};
use crate::vm::{self, Accel, Boot};
use crate::{cache, deps};

/// What a command says about the guest it wants.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct Opts {
    /// Accelerator; default: KVM when a probe boot proves it works, else TCG.
    #[arg(long, value_enum)]
    pub accel: Option<Accel>,
    /// Checkpoint at another syscall number (see build-kernel --syscall-nr).
    #[arg(long)]
    pub syscall_nr: Option<SyscallNr>,
    /// Kernel flavor: debug adds lockdep, UBSAN… and panic_on_warn=1 (see build-kernel --flavor).
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
    /// More kernel command-line words for every boot, after the flavor's (the
    /// last of a parameter wins: `--append panic_on_warn=0` sees past a first WARN).
    #[arg(long, num_args = 1..)]
    pub append: Vec<String>,
}

pub struct Guest<'a> {
    pub sh: &'a Shell,
    pub kernel: Kernel,
    /// The checkpoint syscall number of the tree, if it has one.
    pub nr: Option<u32>,
    pub features: Features,
    pub gen_init_cpio: PathBuf,
    accel_wanted: Option<Accel>,
    accel: OnceCell<Accel>,
    /// `--append`: words after the flavor's on every boot.
    append: Vec<String>,
    /// What the kernel was built with: `other_flavor` builds the same.
    build: build::Args,
}

impl<'a> Guest<'a> {
    /// Install what is missing, build (or find) the kernel, read its syscall
    /// number and features.
    pub fn new(sh: &'a Shell, opts: &Opts) -> Result<Guest<'a>> {
        Guest::with_build(sh, opts, &build::Args::default())
    }

    /// As `new`, with build options beyond the guest's (a bisect prefix).
    pub fn with_build(sh: &'a Shell, opts: &Opts, b: &build::Args) -> Result<Guest<'a>> {
        deps::ensure(sh)?;
        let build = build::Args { syscall_nr: opts.syscall_nr, flavor: opts.flavor, ..b.clone() };
        let kernel = build::run(sh, &build)?;
        let nr = syscalls::tree_checkpoint_nr(&kernel.tree)?;
        let features = Features::of_tree(&kernel.tree)?;
        let gen_init_cpio = kernel.gen_init_cpio();
        Ok(Guest { sh, kernel, nr, features, gen_init_cpio, accel_wanted: opts.accel, accel: OnceCell::new(), append: opts.append.clone(), build })
    }

    /// Boot another bzImage than the one built (test-vm --kernel): the tree,
    /// number and features stay those of the build.
    pub fn use_bzimage(&mut self, bzimage: &Path) -> Result<()> {
        self.kernel.bzimage = fs::canonicalize(bzimage)?;
        self.kernel.key = "external".into();
        self.kernel.version = String::new();
        Ok(())
    }

    /// The initramfs with `tests`: SKIP stubs for what this kernel lacks
    /// when `skip_unmet`, else every feature is assumed.
    pub fn initramfs(&self, tests: &[GuestTest], skip_unmet: bool) -> Result<PathBuf> {
        rootfs::build(self.sh, &self.gen_init_cpio, tests, self.nr, skip_unmet.then_some(&self.features))
    }

    /// Pack a typed spec with this kernel's gen_init_cpio.
    pub fn pack(&self, spec: &Spec, out: &Path) -> Result<()> {
        spec.pack(self.sh, &self.gen_init_cpio, out)
    }

    /// The accelerator: the one asked for, else the probe's answer (made on
    /// the first boot, with its initramfs, and cached per kernel).
    pub fn accel(&self, initrd: &Path) -> Result<Accel> {
        if let Some(a) = self.accel.get() {
            return Ok(*a);
        }
        let a = match self.accel_wanted {
            Some(a) => a,
            None if vm::probe_kvm(self.sh, &self.kernel.bzimage, initrd)? => Accel::Kvm,
            None => {
                eprintln!("[vm] KVM probe boot printed nothing: using TCG");
                Accel::Tcg
            }
        };
        Ok(*self.accel.get_or_init(|| a))
    }

    /// The boot plan of `initrd` on this kernel: the flavor's command line,
    /// then `--append`'s words, 512 MiB; callers add what their run needs.
    pub fn boot(&self, initrd: PathBuf) -> Result<Boot> {
        self.boot_on(&self.kernel, initrd)
    }

    /// The boot plan of `initrd` on `kernel` (this one or `other_flavor`'s),
    /// with that kernel's flavor's command line and `--append`'s words.
    pub fn boot_on(&self, kernel: &Kernel, initrd: PathBuf) -> Result<Boot> {
        let accel = self.accel(&initrd)?;
        let mut b = Boot::new(kernel.bzimage.clone(), initrd, accel);
        for w in kernel.flavor.cmdline().into_iter().chain(self.append.iter().cloned()) {
            b = b.append(w);
        }
        Ok(b)
    }

    /// The same series built as the other flavor (normal <-> debug), through
    /// the build pipeline: a cache hit once built. Two-boot tests whose
    /// boot 2 is `other-flavor` boot it.
    pub fn other_flavor(&self) -> Result<Kernel> {
        let b = build::Args { flavor: self.kernel.flavor.other(), ..self.build.clone() };
        eprintln!("[reboot] boot 2 of other-flavor tests: the {} kernel", b.flavor.name());
        build::run(self.sh, &b)
    }

    /// A fresh work directory for one run, under the cache's runs/.
    pub fn work_dir(&self, what: &str) -> Result<PathBuf> {
        let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let d = cache::root().join("runs").join(format!("{what}-{stamp}-{}", std::process::id()));
        fs::create_dir_all(&d)?;
        Ok(d)
    }
}
