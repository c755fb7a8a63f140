//! Two-boot guest tests (issue 16). `tests/guest/NAME.reboot.sh` is one
//! test, NAME, that spans two boots sharing a disk (disk.rs): boot 1 runs
//! `NAME phase1 /disk/NAME`, the guest syncs, unmounts /disk and powers
//! off; boot 2 (the same initramfs; kernel and CPU as the script's
//! `# kckpt-boot2:` line says) runs `NAME phase2 /disk/NAME` on the same
//! disk. Tests with the same boot-2 spec share one pair of boots and one
//! disk; test-vm runs the pairs after its normal shards, `--jobs` pairs at
//! a time (pool.rs). A test goes to boot 2 only if phase 1 passed (not
//! skipped) in a boot 1 that ended cleanly. The two boots' reports become
//! one KTAP line per test (`combine`), merged into test-vm's report in
//! name order with the same verdict rules (shard.rs' merge: a panic or
//! hang in either boot is the run's verdict and names the test).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, Result};
use serde::Serialize;
use xshell::Shell;

use crate::ktap::{Report, TestResult};
use crate::shard::{self, ShardOutcome, ShardRun};
use crate::verdict::Verdict;
use crate::{disk, pool, vm};

/// The file name suffix of a two-boot test.
pub const SUFFIX: &str = ".reboot.sh";
/// The script's line that chooses boot 2.
pub const HEADER: &str = "# kckpt-boot2:";

/// What boot 2 of a two-boot test runs on.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Boot2 {
    /// `same` (the default): boot 1's kernel and CPU.
    #[default]
    Same,
    /// `other-flavor`: the other flavor's bzImage (normal <-> debug).
    OtherFlavor,
    /// `cpu=MODEL`: boot 1's kernel on `-cpu MODEL`.
    Cpu(String),
}

impl Boot2 {
    /// The spec of a script: its `# kckpt-boot2: …` line, else `same`.
    pub fn parse(script: &str) -> std::result::Result<Boot2, String> {
        let mut found = None;
        for l in script.lines() {
            let Some(v) = l.strip_prefix(HEADER) else { continue };
            if found.is_some() {
                return Err(format!("more than one `{HEADER}` line"));
            }
            let v = v.trim();
            found = Some(match (v, v.strip_prefix("cpu=")) {
                ("same", _) => Boot2::Same,
                ("other-flavor", _) => Boot2::OtherFlavor,
                (_, Some(m)) if !m.is_empty() && m.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.,+-=".contains(&b)) => {
                    Boot2::Cpu(m.to_string())
                }
                _ => return Err(format!("`{HEADER} {v}`: want same, other-flavor or cpu=MODEL")),
            });
        }
        Ok(found.unwrap_or_default())
    }

    /// `same`, `other-flavor`, `cpu=MODEL`: as the header says it.
    pub fn label(&self) -> String {
        match self {
            Boot2::Same => "same".into(),
            Boot2::OtherFlavor => "other-flavor".into(),
            Boot2::Cpu(m) => format!("cpu={m}"),
        }
    }
}

/// The tag of boot `phase` (1 or 2) of the pair `label`, in directives,
/// verdict lines and kernel-log lines.
pub fn tag(label: &str, phase: u8) -> String {
    format!("reboot {label} boot {phase}")
}

/// The tests of each boot-2 spec, names sorted: one pair of boots each.
pub fn groups<'a>(tests: impl IntoIterator<Item = (&'a str, &'a Boot2)>) -> BTreeMap<Boot2, Vec<String>> {
    let mut g: BTreeMap<Boot2, Vec<String>> = BTreeMap::new();
    for (n, b) in tests {
        g.entry(b.clone()).or_default().push(n.to_string());
    }
    for v in g.values_mut() {
        v.sort();
        v.dedup();
    }
    g
}

/// The tests boot 2 runs: those that passed phase 1 (a skip ends the test).
pub fn to_phase2(phase1: &Report) -> Vec<String> {
    phase1.tests.iter().filter(|t| t.ok && !t.skipped()).map(|t| t.name.clone()).collect()
}

