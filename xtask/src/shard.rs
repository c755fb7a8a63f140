//! Shards of `test-vm --jobs N` and `fuzz-images --jobs N`, kept pure: how
//! many guests fit, which tests (`kckpt.tests=`) or mutants each runs, the
//! worst of their verdicts, and one KTAP report merged from the tests'.
//! pool.rs boots the guests.

use std::cmp::Reverse;
use std::collections::BTreeMap;

use regex::Regex;
use serde::Serialize;

use crate::ktap::{self, Report, TestResult};
use crate::verdict::{self, Verdict};

/// Host memory left to everything else while the guests run.
pub const HOST_RESERVE_KIB: u64 = 1024 * 1024;

/// `MemAvailable` of /proc/meminfo, in KiB.
pub fn mem_available_kib(meminfo: &str) -> Option<u64> {
    meminfo.lines().find_map(|l| l.strip_prefix("MemAvailable:")?.trim().strip_suffix("kB")?.trim().parse().ok())
}

/// The default `--jobs`: one guest per CPU, but 1 when available memory is
/// below that many guests' `-m` plus 1 GiB (or cannot be read).
pub fn default_jobs(cpus: usize, mem_available_kib: Option<u64>, guest_mib: u32) -> usize {
    let n = cpus.max(1);
    match mem_available_kib {
        Some(kib) if kib >= n as u64 * u64::from(guest_mib) * 1024 + HOST_RESERVE_KIB => n,
        _ => 1,
    }
}

/// What the machine gives: CPUs and /proc/meminfo.
pub fn default_jobs_here(guest_mib: u32) -> usize {
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mem = std::fs::read_to_string("/proc/meminfo").ok().and_then(|m| mem_available_kib(&m));
    default_jobs(cpus, mem, guest_mib)
}

/// Does `--filter` select `name`, as init.c's `selected()` decides: fnmatch
/// (no flags) when the pattern has `*`, `?` or `[`, else a substring.
pub fn filter_matches(filter: &str, name: &str) -> bool {
    if !filter.contains(['*', '?', '[']) {
        return name.contains(filter);
    }
    Regex::new(&glob_regex(filter)).is_ok_and(|r| r.is_match(name))
}

/// An fnmatch pattern as an anchored regex.
fn glob_regex(p: &str) -> String {
    let c: Vec<char> = p.chars().collect();
    let mut re = String::from("^");
    let mut i = 0;
    while i < c.len() {
        match c[i] {
            '*' => re.push_str(".*"),
            '?' => re.push('.'),
            '\\' if i + 1 < c.len() => {
                i += 1;
                re.push_str(&regex::escape(&c[i].to_string()));
            }
            '[' => {
                // The class ends at the first `]` that is not its first member.
                let mut j = i + 1;
                if c.get(j).is_some_and(|&x| x == '!' || x == '^') {
                    j += 1;
                }
                if c.get(j) == Some(&']') {
                    j += 1;
                }
                while j < c.len() && c[j] != ']' {
                    j += 1;
                }
                if j >= c.len() {
                    re.push_str(r"\[");
                } else {
                    let mut k = i + 1;
                    re.push('[');
                    if c[k] == '!' || c[k] == '^' {
                        re.push('^');
                        k += 1;
                    }
                    for &x in &c[k..j] {
                        if matches!(x, '\\' | '[' | ']' | '^' | '&' | '~') {
                            re.push('\\');
                        }
                        re.push(x);
                    }
                    re.push(']');
                    i = j;
                }
            }
            x => re.push_str(&regex::escape(&x.to_string())),
        }
        i += 1;
    }
    re.push('$');
    re
}

