//! After a build: every object compiled from Rust must be ELF32 i386 and
//! free of SSE/MMX instructions (the i386 kernel saves no such state around
//! kernel code). Run by build-kernel after every build.

use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use anyhow::{bail, Result};
use fs_err as fs;
use regex::Regex;
use xshell::{cmd, Shell};

/// The objects of `build/rust/` (core, alloc, kernel, the bindings and
/// their C helpers) and every other object whose source in `tree` is `.rs`.
pub fn rust_objects(build: &Path, tree: &Path) -> Vec<PathBuf> {
    walkdir::WalkDir::new(build)
        .into_iter()
        .filter_map(|e| e.ok())
        .map(|e| e.into_path())
        .filter(|p| p.extension().is_some_and(|e| e == "o"))
        .filter(|p| {
            p.strip_prefix(build).is_ok_and(|rel| {
                rel.parent() == Some(Path::new("rust")) || tree.join(rel).with_extension("rs").exists()
            })
        })
        .collect()
}

/// SSE/MMX register operands in `objdump -d` output.
pub fn simd_lines(disasm: &str) -> Vec<&str> {
    static RE: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"%(x|y|z)mm[0-9]+|%mm[0-7]\b").unwrap());
    disasm.lines().filter(|l| RE.is_match(l)).collect()
}

pub fn check(sh: &Shell, build: &Path, tree: &Path) -> Result<usize> {
    let objs = rust_objects(build, tree);
    let mut bad = Vec::new();
    for o in &objs {
        let bytes = fs::read(o)?;
        if !crate::elf::is_elf32_i386(&bytes) {
            bad.push(format!("{}: not ELF32 i386", o.display()));
            continue;
        }
        let dis = cmd!(sh, "objdump -d {o}").quiet().read()?;
        let simd = simd_lines(&dis);
        if !simd.is_empty() {
            bad.push(format!("{}: {} SSE/MMX instructions, e.g. {}", o.display(), simd.len(), simd[0].trim()));
        }
    }
    if !bad.is_empty() {
        bail!("Rust objects fail the i386 kernel rules:\n  {}", bad.join("\n  "));
    }
    Ok(objs.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_simd_operands_only() {
        let d = " 10:\t0f 28 c1   \tmovaps %xmm1,%xmm0\n 13:\t89 c8   \tmov %ecx,%eax\n 15:\t0f 6f c1 \tmovq %mm1,%mm0\n";
        assert_eq!(simd_lines(d).len(), 2);
        assert!(simd_lines(" 1:\tmov %eax,%ebx\n").is_empty());
    }
}
