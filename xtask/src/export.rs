//! export-patches: the kernel series as a mailing-list series — format-patch
//! with cover letter, thread, version and base; checkpatch, Signed-off-by,
//! subject prefix and (optionally) bisect gates; recipients from
//! get_maintainer.pl; range-diff against the previous exported version.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::guest::Guest;
use crate::patch::{self, git};
use crate::{build, cache, test_vm};

#[derive(clap::Args)]
pub struct Args {
    /// Series version (vN in the subject); v2+ carries a range-diff to v(N-1).
    #[arg(long = "reroll-count", default_value_t = 1)]
    pub version: u32,
    #[arg(long)]
    pub to: Vec<String>,
    #[arg(long)]
    pub cc: Vec<String>,
    /// Output directory (default: target/patches-vN).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Author and sign off the series as "Name <mail>" (default: git
    /// config user.name and user.email); the mail's domain needs a dot.
    #[arg(long)]
    pub signoff: Option<String>,
    /// Build and test every prefix of the series.
    #[arg(long)]
    pub bisect: bool,
}

/// Expected subject prefixes for the paths a patch touches.
pub fn expected_prefixes(paths: &[String]) -> BTreeSet<&'static str> {
    let rules: &[(&str, &str)] = &[
        ("arch/x86/entry/syscalls/", "x86/syscalls"),
        ("fs/binfmt_cr", "fs: binfmt_cr"),
        ("kernel/checkpoint", "checkpoint"),
        ("rust/", "rust"),
        ("scripts/generate_rust_target", "rust"),
        ("arch/x86/Makefile", "x86/rust"),
        ("Documentation/", "Documentation"),
        ("arch/x86/", "x86"),
        ("include/uapi/", "uapi"),
        ("lib/", "lib"),
        ("init/", "init"),
    ];
    paths
        .iter()
        .filter_map(|p| rules.iter().find(|(pre, _)| p.starts_with(pre)).map(|(_, s)| *s))
        .collect()
}

/// Does the subject's prefix (text before the last ": ") name one of the
/// touched subsystems? Accepts `a: b:` stacks and `a/b:` forms.
pub fn prefix_ok(subject: &str, expected: &BTreeSet<&str>) -> bool {
    let Some((pre, _)) = subject.rsplit_once(": ") else { return false };
    let pre = pre.trim().to_ascii_lowercase();
    expected.is_empty()
        || expected.iter().any(|e| {
            let e = e.to_ascii_lowercase();
            pre.contains(&e) || e.split([':', '/', ' ']).filter(|w| !w.is_empty()).all(|w| pre.contains(w))
        })
}

#[derive(serde::Deserialize, Default)]
struct Exceptions {
    #[serde(default)]
    exception: Vec<Exception>,
}

#[derive(serde::Deserialize, Clone)]
pub struct Exception {
    patch: String,
    #[serde(rename = "type")]
    kind: String,
    reason: String,
}

fn exceptions() -> Result<Vec<Exception>> {
    let p = crate::repo_root().join("patches/checkpatch-exceptions.toml");
    if !p.exists() {
        return Ok(vec![]);
    }
    Ok(toml::from_str::<Exceptions>(&fs::read_to_string(&p)?)?.exception)
}

/// Split checkpatch's terse lines into (not accepted, accepted with reason).
pub fn classify(subject: &str, lines: &str, exc: &[Exception]) -> (Vec<String>, Vec<String>) {
    let mut bad = Vec::new();
    let mut ok = Vec::new();
    for l in lines.lines().filter(|l| l.contains("ERROR:") || l.contains("WARNING:") || l.contains("CHECK:")) {
        match exc.iter().find(|e| subject.starts_with(&e.patch) && l.contains(&format!(":{}:", e.kind))) {
            Some(e) => ok.push(format!("{}: {} ({})", e.patch, e.kind, e.reason)),
            None => bad.push(l.to_string()),
        }
    }
    (bad, ok)
}

struct Gate {
    subject: String,
    checkpatch: String,
    accepted: Vec<String>,
    signoff: bool,
    prefix: bool,
    recipients: Vec<String>,
}


