//! build-kernel: pin → patched tree → config → `make bzImage`, each stage
//! skipped when its key (a hash of its inputs) is unchanged.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use xshell::Shell;

use crate::flavor::Flavor;
use crate::syscalls::{self, SyscallNr};
use crate::{cache, config, patch, pin, proc, toolchain};

#[derive(clap::Args, Default, Clone)]
pub struct Args {
    /// Parallel make jobs (default: number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Build the series with checkpoint at this syscall number instead of
    /// 327 ("free": the first unused one), leaving signalfd4 at 327.
    #[arg(long)]
    pub syscall_nr: Option<SyscallNr>,
    /// Kernel flavor (a config fragment and command line on top of the series).
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
    /// Build this series instead of patches/ (export-patches --bisect: a prefix).
    #[arg(skip)]
    pub patches: Option<PathBuf>,
    /// A prefix of the series may lack the Kconfig symbols of later patches:
    /// fragment options absent from .config are noted, not fatal.
    #[arg(skip)]
    pub prefix: bool,
}

/// What a build produced.
pub struct Kernel {
    pub bzimage: PathBuf,
    pub build_dir: PathBuf,
    pub tree: PathBuf,
    pub key: String,
    pub version: String,
    pub flavor: Flavor,
}

impl Kernel {
    /// The kernel's own initramfs packer, built with it.
    pub fn gen_init_cpio(&self) -> PathBuf {
        self.build_dir.join("usr/gen_init_cpio")
    }
}

/// Inputs of the build, read up front: the plan.
pub struct Plan {
    pub pin: pin::Pin,
    pub patches: Vec<PathBuf>,
    pub fragments: Vec<PathBuf>,
    pub toolchain: String,
    /// Source tree key: pin + patches.
    pub tree_key: String,
    /// Config key: tree + fragments.
    pub config_key: String,
    /// Whole-build key: config + toolchain.
    pub key: String,
}

pub fn plan(sh: &Shell, args: &Args) -> Result<Plan> {
    let pin = pin::Pin::load()?;
    let dir = args.patches.clone().unwrap_or_else(patch::patches_dir);
    let patches = patch::series(&dir)?;
    let fragments = args.flavor.fragments()?;
    let toolchain = toolchain::toolchain_id(sh);
    if args.flavor != Flavor::Normal {
        eprintln!("[flavor] {}: + {:?}", args.flavor.name(), args.flavor.fragment());
    }
    plan_of(&pin, &patches, &fragments, &toolchain, args.syscall_nr)
}

/// The keys from the inputs (pure but for reading the files named).
fn plan_of(pin: &pin::Pin, patches: &[PathBuf], fragments: &[PathBuf], toolchain: &str, nr: Option<SyscallNr>) -> Result<Plan> {
    let mut k = cache::Key::new("tree");
    k.part("pin", toml::to_string(pin)?.as_bytes());
    for p in patches {
        k.part("patch", &fs::read(p)?);
    }
    if let Some(nr) = nr {
        k.part("syscall-nr", nr.to_string().as_bytes());
    }
    let tree_key = k.hex();
    for f in fragments {
        k.part("fragment", &fs::read(f)?);
    }
    let config_key = k.hex();
    k.part("toolchain", toolchain.as_bytes());
    Ok(Plan {
        pin: pin.clone(),
        patches: patches.to_vec(),
        fragments: fragments.to_vec(),
        toolchain: toolchain.into(),
        tree_key,
        config_key,
        key: k.hex(),
    })
}

/// The build directory: one per pin and fragments, so that patch changes
/// rebuild incrementally.
fn build_dir(plan: &Plan) -> Result<PathBuf> {
    let mut k = cache::Key::new("build-dir");
    k.part("pin", plan.pin.tarball_sha256.as_bytes());
    for f in &plan.fragments {
        k.part("fragment", &fs::read(f)?);
    }
    k.part("toolchain", plan.toolchain.as_bytes());
    Ok(cache::root().join(format!("build-{}", k.hex())))
}

fn stamp(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".kckpt-{name}"))
}

fn stamp_is(dir: &Path, name: &str, key: &str) -> bool {
    fs::read_to_string(stamp(dir, name)).is_ok_and(|s| s.trim() == key)
}

fn stage<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let t = Instant::now();
    eprintln!("[{name}] ...");
    let r = f();
    eprintln!("[{name}] {} in {:.1}s", if r.is_ok() { "done" } else { "FAILED" }, t.elapsed().as_secs_f64());
    r
}

/// `make` with output to `log` and a progress line every 15 s.
fn make_logged(tree: &Path, args: &[String], log: &Path) -> Result<()> {
    eprintln!("$ cd {} && {}  (log: {})", tree.display(), proc::shell_line("make", args), log.display());
    let (start, mut last, mut n) = (Instant::now(), Instant::now(), 0usize);
    let mut recent = String::new();
    let end = proc::stream(duct::cmd("make", args).dir(tree), log, proc::Limits::default(), |ev| {
        if let proc::Event::Line(l) = ev {
            n += 1;
            recent = l.to_string();
        }
        if last.elapsed() > Duration::from_secs(15) {
            eprintln!("  {:>4}s {n} steps, at: {}", start.elapsed().as_secs(), recent.trim());
            last = Instant::now();
        }
        proc::Flow::Go
    })
    .context("running make")?;
    if end != proc::End::Exited(Some(0)) {
        bail!("make failed ({end:?}); last lines of {}:\n{}", log.display(), proc::tail(log, 30));
    }
    Ok(())
}