/// Split tests (`names`, in run order) over `jobs` shards: longest first to
/// the least loaded shard, by the last known duration (unknown: the median
/// of the known ones, else 1 s). With no durations that is round robin in
/// name order. Returns each shard's indices into `names`, sorted; no shard
/// is empty (at most `names.len()` shards).
pub fn assign(names: &[String], jobs: usize, known_ms: &BTreeMap<String, u64>) -> Vec<Vec<usize>> {
    let jobs = jobs.clamp(1, names.len().max(1));
    let mut known: Vec<u64> = names.iter().filter_map(|n| known_ms.get(n).copied()).collect();
    known.sort_unstable();
    let default = known.get(known.len() / 2).copied().unwrap_or(1000);
    let weight = |i: usize| known_ms.get(&names[i]).copied().unwrap_or(default).max(1);
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| Reverse(weight(i))); // stable: name order among equals
    let (mut load, mut shards) = (vec![0u64; jobs], vec![Vec::new(); jobs]);
    for i in order {
        let k = (0..jobs).min_by_key(|&k| (load[k], k)).unwrap();
        load[k] += weight(i);
        shards[k].push(i);
    }
    for s in &mut shards {
        s.sort_unstable();
    }
    shards
}

/// Split items `0..n` over `jobs` shards by index, round robin: shard K
/// gets K, K + jobs, … (fuzz-images: mutant `i` is mutant `i` whatever the
/// shard, so `--jobs 1` reproduces it). No shard is empty (at most `n`
/// shards, one empty one when `n` is 0).
pub fn by_index(n: usize, jobs: usize) -> Vec<Vec<usize>> {
    let jobs = jobs.clamp(1, n.max(1));
    (0..jobs).map(|k| (k..n).step_by(jobs).collect()).collect()
}

/// `K/N` of shard index `k` (0-based) of `n`.
pub fn tag(k: usize, n: usize) -> String {
    format!("shard {}/{n}", k + 1)
}

/// The `kckpt.tests=` word of one shard.
pub fn tests_word(names: &[String], shard: &[usize]) -> String {
    let list: Vec<&str> = shard.iter().map(|&i| names[i].as_str()).collect();
    format!("kckpt.tests={}", list.join(","))
}

/// What one shard's boot gave.
pub struct ShardRun {
    pub verdict: Verdict,
    pub console: String,
    pub secs: f64,
    /// Seconds from QEMU's start to the KTAP header (boot to first test).
    pub ktap_at: Option<f64>,
}

/// One shard in the merged result.
#[derive(Debug, Clone, Serialize)]
pub struct ShardOutcome {
    /// `K/N`.
    pub shard: String,
    pub tests: Vec<String>,
    pub verdict: Verdict,
    /// Its tests that never reported (the first was running when it ended).
    pub not_completed: Vec<String>,
    pub secs: f64,
    pub boot_to_first_test: Option<f64>,
}

/// Everything test-vm judges, from all shards.
pub struct Merged {
    pub report: Report,
    pub verdict: Verdict,
    pub kernel_problems: Vec<String>,
    pub shards: Vec<ShardOutcome>,
}

/// How bad a verdict is, to pick the run's: a panic says most about the
/// kernel, then a hang, the global timeout, a guest that did not exit.
fn severity(v: &Verdict) -> u8 {
    match v {
        Verdict::Completed => 0,
        Verdict::NoExit(_) => 1,
        Verdict::Timeout(_) => 2,
        Verdict::Hang(_) => 3,
        Verdict::Panic(_) => 4,
    }
}

/// A verdict in a few words, for a test its shard did not complete.
pub fn describe(v: &Verdict) -> String {
    match v {
        Verdict::Completed => "ended without reporting it".into(),
        Verdict::Panic(_) => "kernel panic".into(),
        Verdict::Hang(s) => format!("hang (no console output for {s} s)"),
        Verdict::Timeout(s) => format!("timeout ({s} s)"),
        Verdict::NoExit(m) => format!("no isa-debug-exit ({m})"),
    }
}

/// The worst of the shards' verdicts (the first on a tie).
pub fn worst<'a>(vs: impl IntoIterator<Item = &'a Verdict>) -> Verdict {
    let mut w = Verdict::Completed;
    for v in vs {
        if severity(v) > severity(&w) {
            w = v.clone();
        }
    }
    w
}

