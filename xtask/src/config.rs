//! Config: `ARCH=i386 tinyconfig` ⊕ kernel-config/*.config (merged with the
//! kernel's merge_config.sh), olddefconfig, then every fragment option is
//! checked against the result, as kunit.py does.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{bail, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

/// The fragments, in name order.
pub fn fragments() -> Result<Vec<PathBuf>> {
    let dir = crate::repo_root().join("kernel-config");
    let mut v: Vec<PathBuf> = fs::read_dir(&dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "config"))
        .collect();
    v.sort();
    Ok(v)
}

/// Parse `CONFIG_X=v` and `# CONFIG_X is not set` lines. "n" means unset.
pub fn parse(text: &str) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for l in text.lines().map(str::trim) {
        if let Some(rest) = l.strip_prefix("# ").and_then(|r| r.strip_suffix(" is not set")) {
            if rest.starts_with("CONFIG_") {
                m.insert(rest.to_string(), "n".to_string());
            }
        } else if let Some((k, v)) = l.split_once('=') {
            if k.starts_with("CONFIG_") {
                m.insert(k.to_string(), v.to_string());
            }
        }
    }
    m
}

/// Options of `want` that did not survive into `got`, as readable lines.
pub fn check(want: &str, got: &str) -> Vec<String> {
    let got = parse(got);
    parse(want)
        .into_iter()
        .filter_map(|(k, v)| {
            let have = got.get(&k).map(String::as_str).unwrap_or("n");
            (have != v).then(|| format!("{k}={v} (got {k}={have})"))
        })
        .collect()
}

/// Configure `out` from the fragments. `prefix`: a prefix of the series
/// (export-patches --bisect) may not have the symbols later patches add;
/// there, options absent from .config altogether are noted, not fatal.
pub fn configure(sh: &Shell, tree: &Path, out: &Path, frags: &[PathBuf], vars: &[String], log: &Path, prefix: bool) -> Result<()> {
    let _d = sh.push_dir(tree);
    let o = format!("O={}", out.display());
    let run = |c: xshell::Cmd<'_>| crate::proc::logged(c, log);
    run(cmd!(sh, "make {vars...} {o} tinyconfig"))?;
    let cfg = out.join(".config");
    run(cmd!(sh, "scripts/kconfig/merge_config.sh -m -O {out} {cfg} {frags...}"))?;
    run(cmd!(sh, "make {vars...} {o} olddefconfig"))?;
    let got = fs::read_to_string(&cfg)?;
    let present = parse(&got);
    let mut bad = Vec::new();
    for f in frags {
        for m in check(&fs::read_to_string(f)?, &got) {
            let sym = m.split('=').next().unwrap_or("");
            if prefix && !present.contains_key(sym) && !got.contains(&format!("# {sym} is not set")) {
                eprintln!("  bisect: {sym} does not exist at this prefix, skipped");
                continue;
            }
            bad.push(format!("  {}: {m}", f.file_name().unwrap().to_string_lossy()));
        }
    }
    if !bad.is_empty() {
        bail!("config options did not survive olddefconfig:\n{}", bad.join("\n"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_did_not_survive() {
        let want = "CONFIG_A=y\n# CONFIG_B is not set\nCONFIG_C=\"x\"\nCONFIG_D=y\n";
        let got = "CONFIG_A=y\nCONFIG_B=y\nCONFIG_C=\"x\"\n# CONFIG_D is not set\n";
        assert_eq!(check(want, got), vec!["CONFIG_B=n (got CONFIG_B=y)", "CONFIG_D=y (got CONFIG_D=n)"]);
    }

    #[test]
    fn unset_matches_absent() {
        assert!(check("# CONFIG_X is not set\nCONFIG_Y=n\n", "CONFIG_Z=y\n").is_empty());
    }

    #[test]
    fn repo_fragment_parses() {
        for f in fragments().unwrap() {
            assert!(!parse(&fs::read_to_string(f).unwrap()).is_empty());
        }
    }
}
