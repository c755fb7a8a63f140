//! build-kernel: pin → patched tree → config → `make bzImage`, each stage
//! skipped when its key (a hash of its inputs) is unchanged.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::flavor::Flavor;
use crate::{cache, config, patch, pin};

#[derive(clap::Args, Default, Clone)]
pub struct Args {
    /// Parallel make jobs (default: number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Build the series with checkpoint at this syscall number instead of
    /// 327 ("free": the first unused one), leaving signalfd4 at 327.
    #[arg(long)]
    pub syscall_nr: Option<String>,
    /// Kernel flavor: normal, or debug (lockdep, UBSAN… see kernel-config/flavor/).
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
}

/// What a build produced.
pub struct Kernel {
    pub bzimage: PathBuf,
    pub build_dir: PathBuf,
    pub tree: PathBuf,
    pub key: String,
    pub version: String,
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

pub fn toolchain_id(sh: &Shell) -> String {
    let gcc = cmd!(sh, "gcc --version").quiet().read().unwrap_or_default();
    let rust = crate::toolchain::Toolchain::load().map(|t| t.id()).unwrap_or_default();
    format!("{} / {rust}", gcc.lines().next().unwrap_or(""))
}

pub fn plan(sh: &Shell) -> Result<Plan> {
    plan_with(sh, None)
}

pub fn plan_with(sh: &Shell, syscall_nr: Option<&str>) -> Result<Plan> {
    plan_flavor(sh, syscall_nr, Flavor::Normal)
}

/// The plan of a flavor: its fragments give it its own config key and
/// build directory (the normal flavor's keys are those of plan_with).
pub fn plan_flavor(sh: &Shell, syscall_nr: Option<&str>, flavor: Flavor) -> Result<Plan> {
    let pin = pin::Pin::load()?;
    let patches = patch::series(&patch::patches_dir())?;
    let fragments = flavor.fragments()?;
    let toolchain = toolchain_id(sh);
    let mut k = cache::Key::new("tree");
    k.part("pin", toml::to_string(&pin)?.as_bytes());
    for p in &patches {
        k.part("patch", &std::fs::read(p)?);
    }
    if let Some(nr) = syscall_nr {
        k.part("syscall-nr", nr.as_bytes());
    }
    let tree_key = k.hex();
    for f in &fragments {
        k.part("fragment", &std::fs::read(f)?);
    }
    let config_key = k.hex();
    k.part("toolchain", toolchain.as_bytes());
    Ok(Plan { pin, patches, fragments, toolchain, tree_key, config_key, key: k.hex() })
}

/// The build directory: one per pin and fragments, so that patch changes
/// rebuild incrementally.
fn build_dir(plan: &Plan) -> Result<PathBuf> {
    let mut k = cache::Key::new("build-dir");
    k.part("pin", plan.pin.tarball_sha256.as_bytes());
    for f in &plan.fragments {
        k.part("fragment", &std::fs::read(f)?);
    }
    k.part("toolchain", plan.toolchain.as_bytes());
    Ok(cache::root().join(format!("build-{}", k.hex())))
}

fn stamp(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!(".kckpt-{name}"))
}

fn stamp_is(dir: &Path, name: &str, key: &str) -> bool {
    std::fs::read_to_string(stamp(dir, name)).is_ok_and(|s| s.trim() == key)
}

/// Run a short command with its output appended to `log`.
pub fn logged(c: xshell::Cmd<'_>, log: &Path) -> Result<()> {
    let name = c.to_string();
    let out = c.quiet().ignore_status().output()?;
    let mut f = std::fs::OpenOptions::new().create(true).append(true).open(log)?;
    f.write_all(&out.stdout)?;
    f.write_all(&out.stderr)?;
    if !out.status.success() {
        bail!("{name} failed; see {}\n{}", log.display(), tail(log, 20));
    }
    Ok(())
}

pub fn tail(log: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
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
    eprintln!("$ make {}  (log: {})", args.join(" "), log.display());
    let mut child = Command::new("make")
        .current_dir(tree)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("running make")?;
    let logf = std::sync::Arc::new(std::sync::Mutex::new(
        std::fs::OpenOptions::new().create(true).append(true).open(log)?,
    ));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    let mut readers = Vec::new();
    for r in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let (tx, logf) = (tx.clone(), logf.clone());
        readers.push(std::thread::spawn(move || {
            for line in std::io::BufReader::new(r).lines().map_while(Result::ok) {
                let _ = writeln!(logf.lock().unwrap(), "{line}");
                let _ = tx.send(line);
            }
        }));
    }
    drop(tx);
    let (start, mut last, mut n) = (Instant::now(), Instant::now(), 0usize);
    let mut recent = String::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(500)) {
            Ok(l) => {
                n += 1;
                recent = l;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(_) => break,
        }
        if last.elapsed() > Duration::from_secs(15) {
            eprintln!("  {:>4}s {n} steps, at: {}", start.elapsed().as_secs(), recent.trim());
            last = Instant::now();
        }
    }
    for r in readers {
        let _ = r.join();
    }
    let st = child.wait()?;
    if !st.success() {
        bail!("make failed ({st}); last lines of {}:\n{}", log.display(), tail(log, 30));
    }
    Ok(())
}