/// One result per test from its two phases: ok only if both are; the
/// directive says which phase failed or skipped and why; the diagnostics
/// are both phases', each line marked with its phase; the time is their
/// sum. `phase2` is None when boot 2 did not run (`why_not`).
pub fn combine(names: &[String], phase1: &Report, phase2: Option<&Report>, why_not: &str) -> Vec<TestResult> {
    let find = |r: &Report, n: &str| r.tests.iter().find(|t| t.name == n).cloned();
    fn marked(t: &TestResult, p: u8) -> impl Iterator<Item = String> + '_ {
        t.diagnostics.iter().map(move |d| format!("phase {p}: {d}"))
    }
    names
        .iter()
        .map(|n| {
            let mut r = TestResult { number: 0, name: n.clone(), ok: false, directive: None, diagnostics: vec![], subtests: vec![], ms: None };
            let Some(a) = find(phase1, n) else {
                r.directive = Some("phase 1: not reported".into());
                return r;
            };
            r.diagnostics.extend(marked(&a, 1));
            r.ms = a.ms;
            let why = |t: &TestResult| t.directive.clone().unwrap_or_else(|| "failed".into());
            if !a.ok || a.skipped() {
                r.ok = a.ok;
                r.directive = Some(if a.ok { format!("{} (phase 1)", why(&a)) } else { format!("phase 1: {}", why(&a)) });
                return r;
            }
            match phase2.and_then(|p| find(p, n)) {
                None => r.directive = Some(format!("phase 2: not run: {why_not}")),
                Some(b) => {
                    r.diagnostics.extend(marked(&b, 2));
                    r.ms = Some(a.ms.unwrap_or(0) + b.ms.unwrap_or(0));
                    r.ok = b.ok;
                    r.directive = match (b.ok, b.skipped()) {
                        (false, _) => Some(format!("phase 2: {}", why(&b))),
                        (true, true) => Some(format!("{} (phase 2)", why(&b))),
                        (true, false) => None,
                    };
                }
            }
            r
        })
        .collect()
}

/// One pair of boots to run: the tests of one boot-2 spec.
pub struct Pair {
    pub boot2: Boot2,
    pub names: Vec<String>,
    /// Boot 1 and boot 2 as planned, without the disk and the phase's words.
    pub first: vm::Boot,
    pub second: vm::Boot,
}

/// A pair as the run's result shows it (JSON, --timings, verdict lines).
#[derive(Debug, Clone, Serialize)]
pub struct PairOutcome {
    /// The boot-2 spec, as the header says it.
    pub boot2: String,
    pub tests: Vec<String>,
    /// Boot 1 and, if it ran, boot 2 (`shard` is the boot's tag).
    pub boots: Vec<ShardOutcome>,
    /// Each test's guest time in each phase, ms.
    pub phase_ms: BTreeMap<String, [Option<u64>; 2]>,
}

/// What a pair's boots showed: its tests' results and what test-vm judges.
pub struct PairResult {
    pub outcome: PairOutcome,
    pub tests: Vec<TestResult>,
    pub verdict: Verdict,
    pub kernel_problems: Vec<String>,
    pub problems: Vec<String>,
    pub header: bool,
    pub console: String,
    pub logs: Vec<PathBuf>,
}

/// Boot `boot` with `names` in phase `phase` on `disk`; its report over `names`.
fn run_phase(
    pair: &Pair,
    phase: u8,
    names: &[String],
    disk: &Path,
    lim: (Duration, Duration),
    echo: bool,
    log: &Path,
) -> Result<(shard::Merged, ShardRun)> {
    let all: Vec<usize> = (0..names.len()).collect();
    let boot = if phase == 1 { &pair.first } else { &pair.second };
    let boot = boot.clone().disk(disk.to_path_buf()).append(format!("kckpt.phase={phase}")).append(shard::tests_word(names, &all));
    let tag = tag(&pair.boot2.label(), phase);
    eprintln!("[vm] {tag}: {} on {} (-cpu {}), console log {}", names.join(", "), boot.kernel.display(), boot.cpu_model(), log.display());
    let r = vm::run(&boot, lim.0, lim.1, echo, log)?;
    let run = ShardRun { verdict: r.verdict, console: r.console, secs: r.secs, ktap_at: r.ktap_at };
    let m = shard::merge_labelled(names, &[all], std::slice::from_ref(&run), &[(tag.clone(), tag)]);
    Ok((m, run))
}

