//! The kernel git tree: the pristine source as one base commit (tag
//! `kckpt-base`), plus `patches/` applied in series order with `git am`.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use xshell::{cmd, Shell};

use crate::{cache, pin::Pin};

pub const BASE_TAG: &str = "kckpt-base";

/// The series: `patches/series` if present (one file name a line, `#`
/// comments), else every `patches/*.patch` in name order.
pub fn series(dir: &Path) -> Result<Vec<PathBuf>> {
    let list = dir.join("series");
    let names: Vec<String> = if list.exists() {
        std::fs::read_to_string(&list)?
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .map(String::from)
            .collect()
    } else {
        let mut v: Vec<String> = std::fs::read_dir(dir)
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

/// `patches/`, or `$KCKPT_PATCHES` (bisect builds a prefix of the series).
pub fn patches_dir() -> PathBuf {
    std::env::var_os("KCKPT_PATCHES").map_or_else(|| crate::repo_root().join("patches"), PathBuf::from)
}

/// The pristine tree for a pin: cache/src-<hash>/linux, a git repo whose one
/// commit is the unmodified source.
pub fn tree_dir(pin: &Pin) -> PathBuf {
    cache::root().join(format!("src-{}", &pin.tarball_sha256[..16])).join("linux")
}

fn git(sh: &Shell) -> xshell::Cmd<'_> {
    cmd!(sh, "git -c user.name=kckpt -c user.email=kckpt@localhost -c advice.detachedHead=false")
}

pub fn ensure_base(pin: &Pin, tarball: &Path) -> Result<PathBuf> {
    let tree = tree_dir(pin);
    let sh = Shell::new()?;
    if tree.join(".git").exists() {
        let _d = sh.push_dir(&tree);
        if git(&sh).args(["rev-parse", "-q", "--verify", BASE_TAG]).quiet().ignore_stdout().run().is_ok() {
            return Ok(tree);
        }
    }
    let parent = tree.parent().unwrap().to_path_buf();
    let _ = std::fs::remove_dir_all(&parent);
    std::fs::create_dir_all(&parent)?;
    eprintln!("  extracting {}", tarball.display());
    cmd!(sh, "tar -C {parent} -xf {tarball}").quiet().run()?;
    let top = std::fs::read_dir(&parent)?
        .filter_map(|e| e.ok())
        .find(|e| e.path().is_dir())
        .context("tarball holds no directory")?
        .path();
    std::fs::rename(&top, &tree)?;
    let _d = sh.push_dir(&tree);
    let msg = format!("pristine {} {}", pin.package, pin.version);
    git(&sh).args(["init", "-q"]).quiet().run()?;
    // Debian's top-level .gitignore ignores everything (`/*`): add with -f.
    git(&sh).args(["add", "-f", "-A"]).quiet().run()?;
    git(&sh).args(["commit", "-q", "--no-verify", "-m", &msg]).quiet().run()?;
    git(&sh).args(["tag", BASE_TAG]).quiet().run()?;
    Ok(tree)
}

/// Reset the tree to the base and `git am` the series. Returns the commit.
pub fn apply(tree: &Path, patches: &[PathBuf]) -> Result<String> {
    let sh = Shell::new()?;
    let _d = sh.push_dir(tree);
    let _ = git(&sh).args(["am", "--abort"]).quiet().ignore_status().ignore_stderr().run();
    git(&sh).args(["checkout", "-q", "-f", "--detach", BASE_TAG]).quiet().run()?;
    // Build output lives in O=, so -x removes only files of earlier patches.
    git(&sh).args(["clean", "-q", "-f", "-d", "-x"]).quiet().run()?;
    for p in patches {
        let out = git(&sh).args(["am", "-q", "--keep-cr"]).arg(p).quiet().ignore_status().output()?;
        if !out.status.success() {
            let _ = git(&sh).args(["am", "--abort"]).quiet().ignore_status().run();
            bail!(
                "patch {} does not apply:\n{}{}",
                p.display(),
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
    Ok(git(&sh).args(["rev-parse", "HEAD"]).quiet().read()?)
}

/// The i386 syscall table, inside the kernel tree.
pub const TBL: &str = "arch/x86/entry/syscalls/syscall_32.tbl";

/// Move `checkpoint` in a syscall_32.tbl text to `want` ("free" = the first
/// unused number), giving its old slot back to what the base had there.
/// Returns the new table and number.
pub fn renumber_table(tbl: &str, base: &str, want: &str) -> Result<(String, u32)> {
    let nr_of = |l: &str| l.split_whitespace().next().and_then(|n| n.parse::<u32>().ok());
    let entry = |l: &str| !l.trim_start().starts_with('#') && nr_of(l).is_some();
    let cur = tbl
        .lines()
        .find(|l| entry(l) && l.split_whitespace().nth(2) == Some("checkpoint"))
        .context("the series has no checkpoint entry in syscall_32.tbl")?;
    let old = nr_of(cur).unwrap();
    let used: Vec<u32> = tbl.lines().filter(|l| entry(l)).filter_map(nr_of).filter(|&n| n != old).collect();
    let new = if want == "free" {
        used.iter().max().map_or(0, |m| m + 1)
    } else {
        want.parse().with_context(|| format!("--syscall-nr {want:?}: a number or \"free\""))?
    };
    if new != old && used.contains(&new) {
        bail!("--syscall-nr {new}: that number is taken in syscall_32.tbl");
    }
    if new > 1023 {
        bail!("--syscall-nr {new}: out of range");
    }
    if new == old {
        return Ok((tbl.to_string(), old));
    }
    let restored = base.lines().find(|l| entry(l) && nr_of(l) == Some(old));
    let moved = cur.replacen(&old.to_string(), &new.to_string(), 1);
    let mut lines: Vec<String> = Vec::new();
    for l in tbl.lines() {
        if l == cur {
            if let Some(r) = restored {
                lines.push(r.to_string());
            }
        } else {
            lines.push(l.to_string());
        }
    }
    let at = lines.iter().position(|l| entry(l) && nr_of(l).unwrap() > new).unwrap_or(lines.len());
    lines.insert(at, moved);
    Ok((lines.join("\n") + "\n", new))
}

/// The build option: a local commit that moves checkpoint to another
/// number (the series itself always says 327).
pub fn renumber(tree: &Path, want: &str) -> Result<u32> {
    let sh = Shell::new()?;
    let _d = sh.push_dir(tree);
    let tbl = std::fs::read_to_string(tree.join(TBL))?;
    let base = git(&sh).args(["show", &format!("{BASE_TAG}:{TBL}")]).quiet().read()?;
    let (text, nr) = renumber_table(&tbl, &base, want)?;
    if text != tbl {
        std::fs::write(tree.join(TBL), text)?;
        let msg = format!("kckpt build option: checkpoint at {nr} (not for export)");
        git(&sh).args(["commit", "-q", "-a", "-m", &msg]).quiet().run()?;
    }
    Ok(nr)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renumber_gives_327_back_to_signalfd4() {
        let base = "326\ti386\tcopy_file_range\tsys_copy_file_range\n327\ti386\tsignalfd4\tsys_signalfd4\n462\ti386\tmseal\tsys_mseal\n";
        let tbl = base.replace("signalfd4\tsys_signalfd4", "checkpoint\tsys_checkpoint");
        let (t, nr) = renumber_table(&tbl, base, "free").unwrap();
        assert_eq!(nr, 463);
        assert!(t.contains("327\ti386\tsignalfd4") && t.ends_with("463\ti386\tcheckpoint\tsys_checkpoint\n"), "{t}");
        assert!(renumber_table(&tbl, base, "326").unwrap_err().to_string().contains("taken"));
        assert_eq!(renumber_table(&tbl, base, "327").unwrap().0, tbl);
    }

    #[test]
    fn series_file_order_wins_and_missing_is_an_error() {
        let d = std::env::temp_dir().join(format!("kckpt-series-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(d.join("0001-a.patch"), "").unwrap();
        std::fs::write(d.join("0002-b.patch"), "").unwrap();
        let s = series(&d).unwrap();
        assert!(s[0].ends_with("0001-a.patch") && s[1].ends_with("0002-b.patch"));
        std::fs::write(d.join("series"), "# order\n0002-b.patch\n0001-a.patch\n").unwrap();
        let s = series(&d).unwrap();
        assert!(s[0].ends_with("0002-b.patch"));
        std::fs::write(d.join("series"), "0003-c.patch\n").unwrap();
        assert!(series(&d).unwrap_err().to_string().contains("0003-c.patch"));
        std::fs::remove_dir_all(&d).unwrap();
    }
}