pub fn run(sh: &Shell, a: &Args) -> Result<()> {
    let b = build::Args::default();
    let plan = build::plan(sh, &b)?;
    let tree = build::prepare_tree(sh, &plan, &b)?;
    if plan.patches.is_empty() {
        bail!("patches/ is empty: nothing to export");
    }
    let _d = sh.push_dir(&tree);
    let base = git(sh).args(["rev-parse", patch::BASE_TAG]).quiet().read()?;
    let commits: Vec<String> = git(sh)
        .args(["rev-list", "--reverse", &format!("{}..HEAD", patch::BASE_TAG)])
        .quiet()
        .read()?
        .lines()
        .map(String::from)
        .collect();
    let (name, mail) = identity(sh, a.signoff.as_deref())?;
    let mut gates = Vec::new();
    for c in &commits {
        gates.push(gate(sh, c, &name, &mail)?);
    }
    let out = a.out.clone().unwrap_or_else(|| crate::repo_root().join(format!("target/patches-v{}", a.version)));
    let _ = fs::remove_dir_all(&out);
    fs::create_dir_all(&out)?;

    // Recipients: union of get_maintainer.pl over the patches, plus --to/--cc.
    let mut cc: BTreeSet<String> = gates.iter().flat_map(|g| g.recipients.iter().cloned()).collect();
    cc.extend(a.cc.iter().cloned());
    let to: Vec<String> = if a.to.is_empty() { vec!["linux-kernel@vger.kernel.org".into()] } else { a.to.clone() };
    let mut fpargs: Vec<String> = vec![
        "format-patch".into(),
        "--cover-letter".into(),
        "--thread".into(),
        "--subject-prefix=PATCH RFC".into(),
        format!("-v{}", a.version),
        format!("--base={base}"),
        "-o".into(),
        out.display().to_string(),
    ];
    fpargs.extend(to.iter().map(|t| format!("--to={t}")));
    fpargs.extend(cc.iter().map(|c| format!("--cc={c}")));
    if a.version > 1 {
        let prev = format!("kckpt-export-v{}", a.version - 1);
        if git(sh).args(["rev-parse", "-q", "--verify", &prev]).quiet().ignore_stdout().run().is_ok() {
            fpargs.push(format!("--range-diff={}..{prev}", patch::BASE_TAG));
        } else {
            eprintln!("warning: no recorded export {prev}: no range-diff");
        }
    }
    fpargs.push(format!("{}..HEAD", patch::BASE_TAG));
    cmd!(sh, "git -c user.name={name} -c user.email={mail}").args(&fpargs).quiet().run().context("git format-patch")?;
    for f in fs::read_dir(&out)?.filter_map(|e| e.ok().map(|e| e.path())) {
        if f.extension().is_some_and(|e| e == "patch") {
            let text = fs::read_to_string(&f)?;
            fs::write(&f, with_identity(&text, &name, &mail))?;
        }
    }
    git(sh).args(["tag", "-f", &format!("kckpt-export-v{}", a.version), "HEAD"]).quiet().run()?;

    round_trip(sh, &out)?;
    b4_round_trip(sh, &out)?;
    let man = crate::manpage::export(sh, &out, &name, &mail)?;
    let evidence = evidence(&plan.key);
    fill_cover(&out, &gates, &evidence, &plan)?;
    println!("series v{} ({} patches) in {}", a.version, gates.len(), out.display());
    println!("{:<4} {:<60} {:<10} {:<8} {:<7}", "#", "subject", "checkpatch", "sign-off", "prefix");
    let mut bad = 0;
    for (i, g) in gates.iter().enumerate() {
        let cp_ok = !g.checkpatch.ends_with("issues");
        bad += usize::from(!cp_ok || !g.signoff || !g.prefix);
        println!(
            "{:<4} {:<60} {:<10} {:<8} {:<7}",
            i + 1,
            g.subject.chars().take(60).collect::<String>(),
            g.checkpatch,
            if g.signoff { "yes" } else { "MISSING" },
            if g.prefix { "ok" } else { "WRONG" }
        );
    }
    let bisect_failed = if a.bisect { bisect(sh, &commits)? } else { 0 };
    println!("man page: {} (mandoc -T lint and man --warnings clean)", man.display());
    println!("\nto send (nothing was sent):\n  git send-email {}/*.patch", out.display());
    if bad > 0 {
        bail!("{bad} patch(es) fail a gate; see the table");
    }
    if bisect_failed > 0 {
        bail!("{bisect_failed} prefix(es) of the series fail to build or test");
    }
    Ok(())
}

