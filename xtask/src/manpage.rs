//! export-patches' man-pages patch: docs/man/checkpoint.2, linted with
//! `mandoc -T lint` and `man --warnings`, as a patch that adds
//! man/man2/checkpoint.2 to a man-pages tree (a separate series: the
//! man pages are not in the kernel tree).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::cache;

/// The page in this repository.
pub fn source() -> PathBuf {
    crate::repo_root().join("docs/man/checkpoint.2")
}

/// Both linters' complaints about `page`: empty when it is clean.
pub fn lint(sh: &Shell, page: &Path) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let m = cmd!(sh, "mandoc -T lint -W warning {page}").quiet().ignore_status().output().context("mandoc (cargo xtask deps installs it)")?;
    out.extend(String::from_utf8_lossy(&m.stdout).lines().map(|l| format!("mandoc: {l}")));
    let g = cmd!(sh, "man --warnings -E UTF-8 -l {page}").env("LC_ALL", "C.UTF-8").env("MANPAGER", "cat").quiet().ignore_status().output().context("man")?;
    out.extend(String::from_utf8_lossy(&g.stderr).lines().filter(|l| !l.trim().is_empty()).map(|l| format!("man: {l}")));
    if !m.status.success() && out.is_empty() {
        out.push(format!("mandoc: exit {:?}", m.status.code()));
    }
    Ok(out)
}

/// Write the man-pages patch into `out`/man-pages, with `name <mail>` as
/// author and Signed-off-by; returns its path. Fails if a linter complains.
pub fn export(sh: &Shell, out: &Path, name: &str, mail: &str) -> Result<PathBuf> {
    let page = source();
    let problems = lint(sh, &page)?;
    if !problems.is_empty() {
        bail!("docs/man/checkpoint.2 does not lint clean:\n{}", problems.join("\n"));
    }
    let repo = cache::root().join("export-man-pages");
    let _ = fs::remove_dir_all(&repo);
    fs::create_dir_all(repo.join("man/man2"))?;
    let _d = sh.push_dir(&repo);
    let git = |args: &[&str]| {
        cmd!(sh, "git -c user.name={name} -c user.email={mail} -c init.defaultBranch=main")
            .args(args)
            .quiet()
            .ignore_stdout()
            .run()
    };
    git(&["init", "-q"])?;
    git(&["commit", "-q", "--allow-empty", "-m", "base"])?;
    fs::copy(&page, repo.join("man/man2/checkpoint.2"))?;
    git(&["add", "man/man2/checkpoint.2"])?;
    let msg = "checkpoint.2: new page\n\n\
               checkpoint(2) writes the calling process to an image that execve(2)\n\
               restarts (the RFC kernel series \"checkpoint/restart as an executable\n\
               core\", i386 only).\n";
    git(&["commit", "-q", "-s", "-m", msg])?;
    let dir = out.join("man-pages");
    fs::create_dir_all(&dir)?;
    let d = dir.display().to_string();
    cmd!(sh, "git format-patch -q -1 --subject-prefix=PATCH -o {d}").quiet().run()?;
    let p = fs::read_dir(&dir)?.filter_map(|e| e.ok().map(|e| e.path())).find(|p| p.extension().is_some_and(|e| e == "patch"));
    p.context("git format-patch wrote no man-pages patch")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_lints_clean_and_a_broken_one_does_not() {
        let sh = Shell::new().unwrap();
        assert_eq!(lint(&sh, &source()).unwrap(), Vec::<String>::new());
        let bad = std::env::temp_dir().join(format!("kckpt-bad-{}.2", std::process::id()));
        let page = fs::read_to_string(source()).unwrap().replace(".SH ERRORS", ".SH ERRORS\n.XX unknown macro\n.BR");
        fs::write(&bad, page).unwrap();
        let problems = lint(&sh, &bad).unwrap();
        let _ = fs::remove_file(&bad);
        assert!(problems.iter().any(|p| p.starts_with("mandoc:")), "{problems:?}");
    }
}
