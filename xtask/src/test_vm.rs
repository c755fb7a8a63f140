//! test-vm: build what is missing, boot the guest, parse KTAP from the
//! console, and report one line per test plus `N passed, N failed`.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;
use serde::Serialize;
use xshell::Shell;

use crate::flavor::Flavor;
use crate::verdict::{self, Verdict};
use crate::{build, cache, ktap, rootfs, vm};

/// Default per-test time limit in the guest, seconds.
pub const TEST_TIMEOUT: u64 = 120;

#[derive(clap::Args, Default, Clone)]
pub struct Args {
    /// Run only tests whose name matches (glob, or substring).
    #[arg(long)]
    pub filter: Option<String>,
    /// Copy host files (static i386 programs or scripts) in and run each as a test.
    #[arg(long, num_args = 1..)]
    pub run: Vec<PathBuf>,
    /// Boot to an interactive shell on the console instead of running tests.
    #[arg(long)]
    pub shell: bool,
    /// Keep the work directory and console log.
    #[arg(long)]
    pub keep: bool,
    /// Whole-run time limit in seconds.
    #[arg(long, default_value_t = 600)]
    pub timeout: u64,
    /// Per-test time limit in the guest, seconds.
    #[arg(long, default_value_t = TEST_TIMEOUT)]
    pub test_timeout: u64,
    /// Seconds without console output that count as a hang.
    #[arg(long, default_value_t = 45)]
    pub hang: u64,
    /// Accelerator; default: KVM when a probe boot proves it works, else TCG.
    #[arg(long, value_enum)]
    pub accel: Option<vm::Accel>,
    /// Use this bzImage instead of building (harness tests, bisect).
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Checkpoint at another syscall number (see build-kernel --syscall-nr).
    #[arg(long)]
    pub syscall_nr: Option<String>,
    /// Kernel flavor: debug adds lockdep, UBSAN… and panic_on_warn=1.
    #[arg(long, value_enum, default_value_t)]
    pub flavor: Flavor,
    /// More kernel command-line words, after the flavor's (the last of a
    /// parameter wins: `--append panic_on_warn=0` sees past a first WARN).
    #[arg(long, num_args = 1..)]
    pub append: Vec<String>,
    /// Echo the whole console while it runs.
    #[arg(long, short)]
    pub verbose: bool,
}

/// What a run showed, saved for export-patches' cover letter.
#[derive(Serialize)]
pub struct Evidence {
    pub kernel_key: String,
    pub kernel_version: String,
    pub qemu: String,
    pub accel: String,
    pub passed: usize,
    pub failed: usize,
    pub verdict: String,
    pub ktap: String,
    /// The initramfs the run booted (bench harness boots the same one).
    pub initrd: String,
}

pub fn run(a: &Args) -> Result<i32> {
    crate::deps::ensure()?;
    let sh = Shell::new()?;
    let k = build::run(&build::Args { syscall_nr: a.syscall_nr.clone(), flavor: a.flavor, ..Default::default() })?;
    let nr = rootfs::tree_checkpoint_nr(&k.tree)?;
    let features = rootfs::Features::of_tree(&k.tree)?;
    let (bzimage, build_dir, key, version) = match &a.kernel {
        Some(ext) => (std::fs::canonicalize(ext)?, k.build_dir, "external".to_string(), String::new()),
        None => (k.bzimage, k.build_dir, k.key, k.version),
    };
    let mut tests = rootfs::discover(&crate::repo_root().join("tests/guest"))?;
    for (i, f) in a.run.iter().enumerate() {
        tests.push(rootfs::extra_test(f, i + 1)?);
    }
    let t0 = std::time::Instant::now();
    let initrd = rootfs::build_with(&sh, &build_dir.join("usr/gen_init_cpio"), &tests, nr, Some(&features))?;
    // The short fuzz run's mutants (tests/guest/fuzz_images.c reads them).
    let initrd = crate::fuzz_images::test_vm_initrd(&sh, &build_dir.join("usr/gen_init_cpio"), &initrd)?;
    eprintln!("[rootfs] {} tests, {} ({:.1}s)", tests.len(), initrd.display(), t0.elapsed().as_secs_f64());
    let accel = match a.accel {
        Some(x) => x,
        None if vm::probe_kvm(&bzimage, &initrd)? => vm::Accel::Kvm,
        None => {
            eprintln!("[vm] KVM probe boot printed nothing: using TCG");
            vm::Accel::Tcg
        }
    };
    let mut append = a.flavor.cmdline();
    append.extend(a.append.iter().cloned());
    append.push(format!("kckpt.timeout={}", a.test_timeout));
    if let Some(f) = &a.filter {
        append.push(format!("kckpt.filter={f}"));
    }
    let boot = vm::Boot { kernel: bzimage, initrd, accel, append, mem_mib: 512, interactive: a.shell };
    if a.shell {
        let mut b = boot.clone();
        b.append.push("kckpt.shell=1".into());
        return vm::interactive(&b);
    }
    let work = cache::root().join("runs").join(format!("{}-{}", chrono_stamp(), std::process::id()));
    std::fs::create_dir_all(&work)?;
    let log = work.join("console.log");
    eprintln!("[vm] accel {}, {} kernel, console log {}", accel.name(), a.flavor.name(), log.display());
    let r = vm::run(&boot, Duration::from_secs(a.hang), Duration::from_secs(a.timeout), a.verbose, &log)?;
    let rep = ktap::parse(&r.console);
    let problems = verdict::kernel_problems(&r.console);
    let code = report(&rep, &r.verdict, &problems, r.secs);
    let ev = Evidence {
        kernel_key: key.clone(),
        kernel_version: version,
        qemu: vm::qemu_version()?,
        accel: accel.name().into(),
        passed: rep.passed(),
        failed: code.1,
        verdict: format!("{:?}", r.verdict),
        ktap: ktap_lines(&r.console),
        initrd: boot.initrd.display().to_string(),
    };
    let evdir = cache::root().join("evidence");
    std::fs::create_dir_all(&evdir)?;
    std::fs::write(evdir.join(format!("{key}.json")), serde_json::to_string_pretty(&ev)?)?;
    if a.keep || code.0 != 0 {
        eprintln!("console log kept: {}", log.display());
    } else {
        let _ = std::fs::remove_dir_all(&work);
    }
    Ok(code.0)
}

