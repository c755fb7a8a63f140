//! Debian packages the project needs. As root they are installed with
//! apt-get; otherwise the one `apt-get install` line is printed.

use anyhow::{bail, Result};
use xshell::{cmd, Shell};

/// Host packages: QEMU, the kernel build, 32-bit static userspace.
pub const PACKAGES: &[&str] = &[
    "qemu-system-x86",
    "make",
    "gcc",
    "flex",
    "bison",
    "bc",
    "libelf-dev",
    "libssl-dev",
    "cpio",
    "xz-utils",
    "gcc-multilib",
    "git",
    "perl",
    "python3",
    // checkpatch.pl's SPDX check runs scripts/spdxcheck.py: ply and git.
    "python3-ply",
    "python3-git",
    "rsync",
    "kmod",
    // Rust for the guest tools (i686, -Zbuild-std) and the kernel.
    "rustc-web",
    "cargo-web",
    "rust-web-src",
    // bindgen-cli (built from crates.io by build-kernel) links libclang.
    "libclang-dev",
    // export-patches lints the checkpoint.2 man page (mandoc -T lint, man).
    "mandoc",
    "man-db",
    // test-vm's persistent disk for two-boot tests: truncate + mkfs.ext2.
    "e2fsprogs",
];

fn missing(sh: &Shell) -> Vec<&'static str> {
    // One dpkg-query for all packages: this runs before every test-vm.
    let fmt = "${Package} ${Status}\n";
    let out = cmd!(sh, "dpkg-query -W -f={fmt} {PACKAGES...}")
        .quiet()
        .ignore_status()
        .ignore_stderr()
        .read()
        .unwrap_or_default();
    let installed: Vec<&str> = out
        .lines()
        .filter(|l| l.ends_with("install ok installed"))
        .filter_map(|l| l.split_whitespace().next())
        .map(|p| p.split(':').next().unwrap_or(p))
        .collect();
    PACKAGES.iter().copied().filter(|p| !installed.contains(p)).collect()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| s.lines().any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

/// `apt-get update`, tolerating a broken index of a secondary architecture
/// (seen here: the i386 security index mid-sync): install still works.
pub fn apt_update(sh: &Shell) -> Result<()> {
    eprintln!("$ apt-get update");
    let out = cmd!(sh, "apt-get update -q").quiet().ignore_status().output()?;
    if !out.status.success() {
        eprintln!(
            "warning: apt-get update reported errors (continuing):\n{}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

pub fn run(sh: &Shell) -> Result<()> {
    apt(sh)?;
    pypi(sh);
    Ok(())
}

/// b4, which export-patches runs on its mbox, comes from PyPI. Only a
/// warning if pip cannot install it: everything but export-patches works
/// without it, and export-patches then says b4 is missing.
fn pypi(sh: &Shell) {
    if cmd!(sh, "b4 --version").quiet().ignore_stdout().ignore_stderr().run().is_ok() {
        println!("deps: b4 installed");
        return;
    }
    eprintln!("$ python3 -m pip install -q b4");
    if let Err(e) = cmd!(sh, "python3 -m pip install -q b4").quiet().run() {
        eprintln!("warning: could not install b4 from PyPI ({e}); export-patches needs it");
    }
}

fn apt(sh: &Shell) -> Result<()> {
    let miss = missing(sh);
    if miss.is_empty() {
        println!("deps: all {} packages installed", PACKAGES.len());
        return Ok(());
    }
    if !is_root() {
        bail!(
            "missing packages; run as root:\n  apt-get install -y {}",
            miss.join(" ")
        );
    }
    apt_update(sh)?;
    eprintln!("$ apt-get install -y {}", miss.join(" "));
    // apt's output goes to stderr: a command with --json keeps stdout
    // for the JSON even when it has to install something first.
    let out = cmd!(sh, "apt-get install -y -q --no-install-recommends {miss...}")
        .env("DEBIAN_FRONTEND", "noninteractive")
        .quiet()
        .ignore_status()
        .output()?;
    eprint!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if !out.status.success() {
        bail!("apt-get install failed ({})", out.status);
    }
    Ok(())
}

/// Called by build-kernel and test-vm: install only when something is missing.
pub fn ensure(sh: &Shell) -> Result<()> {
    if missing(sh).is_empty() {
        return Ok(());
    }
    apt(sh)
}