/// The series' author: `--signoff "Name <mail>"`, else git config
/// user.name/user.email. A Signed-off-by is a DCO statement by a person:
/// refuse an address whose domain has no dot (`kckpt@localhost`).
pub fn identity(sh: &Shell, signoff: Option<&str>) -> Result<(String, String)> {
    let (name, mail) = match signoff {
        Some(s) => {
            let (n, m) = s.split_once('<').context("--signoff wants \"Name <mail>\"")?;
            (n.trim().to_string(), m.trim_end_matches('>').trim().to_string())
        }
        None => {
            let _d = sh.push_dir(crate::repo_root());
            let get = |k: &str| cmd!(sh, "git config {k}").quiet().ignore_stderr().read().unwrap_or_default();
            (get("user.name"), get("user.email"))
        }
    };
    dco_ok(&name, &mail)?;
    Ok((name, mail))
}

/// Is "name <mail>" an identity a Signed-off-by may carry?
pub fn dco_ok(name: &str, mail: &str) -> Result<()> {
    let domain = mail.rsplit_once('@').map(|(_, d)| d).unwrap_or("");
    if name.trim().is_empty() || mail.contains(char::is_whitespace) || !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
        bail!("\"{name} <{mail}>\" is not an identity to sign off with (a name and a mail whose domain has a dot): set git config user.name/user.email or pass --signoff \"Name <mail>\"");
    }
    Ok(())
}

/// The harness's placeholder identity in the patch files (patches/*.patch).
const PLACEHOLDER: &str = "kckpt developers <kckpt@localhost>";

/// `patch` (format-patch output) authored and signed off by `name <mail>`
/// instead of the placeholder the series is kept under.
pub fn with_identity(patch: &str, name: &str, mail: &str) -> String {
    let who = format!("{name} <{mail}>");
    let mut out = String::with_capacity(patch.len());
    let mut in_header = true;
    for line in patch.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if in_header && bare == format!("From: {PLACEHOLDER}") {
            out.push_str(&format!("From: {who}\n"));
        } else if bare == format!("Signed-off-by: {PLACEHOLDER}") {
            out.push_str(&format!("Signed-off-by: {who}\n"));
        } else {
            out.push_str(line);
        }
        if bare.is_empty() {
            in_header = false;
        }
    }
    out
}

fn gate(sh: &Shell, commit: &str, name: &str, mail: &str) -> Result<Gate> {
    let subject = git(sh).args(["log", "-1", "--format=%s", commit]).quiet().read()?;
    let body = git(sh).args(["log", "-1", "--format=%B", commit]).quiet().read()?;
    let files: Vec<String> = git(sh)
        .args(["diff-tree", "--no-commit-id", "--name-only", "-r", commit])
        .quiet()
        .read()?
        .lines()
        .map(String::from)
        .collect();
    let p = git(sh).args(["format-patch", "-1", "--stdout", commit]).quiet().output()?.stdout;
    let tmp = cache::root().join("export-one.patch");
    fs::write(&tmp, with_identity(&String::from_utf8_lossy(&p), name, mail))?;
    // Debian's python3 (with python3-ply) before any other in PATH, for
    // checkpatch's spdxcheck.py.
    let path = format!("/usr/bin:{}", std::env::var("PATH").unwrap_or_default());
    let cp = cmd!(sh, "perl scripts/checkpatch.pl --strict --terse --no-summary --show-types {tmp}")
        .env("PATH", path)
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();
    let (bad, accepted) = classify(&subject, &cp, &exceptions()?);
    let checkpatch = match (bad.len(), accepted.len()) {
        (0, 0) => "clean".into(),
        (0, a) => format!("{a} accepted"),
        (n, _) => format!("{n} issues"),
    };
    if !bad.is_empty() {
        eprintln!("checkpatch on \"{subject}\":\n{}", bad.join("\n"));
    }
    let gm = cmd!(sh, "perl scripts/get_maintainer.pl --no-rolestats --no-git --no-git-fallback --no-tree {tmp}")
        .quiet()
        .ignore_status()
        .read()
        .unwrap_or_default();
    Ok(Gate {
        subject: subject.clone(),
        checkpatch,
        accepted,
        signoff: body.lines().any(|l| l.starts_with("Signed-off-by: ")) && !with_identity(&body, name, mail).contains("@localhost>"),
        prefix: prefix_ok(&subject, &expected_prefixes(&files)),
        recipients: gm.lines().map(|l| l.trim().to_string()).filter(|l| l.contains('@')).collect(),
    })
}