/// Run one pair on its fresh disk `disk`: boot 1, then boot 2 for the
/// tests that passed phase 1 if boot 1 ended cleanly.
pub fn run_pair(pair: &Pair, disk: &Path, hang: Duration, timeout: Duration, echo: bool, work: &Path) -> Result<PairResult> {
    let label = pair.boot2.label();
    let slug = slug(&label);
    let logs = [1, 2].map(|p| work.join(format!("console-reboot-{slug}-boot{p}.log")));
    let (m1, r1) = run_phase(pair, 1, &pair.names, disk, (hang, timeout), echo, &logs[0])?;
    let mut boots = m1.shards.clone();
    let mut console = format!("===== {} =====\n{}", tag(&label, 1), r1.console);
    let (mut verdict, mut kernel_problems, mut problems) = (m1.verdict.clone(), m1.kernel_problems.clone(), m1.report.problems.clone());
    let mut header = m1.report.header;
    let second = to_phase2(&m1.report);
    let mut phase_ms: BTreeMap<String, [Option<u64>; 2]> = m1.report.tests.iter().map(|t| (t.name.clone(), [t.ms, None])).collect();
    let mut used = vec![logs[0].clone()];
    let m2 = if second.is_empty() || m1.verdict != Verdict::Completed {
        None
    } else {
        let (m2, r2) = run_phase(pair, 2, &second, disk, (hang, timeout), echo, &logs[1])?;
        console.push_str(&format!("===== {} =====\n{}", tag(&label, 2), r2.console));
        boots.extend(m2.shards.clone());
        verdict = shard::worst([&verdict, &m2.verdict]);
        kernel_problems.extend(m2.kernel_problems.clone());
        problems.extend(m2.report.problems.clone());
        header &= m2.report.header;
        for t in &m2.report.tests {
            phase_ms.entry(t.name.clone()).or_default()[1] = t.ms;
        }
        used.push(logs[1].clone());
        Some(m2)
    };
    let why_not = format!("{} {}", tag(&label, 1), shard::describe(&m1.verdict));
    let tests = combine(&pair.names, &m1.report, m2.as_ref().map(|m| &m.report), &why_not);
    let outcome = PairOutcome { boot2: label, tests: pair.names.clone(), boots, phase_ms };
    Ok(PairResult { outcome, tests, verdict, kernel_problems, problems, header, console, logs: used })
}

/// A label as a file name part: `cpu=max,-avx` -> `cpu-max--avx`.
fn slug(label: &str) -> String {
    label.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' }).collect()
}