fn chrono_stamp() -> String {
    let s = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    s.to_string()
}

/// The KTAP part of the console (from the header on, KTAP lines only).
pub fn ktap_lines(console: &str) -> String {
    let mut on = false;
    let mut out = String::new();
    for l in console.lines() {
        on |= l.starts_with("KTAP version");
        let t = l.trim_start();
        if on && (t.starts_with("KTAP") || t.starts_with("1..") || t.starts_with("ok ") || t.starts_with("not ok ") || t.starts_with('#')) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// Print the report; returns (exit code, failed count).
pub fn report(rep: &ktap::Report, v: &Verdict, problems: &[String], secs: f64) -> (i32, usize) {
    println!("KTAP version 1");
    println!("1..{}", rep.tests.len());
    for t in &rep.tests {
        // A failed test shows all it printed; a passed one its "summary:"
        // lines (the fuzz run's figures).
        for d in t.diagnostics.iter().filter(|d| !t.ok || d.starts_with("summary:")) {
            println!("# {d}");
        }
        let dir = t.directive.as_deref().map(|d| format!(" # {d}")).unwrap_or_default();
        println!("{} {} {}{dir}", if t.ok { "ok" } else { "not ok" }, t.number, t.name);
    }
    let mut failed = rep.failed() + rep.missing();
    let mut code = if failed > 0 { 1 } else { 0 };
    for p in &rep.problems {
        println!("# ktap: {p}");
    }
    match v {
        Verdict::Completed => {}
        Verdict::Panic(l) => {
            let l = verdict::panic_line(&format!("{l}\n")).unwrap_or_else(|| l.clone());
            println!("# VERDICT kernel panic: {l}");
            code = 3;
        }
        Verdict::Hang(s) => {
            println!("# VERDICT hang: no console output for {s} s");
            code = 5;
        }
        Verdict::Timeout(s) => {
            println!("# VERDICT timeout: run exceeded {s} s");
            code = 6;
        }
        Verdict::NoExit(m) => {
            println!("# VERDICT guest did not exit cleanly: {m}");
            code = 7;
        }
    }
    if !problems.is_empty() {
        println!("# VERDICT kernel log has {} Oops/BUG/WARNING line(s):", problems.len());
        for p in problems {
            println!("#   {p}");
        }
        if code == 0 || code == 1 {
            code = 4;
        }
        failed += 1;
    }
    if !rep.header && code == 0 {
        code = 7;
    }
    if code != 0 && failed == 0 {
        failed = 1;
    }
    println!("# run took {secs:.1} s");
    if rep.skipped() > 0 {
        println!("{} passed, {} failed, {} skipped", rep.passed(), failed, rep.skipped());
    } else {
        println!("{} passed, {} failed", rep.passed(), failed);
    }
    (code, failed)
}