/// pin → base → patch: the kernel git tree with the series applied (and
/// renumbered for `--syscall-nr`), each step skipped when unchanged.
pub fn prepare_tree(sh: &Shell, plan: &Plan, args: &Args) -> Result<PathBuf> {
    let tarball = stage("pin", || pin::fetch(sh, &plan.pin))?;
    let tree = stage("base", || patch::ensure_base(sh, &plan.pin, &tarball))?;
    if stamp_is(&tree, "applied", &plan.tree_key) {
        eprintln!("[patch] {} patches already applied, skipped", plan.patches.len());
        return Ok(tree);
    }
    stage("patch", || {
        let _ = fs::remove_file(stamp(&tree, "applied"));
        let head = patch::apply(sh, &tree, &plan.patches)?;
        eprintln!("  {} patches applied, HEAD {}", plan.patches.len(), &head[..12]);
        if let Some(want) = args.syscall_nr {
            let nr = syscalls::renumber(sh, &tree, want)?;
            eprintln!("  build option: checkpoint at syscall {nr}, signalfd4 back at 327");
        }
        fs::write(stamp(&tree, "applied"), &plan.tree_key)?;
        Ok(())
    })?;
    Ok(tree)
}

/// build-kernel. Progress goes to stderr; stdout stays free for the
/// commands that print JSON.
pub fn run(sh: &Shell, args: &Args) -> Result<Kernel> {
    let plan = plan(sh, args)?;
    let out = build_dir(&plan)?;
    let bz = out.join("arch/x86/boot/bzImage");
    let tree = patch::tree_dir(&plan.pin);
    let kernel = |tree: PathBuf, version: String| Kernel {
        bzimage: bz.clone(),
        build_dir: out.clone(),
        tree,
        key: plan.key.clone(),
        version: version.trim().into(),
        flavor: args.flavor,
    };
    // Fast path: nothing changed since the last good build.
    if stamp_is(&out, "built", &plan.key) && bz.exists() {
        let version = fs::read_to_string(stamp(&out, "version")).unwrap_or_default();
        eprintln!("kernel up to date ({}): {}", plan.key, bz.display());
        return Ok(kernel(tree, version));
    }
    crate::deps::ensure(sh)?;
    let tc = toolchain::Toolchain::load()?;
    tc.ensure(sh)?;
    fs::create_dir_all(&out)?;
    let log = out.join("build.log");
    let _ = fs::remove_file(&log);
    let tree = prepare_tree(sh, &plan, args)?;
    // A tree change may add Kconfig symbols: reconfigure when either changes.
    if stamp_is(&out, "configured", &plan.config_key) {
        eprintln!("[config] unchanged, skipped");
    } else {
        stage("config", || {
            let _ = fs::remove_file(stamp(&out, "configured"));
            config::configure(sh, &tree, &out, &plan.fragments, &tc.make_vars(), &log, args.prefix)?;
            fs::write(stamp(&out, "configured"), &plan.config_key)?;
            Ok(())
        })?;
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    stage("build", || {
        let _ = fs::remove_file(stamp(&out, "built"));
        let mut args = tc.make_vars();
        args.extend([format!("O={}", out.display()), format!("-j{jobs}"), "bzImage".into()]);
        make_logged(&tree, &args, &log)
    })?;
    let n = stage("rust-objs", || crate::rust_objs::check(sh, &out, &tree))?;
    eprintln!("  {n} Rust objects: ELF32 i386, no SSE/MMX");
    let version = fs::read_to_string(out.join("include/config/kernel.release")).unwrap_or_default();
    fs::write(stamp(&out, "version"), version.trim())?;
    fs::write(stamp(&out, "built"), &plan.key)?;
    eprintln!("kernel built ({}): {}\n  source tree: {}", plan.key, bz.display(), tree.display());
    Ok(kernel(tree, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_their_inputs() {
        let d = std::env::temp_dir().join(format!("kckpt-plan-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        let (p, f) = (d.join("0001.patch"), d.join("a.config"));
        std::fs::write(&p, "patch").unwrap();
        std::fs::write(&f, "CONFIG_A=y\n").unwrap();
        let pin = pin::Pin::load().unwrap();
        let plan = |nr, tc: &str| plan_of(&pin, &[p.clone()], &[f.clone()], tc, nr).unwrap();
        let base = plan(None, "gcc 12");
        let free = plan(Some(SyscallNr::Free), "gcc 12");
        let other_tc = plan(None, "gcc 13");
        assert_ne!(base.tree_key, free.tree_key, "the syscall number is part of the tree");
        assert_eq!(base.tree_key, other_tc.tree_key, "the toolchain is not");
        assert_eq!(base.config_key, other_tc.config_key);
        assert_ne!(base.key, other_tc.key);
        std::fs::write(&f, "CONFIG_A=n\n").unwrap();
        let refrag = plan(None, "gcc 12");
        assert_eq!(base.tree_key, refrag.tree_key);
        assert_ne!(base.config_key, refrag.config_key);
        std::fs::remove_dir_all(&d).unwrap();
    }
}