/// Every pair, each on a fresh disk in `work` (made here, on the host),
/// `jobs` pairs at a time; results in the pairs' order.
pub fn run_pairs(sh: &Shell, pairs: &[Pair], jobs: usize, hang: Duration, timeout: Duration, echo: bool, work: &Path) -> Result<Vec<PairResult>> {
    let mut disks = Vec::new();
    for p in pairs {
        if p.names.iter().any(|n| n.is_empty() || n.contains([',', ' ', '\t', '\n'])) {
            bail!("two-boot test names {:?} cannot go in kckpt.tests=", p.names);
        }
        disks.push(disk::create(sh, &work.join(format!("disk-{}.ext2", slug(&p.boot2.label()))), disk::SIZE_MIB)?);
    }
    pool::run_each(jobs, pairs.len(), |i| run_pair(&pairs[i], &disks[i], hang, timeout, echo, work)).into_iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ktap;

    #[test]
    fn the_header_chooses_boot_2() {
        assert_eq!(Boot2::parse("#!/bin/sh\necho hi\n"), Ok(Boot2::Same));
        assert_eq!(Boot2::parse("#!/bin/sh\n# kckpt-boot2: same\n"), Ok(Boot2::Same));
        assert_eq!(Boot2::parse("#!/bin/sh\n# kckpt-boot2:   other-flavor  \n"), Ok(Boot2::OtherFlavor));
        assert_eq!(Boot2::parse("# kckpt-boot2: cpu=qemu32\n"), Ok(Boot2::Cpu("qemu32".into())));
        assert_eq!(Boot2::parse("# kckpt-boot2: cpu=max,-avx,-xsave\n").unwrap().label(), "cpu=max,-avx,-xsave");
        for bad in ["# kckpt-boot2: other\n", "# kckpt-boot2: cpu=\n", "# kckpt-boot2: cpu=a b\n", "# kckpt-boot2: same\n# kckpt-boot2: same\n"] {
            assert!(Boot2::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tests_of_one_spec_share_a_pair() {
        let (s, o, c) = (Boot2::Same, Boot2::OtherFlavor, Boot2::Cpu("qemu32".into()));
        let g = groups([("b", &s), ("x", &c), ("a", &s), ("f", &o)]);
        let got: Vec<(String, Vec<String>)> = g.into_iter().map(|(k, v)| (k.label(), v)).collect();
        assert_eq!(got, [("same".into(), vec!["a".into(), "b".into()]), ("other-flavor".into(), vec!["f".into()]), ("cpu=qemu32".into(), vec!["x".into()])]);
        assert_eq!(tag("cpu=qemu32", 2), "reboot cpu=qemu32 boot 2");
        assert_eq!(slug("cpu=max,-avx"), "cpu-max--avx");
    }

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn one_line_per_test_ok_only_if_both_phases_are() {
        let n = names(&["a", "b", "c", "d", "e"]);
        let p1 = ktap::parse("KTAP version 1\n1..5\n# one\n# time a 100\nok 1 a\n# time b 5\nnot ok 2 b # exit status 1\nok 3 c # SKIP\nok 4 d\nok 5 e\n");
        assert_eq!(to_phase2(&p1), ["a", "d", "e"]);
        let p2 = ktap::parse("KTAP version 1\n1..3\n# two\n# time a 50\nok 1 a\n# gone\nnot ok 2 d # exit status 3\nok 3 e # SKIP no AVX\n");
        let r = combine(&n, &p1, Some(&p2), "unused");
        let got: Vec<(&str, bool, Option<&str>)> = r.iter().map(|t| (t.name.as_str(), t.ok, t.directive.as_deref())).collect();
        assert_eq!(
            got,
            [
                ("a", true, None),
                ("b", false, Some("phase 1: exit status 1")),
                ("c", true, Some("SKIP (phase 1)")),
                ("d", false, Some("phase 2: exit status 3")),
                ("e", true, Some("SKIP no AVX (phase 2)")),
            ]
        );
        assert!(r[2].skipped() && r[4].skipped());
        assert_eq!(r[0].diagnostics, ["phase 1: one", "phase 2: two"]);
        assert_eq!(r[3].diagnostics, ["phase 2: gone"]);
        assert_eq!(r[0].ms, Some(150));
        let r = combine(&n, &p1, None, "reboot same boot 1 kernel panic");
        assert_eq!(r[0].directive.as_deref(), Some("phase 2: not run: reboot same boot 1 kernel panic"));
        assert!(!r[0].ok && !r[1].ok && r[2].ok);
    }

    #[test]
    fn a_panic_in_boot_2_names_the_test() {
        let n = names(&["a", "b"]);
        let p = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b";
        let runs = [ShardRun { verdict: Verdict::Panic(p.into()), console: format!("KTAP version 1\n1..2\nok 1 a\n{p}\n"), secs: 1.0, ktap_at: None }];
        let t = tag("same", 2);
        let m = shard::merge_labelled(&n, &[vec![0, 1]], &runs, &[(t.clone(), t)]);
        let p1 = ktap::parse("KTAP version 1\n1..2\nok 1 a\nok 2 b\n");
        let r = combine(&n, &p1, Some(&m.report), "");
        assert!(r[0].ok);
        assert_eq!(r[1].directive.as_deref(), Some("phase 2: not completed: reboot same boot 2 kernel panic"));
        assert_eq!(m.shards[0].shard, "reboot same boot 2");
        assert_eq!(m.shards[0].not_completed, ["b"]);
    }
}