pub fn run(args: &Args) -> Result<Kernel> {
    let sh = Shell::new()?;
    let plan = plan_flavor(&sh, args.syscall_nr.as_deref(), args.flavor)?;
    if args.flavor != Flavor::Normal {
        eprintln!("[flavor] {}: + {}", args.flavor.name(), args.flavor.fragment().map(|f| f.display().to_string()).unwrap_or_default());
    }
    let out = build_dir(&plan)?;
    let bz = out.join("arch/x86/boot/bzImage");
    let tree = patch::tree_dir(&plan.pin);
    // Fast path: nothing changed since the last good build.
    if stamp_is(&out, "built", &plan.key) && bz.exists() {
        let version = std::fs::read_to_string(stamp(&out, "version")).unwrap_or_default();
        println!("kernel up to date ({}): {}", plan.key, bz.display());
        return Ok(Kernel { bzimage: bz, build_dir: out, tree, key: plan.key, version: version.trim().into() });
    }
    crate::deps::ensure()?;
    let tc = crate::toolchain::Toolchain::load()?;
    tc.ensure(&sh)?;
    std::fs::create_dir_all(&out)?;
    let log = out.join("build.log");
    let _ = std::fs::remove_file(&log);
    let tarball = stage("pin", || pin::fetch(&plan.pin))?;
    let tree = stage("base", || patch::ensure_base(&plan.pin, &tarball))?;
    if stamp_is(&tree, "applied", &plan.tree_key) {
        eprintln!("[patch] {} patches already applied, skipped", plan.patches.len());
    } else {
        stage("patch", || {
            let _ = std::fs::remove_file(stamp(&tree, "applied"));
            let head = patch::apply(&tree, &plan.patches)?;
            eprintln!("  {} patches applied, HEAD {}", plan.patches.len(), &head[..12]);
            if let Some(want) = &args.syscall_nr {
                let nr = patch::renumber(&tree, want)?;
                eprintln!("  build option: checkpoint at syscall {nr}, signalfd4 back at 327");
            }
            std::fs::write(stamp(&tree, "applied"), &plan.tree_key)?;
            Ok(())
        })?;
    }
    // A tree change may add Kconfig symbols: reconfigure when either changes.
    if stamp_is(&out, "configured", &plan.config_key) {
        eprintln!("[config] unchanged, skipped");
    } else {
        stage("config", || {
            let _ = std::fs::remove_file(stamp(&out, "configured"));
            config::configure(&sh, &tree, &out, &plan.fragments, &tc.make_vars(), &log)?;
            std::fs::write(stamp(&out, "configured"), &plan.config_key)?;
            Ok(())
        })?;
    }
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    stage("build", || {
        let _ = std::fs::remove_file(stamp(&out, "built"));
        let mut args = tc.make_vars();
        args.extend([format!("O={}", out.display()), format!("-j{jobs}"), "bzImage".into()]);
        make_logged(&tree, &args, &log)
    })?;
    let n = stage("rust-objs", || crate::rust_objs::check(&out, &tree))?;
    eprintln!("  {n} Rust objects: ELF32 i386, no SSE/MMX");
    let version = std::fs::read_to_string(out.join("include/config/kernel.release")).unwrap_or_default();
    std::fs::write(stamp(&out, "version"), version.trim())?;
    std::fs::write(stamp(&out, "built"), &plan.key)?;
    println!("kernel built ({}): {}\n  source tree: {}", plan.key, bz.display(), tree.display());
    Ok(Kernel { bzimage: bz, build_dir: out, tree, key: plan.key, version: version.trim().into() })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_flavor_has_its_own_keys_and_build_dir() {
        let sh = Shell::new().unwrap();
        let normal = plan_with(&sh, None).unwrap();
        let same = plan_flavor(&sh, None, Flavor::Normal).unwrap();
        let debug = plan_flavor(&sh, None, Flavor::Debug).unwrap();
        assert_eq!(normal.key, same.key);
        assert_eq!(normal.tree_key, debug.tree_key, "one patched tree for both");
        assert_ne!(normal.config_key, debug.config_key);
        assert_ne!(normal.key, debug.key);
        assert_ne!(build_dir(&normal).unwrap(), build_dir(&debug).unwrap());
        assert_eq!(build_dir(&normal).unwrap(), build_dir(&same).unwrap());
    }
}