/// The exported files, applied with `git am` to a fresh pristine worktree,
/// must give exactly the tree build-kernel built.
fn round_trip(sh: &Shell, out: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> = fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "patch") && !p.to_string_lossy().contains("0000-cover-letter"))
        .collect();
    files.sort();
    let got = am_tree(sh, &files, "git am of the exported series")?;
    println!("round trip: git am of the export on a pristine tree gives the built tree ({})", &got[..12]);
    Ok(())
}

/// `files` applied with `git am` on a pristine worktree must give the
/// built tree; returns that tree's id.
fn am_tree(sh: &Shell, files: &[PathBuf], what: &str) -> Result<String> {
    let want = git(sh).args(["rev-parse", "HEAD^{tree}"]).quiet().read()?;
    let wt = cache::root().join("export-roundtrip");
    let _ = git(sh).args(["worktree", "remove", "--force"]).arg(&wt).quiet().ignore_status().ignore_stderr().run();
    let _ = fs::remove_dir_all(&wt);
    git(sh).args(["worktree", "add", "-q", "--detach"]).arg(&wt).arg(patch::BASE_TAG).quiet().run()?;
    let got = {
        let _d = sh.push_dir(&wt);
        git(sh).args(["am", "-q"]).args(files).quiet().run().context(what.to_string())?;
        git(sh).args(["rev-parse", "HEAD^{tree}"]).quiet().read()?
    };
    git(sh).args(["worktree", "remove", "--force"]).arg(&wt).quiet().run()?;
    if got != want {
        bail!("{what}: gives tree {got}, build-kernel's is {want}");
    }
    Ok(got)
}

/// The series as a maintainer takes it off the list: the exported files
/// (cover letter first) as one mbox, through `b4 am` (offline, from that
/// mbox), whose am-ready mbox must apply to the built tree too.
fn b4_round_trip(sh: &Shell, out: &Path) -> Result<()> {
    let mut files: Vec<PathBuf> =
        fs::read_dir(out)?.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "patch")).collect();
    files.sort();
    let dir = cache::root().join("export-b4");
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir)?;
    let mbox = dir.join("series.mbx");
    let mut all = String::new();
    for f in &files {
        all.push_str(&fs::read_to_string(f)?);
    }
    fs::write(&mbox, all)?;
    let am_dir = dir.join("am");
    let log = cmd!(sh, "b4 --offline-mode am -m {mbox} -o {am_dir}")
        .quiet()
        .ignore_status()
        .output()
        .context("b4 (cargo xtask deps installs it from PyPI)")?;
    let said = String::from_utf8_lossy(&log.stderr).to_string() + &String::from_utf8_lossy(&log.stdout);
    let ready: Vec<PathBuf> = fs::read_dir(&am_dir)
        .map(|d| d.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.extension().is_some_and(|e| e == "mbx")).collect())
        .unwrap_or_default();
    let [ready] = ready.as_slice() else {
        bail!("b4 am made no am-ready mbox from the export:\n{said}");
    };
    let n = files.iter().filter(|f| !f.to_string_lossy().contains("0000-cover-letter")).count();
    if !said.contains(&format!("Total patches: {n}")) {
        bail!("b4 am did not take all {n} patches:\n{said}");
    }
    let got = am_tree(sh, std::slice::from_ref(ready), "git am of b4 am's mbox")?;
    println!("b4 am: the mbox of the export gives {n} patches that git am applies to the built tree ({})", &got[..12]);
    Ok(())
}