/// Merge the shards' consoles into one report over `names`, numbered in
/// name order as one run would number them. A shard's tests that never
/// reported become `not ok … # not completed: shard K/N <why>`; the run's
/// verdict is the worst shard's (the first on a tie); kernel-log problems
/// are every shard's, tagged with it. A shard that completed without any
/// KTAP did not exit cleanly, as for one guest.
pub fn merge(names: &[String], shards: &[Vec<usize>], runs: &[ShardRun]) -> Merged {
    let n = shards.len();
    let labels: Vec<(String, String)> = (0..n).map(|k| (tag(k, n), format!("{}/{n}", k + 1))).collect();
    merge_labelled(names, shards, runs, &labels)
}

/// `merge` of boots that are not `--jobs` shards (the two-boot tests'
/// boots, reboot.rs): each boot's tag, for directives and kernel-log
/// lines (`shard K/N`), and its id, `ShardOutcome::shard` (`K/N`).
pub fn merge_labelled(names: &[String], shards: &[Vec<usize>], runs: &[ShardRun], labels: &[(String, String)]) -> Merged {
    assert_eq!(shards.len(), labels.len(), "one label per boot");
    let mut results: Vec<Option<TestResult>> = vec![None; names.len()];
    let (mut problems, mut kernel_problems, mut outcomes) = (Vec::new(), Vec::new(), Vec::new());
    let mut header = true;
    let mut worst = Verdict::Completed;
    for ((idx, run), (tag, id)) in shards.iter().zip(runs).zip(labels) {
        let rep = ktap::parse(&run.console);
        let mut v = run.verdict.clone();
        if !rep.header && v == Verdict::Completed {
            v = Verdict::NoExit(format!("{tag} printed no KTAP"));
        }
        header &= rep.header;
        problems.extend(rep.problems.iter().map(|p| format!("{tag}: {p}")));
        let mut reported = vec![false; idx.len()];
        for t in rep.tests {
            match idx.iter().position(|&i| names[i] == t.name) {
                Some(j) if !reported[j] => {
                    reported[j] = true;
                    results[idx[j]] = Some(t);
                }
                _ => problems.push(format!("{tag}: reported {} {}, which it was not given", t.number, t.name)),
            }
        }
        let not_completed: Vec<usize> = idx.iter().zip(&reported).filter(|(_, r)| !**r).map(|(&i, _)| i).collect();
        for &i in &not_completed {
            results[i] = Some(TestResult {
                number: 0,
                name: names[i].clone(),
                ok: false,
                directive: Some(format!("not completed: {tag} {}", describe(&v))),
                diagnostics: vec![],
                subtests: vec![],
                ms: None,
            });
        }
        kernel_problems.extend(verdict::kernel_problems(&run.console).into_iter().map(|p| format!("[{tag}] {p}")));
        if severity(&v) > severity(&worst) {
            worst = v.clone();
        }
        outcomes.push(ShardOutcome {
            shard: id.clone(),
            tests: idx.iter().map(|&i| names[i].clone()).collect(),
            verdict: v,
            not_completed: not_completed.iter().map(|&i| names[i].clone()).collect(),
            secs: run.secs,
            boot_to_first_test: run.ktap_at,
        });
    }
    let mut tests: Vec<TestResult> = results.into_iter().flatten().collect();
    for (i, t) in tests.iter_mut().enumerate() {
        t.number = i + 1;
    }
    let report = Report { header, plan: Some(tests.len()), tests, problems };
    Merged { report, verdict: worst, kernel_problems, shards: outcomes }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn meminfo_rule() {
        let mi = "MemTotal:       24000000 kB\nMemFree:         1000 kB\nMemAvailable:    3145728 kB\n";
        assert_eq!(mem_available_kib(mi), Some(3_145_728));
        assert_eq!(mem_available_kib("MemTotal: 5 kB\n"), None);
        // 2 guests of 512 MiB + 1 GiB = 2 GiB: exactly enough, and one KiB short.
        assert_eq!(default_jobs(2, Some(2 * 1024 * 1024), 512), 2);
        assert_eq!(default_jobs(2, Some(2 * 1024 * 1024 - 1), 512), 1);
        // Short memory is 1, not "as many as fit".
        assert_eq!(default_jobs(4, Some(3 * 1024 * 1024 - 1), 512), 1);
        assert_eq!(default_jobs(4, Some(24 * 1024 * 1024), 512), 4);
        assert_eq!(default_jobs(2, None, 512), 1);
        assert_eq!(default_jobs(0, Some(u64::MAX / 2), 512), 1);
    }

    #[test]
    fn round_robin_in_name_order_without_durations() {
        let n = names(&["a", "b", "c", "d", "e"]);
        assert_eq!(assign(&n, 2, &BTreeMap::new()), vec![vec![0, 2, 4], vec![1, 3]]);
        assert_eq!(assign(&n, 1, &BTreeMap::new()), vec![vec![0, 1, 2, 3, 4]]);
        // No empty shard: at most one per test.
        assert_eq!(assign(&n[..2], 8, &BTreeMap::new()), vec![vec![0], vec![1]]);
        assert_eq!(assign(&[], 2, &BTreeMap::new()), vec![Vec::<usize>::new()]);
    }

    #[test]
    fn longest_first_to_the_least_loaded() {
        let n = names(&["a", "b", "c", "d", "fuzz"]);
        let ms: BTreeMap<String, u64> =
            [("a", 1000), ("b", 2000), ("c", 3000), ("d", 1000), ("fuzz", 6000)].into_iter().map(|(k, v)| (k.into(), v)).collect();
        // fuzz (6 s), then c, b, a (3+2+1 s) to the other; d to the first on the tie.
        let s = assign(&n, 2, &ms);
        assert_eq!(s, vec![vec![3, 4], vec![0, 1, 2]]);
        // An unknown test weighs the median of the known ones (2 s).
        let n = names(&["a", "b", "c", "d", "fuzz", "new"]);
        let s = assign(&n, 2, &ms);
        let load = |s: &Vec<usize>| s.iter().map(|&i| ms.get(&n[i]).copied().unwrap_or(2000)).sum::<u64>();
        assert_eq!((load(&s[0]), load(&s[1])), (8000, 7000), "{s:?}");
    }

    #[test]
    fn filter_is_inits() {
        assert!(filter_matches("cr_", "cr_sleep") && filter_matches("sleep", "cr_sleep"));
        assert!(!filter_matches("cr_", "checkpoint_v2"));
        assert!(filter_matches("cr_*", "cr_sleep") && !filter_matches("cr_*", "xcr_sleep"));
        assert!(filter_matches("*_v2", "cr_v2") && filter_matches("c?_v2", "cr_v2"));
        assert!(filter_matches("[ch]*", "hello") && !filter_matches("[!ch]*", "hello"));
        assert!(filter_matches("a.b*", "a.bc") && !filter_matches("a.b*", "axbc"));
        assert!(filter_matches("x[", "x[") && !filter_matches("x[", "xy"));
    }

    fn run(v: Verdict, console: &str) -> ShardRun {
        ShardRun { verdict: v, console: console.into(), secs: 1.0, ktap_at: Some(0.5) }
    }

    #[test]
    fn shards_merge_into_one_numbered_report() {
        let n = names(&["a", "b", "c", "d", "e"]);
        let shards = vec![vec![0, 2, 4], vec![1, 3]];
        let runs = [
            run(Verdict::Completed, "boot\nKTAP version 1\n1..3\n# time a 10\nok 1 a\n# why\n# time c 20\nnot ok 2 c # exit status 1\nok 3 e # SKIP\n"),
            run(Verdict::Completed, "KTAP version 1\n1..2\nok 1 b\nok 2 d\n"),
        ];
        let m = merge(&n, &shards, &runs);
        let got: Vec<(usize, &str, bool)> = m.report.tests.iter().map(|t| (t.number, t.name.as_str(), t.ok)).collect();
        assert_eq!(got, [(1, "a", true), (2, "b", true), (3, "c", false), (4, "d", true), (5, "e", true)]);
        assert_eq!(m.report.plan, Some(5));
        assert!(m.report.header && m.report.problems.is_empty(), "{:?}", m.report.problems);
        assert_eq!((m.report.passed(), m.report.failed(), m.report.skipped(), m.report.missing()), (3, 1, 1, 0));
        assert_eq!(m.report.tests[2].diagnostics, ["why"]);
        assert_eq!((m.report.tests[0].ms, m.report.tests[2].ms), (Some(10), Some(20)));
        assert_eq!(m.verdict, Verdict::Completed);
        assert!(m.shards.iter().all(|s| s.not_completed.is_empty()));
    }

    #[test]
    fn a_panicking_shard_names_its_unfinished_tests() {
        let n = names(&["a", "b", "c", "d"]);
        let shards = vec![vec![0, 2], vec![1, 3]];
        let p = "Kernel panic - not syncing: Attempted to kill init!";
        let runs = [
            run(Verdict::Completed, "KTAP version 1\n1..2\nok 1 a\nok 2 c\n"),
            run(Verdict::Panic(p.into()), &format!("KTAP version 1\n1..2\n# b says\n{p}\n")),
        ];
        let m = merge(&n, &shards, &runs);
        assert_eq!(m.verdict, Verdict::Panic(p.into()));
        assert_eq!(m.shards[1].not_completed, ["b", "d"]);
        assert!(m.shards[0].not_completed.is_empty());
        let t = &m.report.tests;
        assert_eq!((t[1].number, t[1].name.as_str(), t[1].ok), (2, "b", false));
        assert_eq!(t[1].directive.as_deref(), Some("not completed: shard 2/2 kernel panic"));
        assert_eq!(t[3].directive.as_deref(), Some("not completed: shard 2/2 kernel panic"));
        assert_eq!((m.report.passed(), m.report.failed()), (2, 2));
        // The panic outranks a hang elsewhere, whatever the shard order.
        let runs = [run(Verdict::Panic(p.into()), p), run(Verdict::Hang(45), "KTAP version 1\n1..2\nok 1 b\n")];
        let m = merge(&n, &shards, &runs);
        assert_eq!(m.verdict, Verdict::Panic(p.into()));
        assert_eq!(m.shards[1].not_completed, ["d"]);
        assert!(m.report.tests[3].directive.as_deref().unwrap().contains("hang"));
    }

    #[test]
    fn kernel_problems_and_silent_shards() {
        let n = names(&["a", "b"]);
        let shards = vec![vec![0], vec![1]];
        let runs = [
            run(Verdict::Completed, "KTAP version 1\n1..1\nWARNING: CPU: 0 PID: 1 at x.c:1 f\nok 1 a\n"),
            run(Verdict::Completed, "no ktap at all\n"),
        ];
        let m = merge(&n, &shards, &runs);
        assert_eq!(m.kernel_problems, ["[shard 1/2] WARNING: CPU: 0 PID: 1 at x.c:1 f"]);
        assert!(matches!(&m.verdict, Verdict::NoExit(s) if s.contains("shard 2/2")));
        assert!(!m.report.header);
        assert_eq!(m.shards[1].not_completed, ["b"]);
    }

    #[test]
    fn by_index_is_round_robin_and_covers_every_item_once() {
        assert_eq!(by_index(7, 3), vec![vec![0, 3, 6], vec![1, 4], vec![2, 5]]);
        assert_eq!(by_index(5, 1), vec![vec![0, 1, 2, 3, 4]]);
        assert_eq!(by_index(2, 8), vec![vec![0], vec![1]]);
        assert_eq!(by_index(0, 2), vec![Vec::<usize>::new()]);
        for jobs in 1..6 {
            let mut all: Vec<usize> = by_index(2000, jobs).concat();
            all.sort_unstable();
            assert_eq!(all, (0..2000).collect::<Vec<_>>());
        }
    }

    #[test]
    fn the_worst_verdict_wins() {
        let p = Verdict::Panic("Kernel panic".into());
        assert_eq!(worst([&Verdict::Completed, &Verdict::Hang(45), &p, &Verdict::Timeout(9)]), p);
        assert_eq!(worst([&Verdict::Completed, &Verdict::Completed]), Verdict::Completed);
        assert_eq!(worst([&Verdict::Hang(1), &Verdict::Hang(2)]), Verdict::Hang(1));
    }

    #[test]
    fn the_tests_word_lists_the_shard() {
        let n = names(&["a", "b", "c"]);
        assert_eq!(tests_word(&n, &[0, 2]), "kckpt.tests=a,c");
    }
}
