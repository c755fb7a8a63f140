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
/// Files whose contents end up as the previous series left them get their
/// old modification time back, so that make rebuilds only what changed.
pub fn apply(sh: &Shell, tree: &Path, patches: &[PathBuf]) -> Result<String> {
    let _d = sh.push_dir(tree);
    let _ = git(sh).args(["am", "--abort"]).quiet().ignore_status().ignore_stderr().run();
    let before = Touched::record(sh, tree)?;
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
    let head = git(sh).args(["rev-parse", "HEAD"]).quiet().read()?;
    before.restore(sh, tree, &head)?;
    Ok(head)
}

/// The files the applied series changed from the base: path, blob, mtime.
struct Touched(Vec<(String, String, std::time::SystemTime)>);

impl Touched {
    /// Nothing when the tree has no commit or local changes (then mtimes say nothing).
    fn record(sh: &Shell, tree: &Path) -> Result<Touched> {
        let Ok(head) = git(sh).args(["rev-parse", "-q", "--verify", "HEAD"]).quiet().read() else { return Ok(Touched(vec![])) };
        if !git(sh).args(["status", "--porcelain", "--untracked-files=no"]).quiet().read()?.is_empty() {
            return Ok(Touched(vec![]));
        }
        let mut v = Vec::new();
        for (path, blob) in changed_blobs(sh, &head)? {
            if let Ok(m) = fs::metadata(tree.join(&path)).and_then(|m| Ok(m.modified()?)) {
                v.push((path, blob, m));
            }
        }
        Ok(Touched(v))
    }

    /// Give back the recorded mtime to each file whose blob at @head is the recorded one.
    fn restore(&self, sh: &Shell, tree: &Path, head: &str) -> Result<()> {
        if self.0.is_empty() {
            return Ok(());
        }
        let now: std::collections::HashMap<String, String> = changed_blobs(sh, head)?.into_iter().collect();
        let mut kept = 0;
        for (path, blob, mtime) in &self.0 {
            if now.get(path) == Some(blob) {
                std::fs::File::options().write(true).open(tree.join(path))?.set_modified(*mtime)?;
                kept += 1;
            }
        }
        eprintln!("  {kept} of {} patched files unchanged since the last series: kept their mtime", self.0.len());
        Ok(())
    }
}

/// (path, blob) of every file @commit changes from the base.
fn changed_blobs(sh: &Shell, commit: &str) -> Result<Vec<(String, String)>> {
    let names = git(sh).args(["diff", "--name-only", "--no-renames", BASE_TAG, commit]).quiet().read()?;
    let paths: Vec<&str> = names.lines().filter(|l| !l.is_empty()).collect();
    if paths.is_empty() {
        return Ok(vec![]);
    }
    let out = git(sh).args(["ls-tree", "-r", commit, "--"]).args(&paths).quiet().read()?;
    Ok(out
        .lines()
        .filter_map(|l| {
            let (meta, path) = l.split_once('\t')?;
            Some((path.to_string(), meta.split_whitespace().nth(2)?.to_string()))
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file the new series leaves as the old one did keeps its mtime; a
    /// file it changes does not.
    #[test]
    fn reapplying_keeps_mtimes_of_unchanged_files() {
        let d = std::env::temp_dir().join(format!("kckpt-apply-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        let tree = d.join("linux");
        fs::create_dir_all(&tree).unwrap();
        let sh = Shell::new().unwrap();
        let _p = sh.push_dir(&tree);
        fs::write(tree.join("a.c"), "a\n").unwrap();
        fs::write(tree.join("b.c"), "b\n").unwrap();
        git(&sh).args(["init", "-q"]).run().unwrap();
        git(&sh).args(["add", "-A"]).run().unwrap();
        git(&sh).args(["commit", "-q", "-m", "base"]).run().unwrap();
        git(&sh).args(["tag", BASE_TAG]).run().unwrap();
        let patch = |name: &str, a: &str, b: &str| {
            git(&sh).args(["checkout", "-q", "--detach", BASE_TAG]).run().unwrap();
            fs::write(tree.join("a.c"), a).unwrap();
            fs::write(tree.join("b.c"), b).unwrap();
            git(&sh).args(["commit", "-q", "-a", "-m", name]).run().unwrap();
            let out = d.join(format!("{name}.patch"));
            fs::write(&out, git(&sh).args(["format-patch", "-1", "--stdout"]).read().unwrap() + "\n").unwrap();
            out
        };
        let p1 = patch("one", "a1\n", "b1\n");
        let p2 = patch("two", "a1\n", "b2\n");
        apply(&sh, &tree, &[p1]).unwrap();
        let old = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000);
        for f in ["a.c", "b.c"] {
            std::fs::File::options().write(true).open(tree.join(f)).unwrap().set_modified(old).unwrap();
        }
        apply(&sh, &tree, &[p2]).unwrap();
        let mtime = |f: &str| fs::metadata(tree.join(f)).unwrap().modified().unwrap();
        assert_eq!(fs::read_to_string(tree.join("b.c")).unwrap(), "b2\n");
        assert_eq!(mtime("a.c"), old);
        assert_ne!(mtime("b.c"), old);
        fs::remove_dir_all(&d).unwrap();
    }

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
