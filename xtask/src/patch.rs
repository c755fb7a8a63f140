//! The kernel git tree: the pristine source as one base commit (tag
//! `kckpt-base`), plus `patches/` applied in series order with `git am`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::{cache, pin::Pin};

pub const BASE_TAG: &str = "kckpt-base";

/// The series: `patches/series` if present (one file name a line, `#`
/// comments), else every `patches/*.patch` in name order.
pub fn series(dir: &Path) -> Result<Vec<PathBuf>> {
    let list = dir.join("series");
    let names: Vec<String> = if list.exists() {
        fs::read_to_string(&list)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    } else {
        let mut v: Vec<String> = fs::read_dir(dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.ends_with(".patch"))
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    };
    names
        .into_iter()
        .map(|n| {
            let p = dir.join(&n);
            if !p.exists() {
                bail!("patches/series names {n}, which does not exist");
            }
            Ok(p)
        })
        .collect()
}

/// `patches/` (export-patches --bisect passes a prefix of it to build::Args).
pub fn patches_dir() -> PathBuf {
    crate::repo_root().join("patches")
}

/// The pristine tree for a pin: cache/src-<hash>/linux, a git repo whose one
/// commit is the unmodified source.
pub fn tree_dir(pin: &Pin) -> PathBuf {
    cache::root().join(format!("src-{}", &pin.tarball_sha256[..16])).join("linux")
}

/// git with a fixed identity (the tree's commits are the harness's own).
pub fn git(sh: &Shell) -> xshell::Cmd<'_> {
    cmd!(sh, "git -c user.name=kckpt -c user.email=kckpt@localhost -c advice.detachedHead=false")
}

pub fn ensure_base(sh: &Shell, pin: &Pin, tarball: &Path) -> Result<PathBuf> {
    let tree = tree_dir(pin);
    if tree.join(".git").exists() {
        let _d = sh.push_dir(&tree);
        if git(sh).args(["rev-parse", "-q", "--verify", BASE_TAG]).quiet().ignore_stdout().run().is_ok() {
            return Ok(tree);
        }
    }
    let parent = tree.parent().unwrap().to_path_buf();
    let _ = fs::remove_dir_all(&parent);
    fs::create_dir_all(&parent)?;
    eprintln!("  extracting {}", tarball.display());
    cmd!(sh, "tar -C {parent} -xf {tarball}").quiet().run()?;
    let top = fs::read_dir(&parent)?
        .filter_map(|e| e.ok())
        .find(|e| e.path().is_dir())
        .context("tarball holds no directory")?
        .path();
    fs::rename(&top, &tree)?;
    let _d = sh.push_dir(&tree);
    let msg = format!("pristine {} {}", pin.package, pin.version);
    git(sh).args(["init", "-q"]).quiet().run()?;
    // Debian's top-level .gitignore ignores everything (`/*`): add with -f.
    git(sh).args(["add", "-f", "-A"]).quiet().run()?;
    git(sh).args(["commit", "-q", "--no-verify", "-m", &msg]).quiet().run()?;
    git(sh).args(["tag", BASE_TAG]).quiet().run()?;
    Ok(tree)
}

/// Reset the tree to the base and `git am` the series. Returns the commit.
pub fn apply(sh: &Shell, tree: &Path, patches: &[PathBuf]) -> Result<String> {
    let _d = sh.push_dir(tree);
    let _ = git(sh).args(["am", "--abort"]).quiet().ignore_status().ignore_stderr().run();
    git(sh).args(["checkout", "-q", "-f", "--detach", BASE_TAG]).quiet().run()?;
    // Build output lives in O=, so -x removes only files of earlier patches.
    git(sh).args(["clean", "-q", "-f", "-d", "-x"]).quiet().run()?;
    for p in patches {
        let out = git(sh).args(["am", "-q", "--keep-cr"]).arg(p).quiet().ignore_status().output()?;
        if !out.status.success() {
            let _ = git(sh).args(["am", "--abort"]).quiet().ignore_status().run();
            bail!(
                "patch {} does not apply:\n{}{}",
                p.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(git(sh).args(["rev-parse", "HEAD"]).quiet().read()?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_file_order_wins_and_missing_is_an_error() {
        let d = std::env::temp_dir().join(format!("kckpt-series-{}", std::process::id()));
        fs::create_dir_all(&d).unwrap();
        fs::write(d.join("0001-a.patch"), "").unwrap();
        fs::write(d.join("0002-b.patch"), "").unwrap();
        let s = series(&d).unwrap();
        assert!(s[0].ends_with("0001-a.patch") && s[1].ends_with("0002-b.patch"));
        fs::write(d.join("series"), "# order\n0002-b.patch\n0001-a.patch\n").unwrap();
        let s = series(&d).unwrap();
        assert!(s[0].ends_with("0002-b.patch"));
        fs::write(d.join("series"), "0003-c.patch\n").unwrap();
        assert!(series(&d).unwrap_err().to_string().contains("0003-c.patch"));
        fs::remove_dir_all(&d).unwrap();
    }
}