/// The evidence of the last full test-vm run of exactly this series.
fn evidence(key: &str) -> String {
    let p = test_vm::full_evidence_path(key);
    match fs::read_to_string(&p).ok().and_then(|s| serde_json::from_str::<serde_json::Value>(&s).ok()) {
        Some(v) => format!(
            "Tested with `cargo xtask test-vm` on exactly this series:\n  kernel {}, {}, accel {}\n  {} passed, {} failed ({})\n\n{}",
            v["kernel_version"].as_str().unwrap_or("?"),
            v["qemu"].as_str().unwrap_or("?"),
            v["accel"].as_str().unwrap_or("?"),
            v["passed"],
            v["failed"],
            v["verdict"].as_str().unwrap_or("?"),
            v["ktap"].as_str().unwrap_or("").lines().filter(|l| !l.starts_with('#')).map(|l| format!("  {l}\n")).collect::<String>()
        ),
        None => "NO EVIDENCE: a full `cargo xtask test-vm` (no --filter, no --run) has not been run on this exact series.".into(),
    }
}

fn fill_cover(out: &Path, gates: &[Gate], evidence: &str, plan: &build::Plan) -> Result<()> {
    let tmpl = fs::read_to_string(crate::repo_root().join("patches/cover-letter.tmpl"))
        .context("patches/cover-letter.tmpl")?;
    let cover = fs::read_dir(out)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.to_string_lossy().ends_with("0000-cover-letter.patch"))
        .context("no cover letter written")?;
    let text = fs::read_to_string(&cover)?;
    let (title, body) = tmpl.split_once('\n').context("template: first line is the title")?;
    let mut gates_text: String = gates
        .iter()
        .map(|g| format!("  {:<10} {}\n", g.checkpatch, g.subject))
        .collect();
    let accepted: Vec<&String> = gates.iter().flat_map(|g| g.accepted.iter()).collect();
    if !accepted.is_empty() {
        gates_text.push_str("\nAccepted checkpatch exceptions:\n");
        for a in accepted {
            gates_text.push_str(&format!("  - {a}\n"));
        }
    }
    let body = body
        .replace("@EVIDENCE@", evidence)
        .replace("@CHECKPATCH@", &gates_text)
        .replace("@KERNEL@", &format!("{} {}", plan.pin.package, plan.pin.version));
    let text = text.replace("*** SUBJECT HERE ***", title.trim()).replace("*** BLURB HERE ***", body.trim());
    fs::write(&cover, text)?;
    Ok(())
}

