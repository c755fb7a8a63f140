//! Guest tools: the Rust programs of guest/ (cr), built static for
//! i686-unknown-linux-gnu with Debian's rustc-web and -Zbuild-std, cached
//! by their sources; and their unit tests, run on the host as i386 programs.

use std::path::PathBuf;

use anyhow::{bail, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::cache;

/// Debian's Rust (rustc-web) builds the guest tools: rustup's toolchain has
/// no i686 standard library, and -Zbuild-std makes one from rust-web-src.
pub const GUEST_RUSTC: &str = "/usr/bin/rustc";
pub const GUEST_CARGO: &str = "/usr/bin/cargo";
pub const GUEST_TARGET: &str = "i686-unknown-linux-gnu";

/// The static i386 guest tools of guest/ (cr), rebuilt only when their
/// sources or the checkpoint syscall number change.
pub fn build(sh: &Shell, nr_checkpoint: Option<u32>) -> Result<Vec<(String, PathBuf)>> {
    let dir = crate::repo_root().join("guest");
    let mut k = cache::Key::new("guest-tools");
    k.part("rustc", cmd!(sh, "{GUEST_RUSTC} --version").quiet().read()?.as_bytes());
    k.part("nr", format!("{nr_checkpoint:?}").as_bytes());
    for e in walkdir::WalkDir::new(&dir).sort_by_file_name() {
        let e = e?;
        if e.file_type().is_file() && !e.path().starts_with(dir.join("target")) {
            k.part(&e.path().strip_prefix(&dir)?.to_string_lossy(), &fs::read(e.path())?);
        }
    }
    // cr uses the host crate kckpt-image through a path dependency.
    let image_crate = crate::repo_root().join("crates/kckpt-image");
    for e in walkdir::WalkDir::new(image_crate.join("src")).sort_by_file_name() {
        let e = e?;
        if e.file_type().is_file() {
            k.part(&e.path().strip_prefix(&image_crate)?.to_string_lossy(), &fs::read(e.path())?);
        }
    }
    k.part("kckpt-image/Cargo.toml", &fs::read(image_crate.join("Cargo.toml"))?);
    let out = cache::root().join(format!("guest-tools-{}", k.hex()));
    let tools = ["cr"];
    let list: Vec<(String, PathBuf)> = tools.iter().map(|t| (t.to_string(), out.join(t))).collect();
    if list.iter().all(|(_, p)| p.exists()) {
        return Ok(list);
    }
    let t = std::time::Instant::now();
    eprintln!("[guest-tools] cargo build --target {GUEST_TARGET} -Zbuild-std (first time: minutes)");
    let o = cargo_i686(sh, &["build", "--release"], target_dir(), nr_checkpoint).quiet().ignore_status().output()?;
    if !o.status.success() {
        bail!("building guest tools failed:\n{}", String::from_utf8_lossy(&o.stderr));
    }
    eprintln!("[guest-tools] done in {:.1}s", t.elapsed().as_secs_f64());
    fs::create_dir_all(&out)?;
    for (name, p) in &list {
        let built = target_dir().join(GUEST_TARGET).join("release").join(name);
        if !crate::elf::is_elf32_i386(&fs::read(&built)?) {
            bail!("{} is not an i386 program", built.display());
        }
        fs::copy(&built, p)?;
    }
    Ok(list)
}

fn target_dir() -> PathBuf {
    cache::root().join("guest-target")
}

/// The tests' own, and in the dev profile: their std unwinds, the tools'
/// is built for panic=abort, and one deps directory (or one release build
/// of a panic=abort profile with tests) cannot hold both `core`s.
fn test_target_dir() -> PathBuf {
    cache::root().join("guest-test-target")
}

/// `cargo SUBCOMMAND` in guest/ for i686 with Debian's rustc and -Zbuild-std:
/// the one way guest tools and their tests are built.
fn cargo_i686<'a>(sh: &'a Shell, sub: &[&str], target: PathBuf, nr_checkpoint: Option<u32>) -> xshell::Cmd<'a> {
    let dir = crate::repo_root().join("guest");
    let mut c = cmd!(sh, "{GUEST_CARGO}")
        .args(sub)
        .args(["--locked", "--manifest-path"])
        .arg(dir.join("Cargo.toml"))
        .args(["-Zbuild-std=std,panic_abort", "--target", GUEST_TARGET])
        .env("RUSTC_BOOTSTRAP", "1")
        .env("RUSTC", GUEST_RUSTC)
        .env("CARGO_TARGET_DIR", target)
        .env("CARGO_TARGET_I686_UNKNOWN_LINUX_GNU_RUSTFLAGS", "-C target-feature=+crt-static");
    if let Some(nr) = nr_checkpoint {
        c = c.env("KCKPT_NR_CHECKPOINT", nr.to_string());
    }
    c
}

/// The test executables in cargo's `--message-format=json` output.
fn test_executables(json_lines: &str) -> Vec<PathBuf> {
    json_lines
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["reason"] == "compiler-artifact" && v["profile"]["test"] == true)
        .filter_map(|v| v["executable"].as_str().map(PathBuf::from))
        .collect()
}

/// `cargo xtask test-guest-tools`: cr's unit tests, built for i686 exactly as
/// cr is (static, -Zbuild-std), run on this host as i386 programs (x86_64
/// kernels run them through their IA-32 emulation). Returns the exit code.
pub fn test(sh: &Shell) -> Result<i32> {
    let t = std::time::Instant::now();
    eprintln!("[guest-tools] cargo test --no-run --target {GUEST_TARGET} -Zbuild-std");
    let o = cargo_i686(sh, &["test", "--no-run", "--message-format=json"], test_target_dir(), None).quiet().ignore_status().output()?;
    if !o.status.success() {
        // With --message-format=json the compiler's errors are on stdout.
        let msgs: String = String::from_utf8_lossy(&o.stdout)
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter_map(|v| v["message"]["rendered"].as_str().map(String::from))
            .collect();
        bail!("building cr's tests failed:\n{msgs}{}", stderr_tail(&o.stderr));
    }
    let exes = test_executables(&String::from_utf8_lossy(&o.stdout));
    if exes.is_empty() {
        bail!("cargo built no test executable for guest/");
    }
    eprintln!("[guest-tools] built in {:.1}s", t.elapsed().as_secs_f64());
    let mut code = 0;
    for exe in &exes {
        if !crate::elf::is_elf32_i386(&fs::read(exe)?) {
            bail!("{} is not an i386 program", exe.display());
        }
        if let Err(e) = cmd!(sh, "{exe}").run() {
            eprintln!("{e}");
            code = 1;
        }
    }
    Ok(code)
}

/// The last lines of cargo's stderr (its summary).
fn stderr_tail(stderr: &[u8]) -> String {
    let t = String::from_utf8_lossy(stderr);
    let l: Vec<&str> = t.lines().collect();
    l[l.len().saturating_sub(5)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_test_executables_in_cargo_json() {
        let j = r#"{"reason":"compiler-artifact","profile":{"test":false},"executable":"/t/cr"}
{"reason":"compiler-artifact","profile":{"test":true},"executable":"/t/deps/cr-0123"}
{"reason":"build-finished","success":true}"#;
        assert_eq!(test_executables(j), vec![PathBuf::from("/t/deps/cr-0123")]);
    }
}