/// Build and test every prefix, each in a cache of its own (the downloads
/// and tools are shared); returns how many failed.
fn bisect(sh: &Shell, commits: &[String]) -> Result<usize> {
    let mut failed = 0;
    let bcache = cache::root().join("bisect");
    fs::create_dir_all(&bcache)?;
    for shared in ["dl", "busybox", "guest-target"] {
        let (src, dst) = (cache::root().join(shared), bcache.join(shared));
        if src.exists() && !dst.exists() {
            fs::os::unix::fs::symlink(&src, &dst)?;
        }
    }
    for e in fs::read_dir(cache::root())?.filter_map(|e| e.ok()) {
        let n = e.file_name().to_string_lossy().into_owned();
        if n.starts_with("tools-") && !bcache.join(&n).exists() {
            fs::os::unix::fs::symlink(e.path(), bcache.join(&n))?;
        }
    }
    println!("\nbisect: every prefix of the series (cache {})", bcache.display());
    println!("{:<4} {:<12} {:<8} {:<8}", "#", "commit", "build", "test-vm");
    let series = patch::series(&patch::patches_dir())?;
    let tv = test_vm::Args::default();
    // A two-boot test whose boot 2 is the other flavor would build each
    // prefix's debug kernel too: those run on the whole series only.
    let tests: Vec<_> = test_vm::tests_of(&tv)?.into_iter().filter(|t| t.reboot != Some(crate::reboot::Boot2::OtherFlavor)).collect();
    for (i, c) in commits.iter().enumerate() {
        // The prefix as a series directory of its own.
        let dir = cache::root().join(format!("bisect-{}", i + 1));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir)?;
        for p in &series[..=i] {
            fs::copy(p, dir.join(p.file_name().unwrap()))?;
        }
        let b = build::Args { patches: Some(dir), prefix: true, ..Default::default() };
        let (built, t) = cache::with_root(&bcache, || match Guest::with_build(sh, &tv.guest, &b) {
            Ok(g) => {
                let t = match test_vm::execute(&g, &tv, &tests) {
                    Ok(r) => format!("{} ({})", if r.outcome.code == 0 { "pass" } else { "FAIL" }, r.summary()),
                    Err(e) => format!("FAIL (test-vm: {e:#})"),
                };
                (true, t)
            }
            Err(e) => {
                eprintln!("prefix {} does not build: {e:#}", i + 1);
                (false, "-".to_string())
            }
        });
        failed += usize::from(!t.starts_with("pass"));
        println!("{:<4} {:<12} {:<8} {}", i + 1, &c[..12], if built { "ok" } else { "FAIL" }, t);
    }
    Ok(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signoff_needs_a_name_and_a_dotted_domain() {
        assert!(dco_ok("Ada Lovelace", "ada@example.org").is_ok());
        for (n, m) in [("kckpt developers", "kckpt@localhost"), ("", "a@b.org"), ("A", "a@.org"), ("A", "a@org."), ("A", "no-at"), ("A", "a b@c.org")] {
            assert!(dco_ok(n, m).is_err(), "{n} <{m}>");
        }
    }

    #[test]
    fn the_placeholder_author_and_signoff_become_the_identity() {
        let p = "From 0123 Mon Sep 17 00:00:00 2001\nFrom: kckpt developers <kckpt@localhost>\nSubject: x\n\n\
                 body\nFrom: kckpt developers <kckpt@localhost> (quoted, not a header)\n\n\
                 Signed-off-by: kckpt developers <kckpt@localhost>\nSigned-off-by: Other <o@x.org>\n---\n";
        let q = with_identity(p, "Ada", "ada@example.org");
        assert!(q.contains("\nFrom: Ada <ada@example.org>\nSubject: x\n"), "{q}");
        assert!(q.contains("\nFrom: kckpt developers <kckpt@localhost> (quoted"), "{q}");
        assert!(q.contains("Signed-off-by: Ada <ada@example.org>\nSigned-off-by: Other <o@x.org>\n"), "{q}");
        assert!(!q.contains("Signed-off-by: kckpt developers"), "{q}");
    }

    #[test]
    fn exceptions_accept_only_their_patch_and_type() {
        let exc = vec![Exception { patch: "lib: add".into(), kind: "FILE_PATH_CHANGES".into(), reason: "r".into() }];
        let cp = "x.patch:1: WARNING:FILE_PATH_CHANGES: added, moved or deleted file(s)\nx.patch:9: CHECK:SPACING: foo\n";
        let (bad, ok) = classify("lib: add a test syscall", cp, &exc);
        assert_eq!((bad.len(), ok.len()), (1, 1));
        let (bad, ok) = classify("fs: other", cp, &exc);
        assert_eq!((bad.len(), ok.len()), (2, 0));
    }

    #[test]
    fn prefixes_follow_touched_paths() {
        let e = expected_prefixes(&["arch/x86/entry/syscalls/syscall_32.tbl".into(), "include/linux/syscalls.h".into()]);
        assert!(prefix_ok("x86/syscalls: add checkpoint at 327", &e));
        assert!(!prefix_ok("add checkpoint syscall", &e));
        let e = expected_prefixes(&["fs/binfmt_cr.c".into()]);
        assert!(prefix_ok("fs: binfmt_cr: restart a process from its image", &e));
        assert!(!prefix_ok("mm: restart", &e));
    }
}
