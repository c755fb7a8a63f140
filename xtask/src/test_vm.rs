//! test-vm: boot the guest with the tests, parse KTAP from the console,
//! decide the exit code (a pure function of report, verdict and kernel log),
//! print one line per test and `N passed, N failed`, or the same as --json.
//! `--jobs N` shards the tests over N guests (shard.rs) and merges their KTAP.
//! Two-boot tests (reboot.rs) run after the shards, in pairs of boots on a
//! disk, and their results join the one report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use fs_err as fs;
use serde::Serialize;
use xshell::Shell;

use crate::guest::{self, Guest};
use crate::verdict::{self, Verdict};
use crate::shard::{self, ShardOutcome, ShardRun};
use crate::reboot::{self, Boot2, PairOutcome, PairResult};
use crate::{cache, fuzz_images, ktap, pool, rootfs, vm};

/// Default per-test time limit in the guest, seconds.
pub const TEST_TIMEOUT: u64 = 120;

/// Default whole-run limit and hang limit, seconds.
pub const TIMEOUT: u64 = 600;
pub const HANG: u64 = 45;

/// test-vm's exit codes, for --help and the README.
pub const EXIT_CODES: &str = "exit codes: 0 all passed, 1 test failures, 2 build or setup error, 3 kernel panic,
            4 Oops/BUG/WARNING in the kernel log, 5 hang (no console output for --hang s),
            6 global --timeout, 7 the guest did not exit through isa-debug-exit";

#[derive(clap::Args, Clone)]
#[command(after_help = EXIT_CODES)]
pub struct Args {
    /// Run only tests whose name matches (glob, or substring).
    #[arg(long)]
    pub filter: Option<String>,
    /// Copy host files (static i386 programs or scripts) in and run each as a test.
    #[arg(long, num_args = 1..)]
    pub run: Vec<PathBuf>,
    /// Boot to an interactive shell on the console instead of running tests.
    #[arg(long)]
    pub shell: bool,
    /// Keep the work directory and console log.
    #[arg(long)]
    pub keep: bool,
    /// Whole-run time limit in seconds.
    #[arg(long, default_value_t = TIMEOUT)]
    pub timeout: u64,
    /// Per-test time limit in the guest, seconds.
    #[arg(long, default_value_t = TEST_TIMEOUT)]
    pub test_timeout: u64,
    /// Seconds without console output that count as a hang.
    #[arg(long, default_value_t = HANG)]
    pub hang: u64,
    /// Use this bzImage instead of the one built (harness tests).
    #[arg(long)]
    pub kernel: Option<PathBuf>,
    /// Echo the whole console (to stderr) while it runs.
    #[arg(long, short)]
    pub verbose: bool,
    /// Print the result as JSON on stdout (progress stays on stderr).
    #[arg(long)]
    pub json: bool,
    /// Shard the tests over N guests (same kernel and initramfs, run at once).
    /// Default: one per CPU, 1 if MemAvailable < N x guest memory + 1 GiB.
    #[arg(long, value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..))]
    pub jobs: Option<usize>,
    /// Print host time per stage and each test's time in the guest.
    #[arg(long)]
    pub timings: bool,
    #[command(flatten)]
    pub guest: guest::Opts,
}

/// The command line's defaults, for callers in this process (bench, export).
impl Default for Args {
    fn default() -> Args {
        Args {
            filter: None,
            run: vec![],
            shell: false,
            keep: false,
            timeout: TIMEOUT,
            test_timeout: TEST_TIMEOUT,
            hang: HANG,
            kernel: None,
            verbose: false,
            json: false,
            jobs: None,
            timings: false,
            guest: guest::Opts::default(),
        }
    }
}

/// The exit code and the failure count of a run: the policy, kept pure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Outcome {
    pub code: i32,
    pub failed: usize,
}

/// 0 all passed, 1 test failures, 3 panic, 4 kernel problems, 5 hang,
/// 6 timeout, 7 no isa-debug-exit (or no KTAP at all). A kernel problem
/// fails an otherwise green or merely failing run; every non-zero code
/// counts at least one failure.
pub fn exit_code(rep: &ktap::Report, v: &Verdict, problems: &[String]) -> Outcome {
    let mut failed = rep.failed() + rep.missing();
    let mut code = match v {
        Verdict::Completed => i32::from(failed > 0),
        Verdict::Panic(_) => 3,
        Verdict::Hang(_) => 5,
        Verdict::Timeout(_) => 6,
        Verdict::NoExit(_) => 7,
    };
    if !problems.is_empty() {
        if code <= 1 {
            code = 4;
        }
        failed += 1;
    }
    if !rep.header && code == 0 {
        code = 7;
    }
    if code != 0 && failed == 0 {
        failed = 1;
    }
    Outcome { code, failed }
}

/// Host time per stage, seconds (`--timings`).
#[derive(Debug, Default, Clone, Serialize)]
pub struct Timings {
    /// Guest::new: deps, the kernel's up-to-date check (test-vm's own run only).
    pub build_check: Option<f64>,
    /// The initramfs and the fuzz mutants' archive.
    pub rootfs: f64,
    /// Per guest: QEMU's start to the KTAP header.
    pub boot_to_first_test: Vec<Option<f64>>,
    /// The two-boot tests' pairs, all of them (each boot's own times are
    /// in `RunResult::reboots`).
    pub reboot_stage: Option<f64>,
    /// From the initramfs to the verdict (plus the build check when known).
    pub total: f64,
}

/// Everything a run showed: what the printer, the JSON and the evidence use.
#[derive(Serialize)]
pub struct RunResult {
    pub outcome: Outcome,
    pub passed: usize,
    pub skipped: usize,
    pub verdict: Verdict,
    pub kernel_problems: Vec<String>,
    pub secs: f64,
    pub accel: String,
    pub kernel_key: String,
    pub kernel_version: String,
    pub report: ktap::Report,
    /// With more than one guest: each shard, its tests and its verdict.
    pub shards: Vec<ShardOutcome>,
    /// The two-boot tests' pairs of boots (reboot.rs).
    pub reboots: Vec<PairOutcome>,
    pub timings: Timings,
    #[serde(skip)]
    pub console: String,
    /// The boot of each guest (one unless sharded).
    #[serde(skip)]
    pub boots: Vec<vm::Boot>,
}

impl RunResult {
    pub fn of(console: String, verdict: Verdict, secs: f64) -> RunResult {
        let report = ktap::parse(&console);
        let kernel_problems = verdict::kernel_problems(&console);
        RunResult::judge(report, verdict, kernel_problems, vec![], console, secs)
    }

    /// The one result of several shards (`console`: theirs, one after the other).
    pub fn merged(m: shard::Merged, console: String, secs: f64) -> RunResult {
        RunResult::judge(m.report, m.verdict, m.kernel_problems, m.shards, console, secs)
    }

    fn judge(
        report: ktap::Report,
        verdict: Verdict,
        kernel_problems: Vec<String>,
        shards: Vec<ShardOutcome>,
        console: String,
        secs: f64,
    ) -> RunResult {
        RunResult {
            outcome: exit_code(&report, &verdict, &kernel_problems),
            passed: report.passed(),
            skipped: report.skipped(),
            verdict,
            kernel_problems,
            secs,
            accel: String::new(),
            kernel_key: String::new(),
            kernel_version: String::new(),
            report,
            shards,
            reboots: vec![],
            timings: Timings::default(),
            console,
            boots: vec![],
        }
    }

    /// The result of a run that booted no one-boot guest (only two-boot
    /// tests were selected): an empty report, for `add_pair`.
    pub fn empty() -> RunResult {
        let report = ktap::Report { header: true, plan: Some(0), ..Default::default() };
        RunResult::judge(report, Verdict::Completed, vec![], vec![], String::new(), 0.0)
    }

    /// Add a pair of boots' tests to the report, in name order (renumbered:
    /// one guest numbers tests so), its verdict, problems and console, and
    /// judge again.
    pub fn add_pair(&mut self, p: PairResult) {
        let rep = &mut self.report;
        rep.plan = Some(rep.plan.unwrap_or(rep.tests.len()) + p.tests.len());
        rep.tests.extend(p.tests);
        rep.tests.sort_by(|a, b| a.name.cmp(&b.name));
        for (i, t) in rep.tests.iter_mut().enumerate() {
            t.number = i + 1;
        }
        rep.problems.extend(p.problems);
        rep.header &= p.header;
        self.verdict = shard::worst([&self.verdict, &p.verdict]);
        self.kernel_problems.extend(p.kernel_problems);
        self.console.push_str(&p.console);
        self.reboots.push(p.outcome);
        self.outcome = exit_code(&self.report, &self.verdict, &self.kernel_problems);
        self.passed = self.report.passed();
        self.skipped = self.report.skipped();
    }

    /// `N passed, N failed[, N skipped]`.
    pub fn summary(&self) -> String {
        let mut s = format!("{} passed, {} failed", self.passed, self.outcome.failed);
        if self.skipped > 0 {
            s.push_str(&format!(", {} skipped", self.skipped));
        }
        s
    }

    /// The human report: KTAP with failures' diagnostics and passed tests'
    /// `summary:` lines, verdict lines, summary.
    pub fn text(&self) -> String {
        let rep = &self.report;
        let mut o = format!("KTAP version 1\n1..{}\n", rep.tests.len());
        for t in &rep.tests {
            // A failed test shows all it printed; a passed one its "summary:"
            // lines (the fuzz run's figures).
            for d in t.diagnostics.iter().filter(|d| !t.ok || d.starts_with("summary:")) {
                o.push_str(&format!("# {d}\n"));
            }
            let dir = t.directive.as_deref().map(|d| format!(" # {d}")).unwrap_or_default();
            o.push_str(&format!("{} {} {}{dir}\n", if t.ok { "ok" } else { "not ok" }, t.number, t.name));
        }
        for p in &rep.problems {
            o.push_str(&format!("# ktap: {p}\n"));
        }
        match &self.verdict {
            Verdict::Completed => {}
            Verdict::Panic(l) => {
                let l = verdict::panic_line(&format!("{l}\n")).unwrap_or_else(|| l.clone());
                o.push_str(&format!("# VERDICT kernel panic: {l}\n"));
            }
            Verdict::Hang(s) => o.push_str(&format!("# VERDICT hang: no console output for {s} s\n")),
            Verdict::Timeout(s) => o.push_str(&format!("# VERDICT timeout: run exceeded {s} s\n")),
            Verdict::NoExit(m) => o.push_str(&format!("# VERDICT guest did not exit cleanly: {m}\n")),
        }
        // Every shard that did not end well, and the tests it left behind.
        for s in self.shards.iter().filter(|s| s.verdict != Verdict::Completed || !s.not_completed.is_empty()) {
            let why = match &s.verdict {
                Verdict::Panic(l) => verdict::panic_line(&format!("{l}\n")).unwrap_or_else(|| l.clone()),
                v => shard::describe(v),
            };
            o.push_str(&format!("# VERDICT shard {} ({}): {why}; not completed: {}\n", s.shard, s.tests.join(", "), s.not_completed.join(", ")));
        }
        // Every boot of a two-boot pair that did not end well (`shard` is its tag).
        for b in self.reboots.iter().flat_map(|p| &p.boots).filter(|b| b.verdict != Verdict::Completed || !b.not_completed.is_empty()) {
            let why = match &b.verdict {
                Verdict::Panic(l) => verdict::panic_line(&format!("{l}\n")).unwrap_or_else(|| l.clone()),
                v => shard::describe(v),
            };
            o.push_str(&format!("# VERDICT {} ({}): {why}; not completed: {}\n", b.shard, b.tests.join(", "), b.not_completed.join(", ")));
        }
        if !self.kernel_problems.is_empty() {
            o.push_str(&format!("# VERDICT kernel log has {} Oops/BUG/WARNING line(s):\n", self.kernel_problems.len()));
            for p in &self.kernel_problems {
                o.push_str(&format!("#   {p}\n"));
            }
        }
        let guests = if self.shards.is_empty() { String::new() } else { format!(" on {} guests", self.shards.len()) };
        o.push_str(&format!("# run took {:.1} s{guests}\n{}\n", self.secs, self.summary()));
        o
    }

    /// `--timings`: host time per stage, then every test's guest time, slowest first.
    pub fn timings_text(&self) -> String {
        let t = &self.timings;
        let mut o = String::from("timings (host wall time)\n");
        if let Some(b) = t.build_check {
            o.push_str(&format!("  {:<28} {b:>8.2} s\n", "build check"));
        }
        o.push_str(&format!("  {:<28} {:>8.2} s\n", "rootfs", t.rootfs));
        let n = t.boot_to_first_test.len();
        for (k, b) in t.boot_to_first_test.iter().enumerate() {
            let what = if n > 1 { format!("shard {}/{n} boot to first test", k + 1) } else { "boot to first test".into() };
            let b = b.map_or("       -".into(), |b| format!("{b:>8.2}"));
            let whole = self.shards.get(k).map(|s| format!("   (shard {:.1} s, {} tests)", s.secs, s.tests.len())).unwrap_or_default();
            o.push_str(&format!("  {what:<28} {b} s{whole}\n"));
        }
        for b in self.reboots.iter().flat_map(|p| &p.boots) {
            let at = b.boot_to_first_test.map_or("       -".into(), |b| format!("{b:>8.2}"));
            o.push_str(&format!("  {:<28} {at} s   (to its first test; the boot {:.1} s, {} tests)\n", b.shard, b.secs, b.tests.len()));
        }
        if let Some(r) = t.reboot_stage {
            o.push_str(&format!("  {:<28} {r:>8.2} s   ({} pairs of boots)\n", "reboot stage", self.reboots.len()));
        }
        o.push_str(&format!("  {:<28} {:>8.2} s\n", "total", t.total));
        let shard_of: BTreeMap<&str, &str> =
            self.shards.iter().flat_map(|s| s.tests.iter().map(move |n| (n.as_str(), s.shard.as_str()))).collect();
        let mut tests: Vec<&ktap::TestResult> = self.report.tests.iter().collect();
        tests.sort_by_key(|t| std::cmp::Reverse(t.ms));
        o.push_str("tests, slowest first (guest time)\n");
        for t in tests {
            let ms = t.ms.map_or("       -".into(), |ms| format!("{:>8.2}", ms as f64 / 1000.0));
            let mut sh = shard_of.get(t.name.as_str()).map(|s| format!("   shard {s}")).unwrap_or_default();
            for p in self.reboots.iter().filter(|p| p.tests.contains(&t.name)) {
                let s = |ms: Option<u64>| ms.map_or("-".into(), |ms| format!("{:.2} s", ms as f64 / 1000.0));
                let [a, b] = p.phase_ms.get(&t.name).copied().unwrap_or_default();
                sh = format!("   reboot {}: phase 1 {}, phase 2 {}", p.boot2, s(a), s(b));
            }
            o.push_str(&format!("  {:<28} {ms} s{sh}\n", t.name));
        }
        o
    }
}

/// Which tests a run ran: evidence is keyed by kernel *and* selection, and
/// only a full run (no filter, no extra tests, the built kernel) is what
/// export-patches quotes.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Selection {
    pub filter: Option<String>,
    pub run: Vec<PathBuf>,
    pub external_kernel: bool,
}

impl Selection {
    pub fn of(a: &Args) -> Selection {
        Selection { filter: a.filter.clone(), run: a.run.clone(), external_kernel: a.kernel.is_some() }
    }

    pub fn is_full(&self) -> bool {
        *self == Selection::default()
    }

    /// The evidence file name for a run of kernel `key` with this selection.
    pub fn evidence_name(&self, key: &str) -> String {
        if self.is_full() {
            return format!("{key}.json");
        }
        let mut k = cache::Key::new("selection");
        k.part("filter", self.filter.as_deref().unwrap_or("").as_bytes());
        for r in &self.run {
            k.part("run", r.to_string_lossy().as_bytes());
        }
        k.part("external", &[u8::from(self.external_kernel)]);
        format!("{key}-partial-{}.json", k.hex())
    }
}

/// The evidence of the last full run of kernel `key`, if there is one.
pub fn full_evidence_path(key: &str) -> PathBuf {
    cache::root().join("evidence").join(Selection::default().evidence_name(key))
}

/// What a run showed, saved for export-patches' cover letter.
#[derive(Serialize)]
struct Evidence<'a> {
    kernel_key: &'a str,
    kernel_version: &'a str,
    qemu: String,
    accel: &'a str,
    passed: usize,
    failed: usize,
    verdict: String,
    ktap: String,
    /// The initramfs the run booted.
    initrd: String,
    full_run: bool,
}

/// The KTAP part of the console (from the header on, KTAP lines only).
pub fn ktap_lines(console: &str) -> String {
    let mut on = false;
    let mut out = String::new();
    for l in console.lines() {
        on |= l.starts_with("KTAP version");
        let t = l.trim_start();
        if on && (t.starts_with("KTAP") || t.starts_with("1..") || t.starts_with("ok ") || t.starts_with("not ok ") || t.starts_with('#')) {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// A report as KTAP (the evidence of a sharded run: there is no one console).
pub fn ktap_of(rep: &ktap::Report) -> String {
    let mut o = format!("KTAP version 1\n1..{}\n", rep.tests.len());
    for t in &rep.tests {
        for d in &t.diagnostics {
            o.push_str(&format!("# {d}\n"));
        }
        let dir = t.directive.as_deref().map(|d| format!(" # {d}")).unwrap_or_default();
        o.push_str(&format!("{} {} {}{dir}\n", if t.ok { "ok" } else { "not ok" }, t.number, t.name));
    }
    o
}

/// The names the guest will run, in its order (init.c sorts with strcmp,
/// and applies --filter as `shard::filter_matches` does).
pub fn selected_names(tests: &[rootfs::GuestTest], filter: Option<&str>) -> Vec<String> {
    let mut v: Vec<String> = tests.iter().map(|t| t.name.clone()).filter(|n| filter.is_none_or(|f| shard::filter_matches(f, n))).collect();
    v.sort();
    v.dedup();
    v
}

/// The guests' last known test durations (ms), per flavor, for shard::assign.
fn durations_path(flavor: &str) -> PathBuf {
    cache::root().join(format!("test-durations-{flavor}.json"))
}

pub fn known_durations(flavor: &str) -> BTreeMap<String, u64> {
    fs::read_to_string(durations_path(flavor)).ok().and_then(|s| serde_json::from_str(&s).ok()).unwrap_or_default()
}

fn record_durations(flavor: &str, rep: &ktap::Report) -> Result<()> {
    let mut known = known_durations(flavor);
    let before = known.clone();
    for t in rep.tests.iter().filter(|t| t.ok) {
        if let Some(ms) = t.ms {
            known.insert(t.name.clone(), ms);
        }
    }
    if known != before {
        let p = durations_path(flavor);
        let tmp = p.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&tmp, serde_json::to_string_pretty(&known)?)?;
        fs::rename(&tmp, &p)?;
    }
    Ok(())
}

/// x86's COMMAND_LINE_SIZE: a longer `-append` is cut by the kernel.
const COMMAND_LINE_MAX: usize = 2047;

/// Boot one guest per shard of `names` at once (each with `kckpt.tests=`
/// its tests), console logs `console-shardKofN.log` in `work`, and merge
/// their reports into one.
pub fn run_shards(
    base: &vm::Boot,
    names: &[String],
    shards: &[Vec<usize>],
    hang: Duration,
    timeout: Duration,
    echo: bool,
    work: &Path,
) -> Result<(RunResult, Vec<PathBuf>)> {
    let n = shards.len();
    if let Some(bad) = names.iter().find(|s| s.is_empty() || s.contains([',', ' ', '\t', '\n'])) {
        bail!("test name {bad:?} cannot go in kckpt.tests= (no commas or spaces)");
    }
    let boots: Vec<vm::Boot> = shards.iter().map(|s| base.clone().append(shard::tests_word(names, s))).collect();
    for b in &boots {
        let line = b.args().last().cloned().unwrap_or_default();
        if line.len() > COMMAND_LINE_MAX {
            bail!("a shard's kernel command line is {} bytes (max {COMMAND_LINE_MAX}): use more --jobs or --jobs 1", line.len());
        }
    }
    let logs: Vec<PathBuf> = (0..n).map(|k| pool::log_path(work, k, n)).collect();
    for (k, s) in shards.iter().enumerate() {
        eprintln!("[vm] shard {}/{n}: {} tests, console log {}", k + 1, s.len(), logs[k].display());
    }
    let (runs, secs) = pool::run_all(&boots, &logs, hang, timeout, echo)?;
    let runs: Vec<ShardRun> = runs.into_iter().map(|r| ShardRun { verdict: r.verdict, console: r.console, secs: r.secs, ktap_at: r.ktap_at }).collect();
    let console: String = runs.iter().enumerate().map(|(k, r)| format!("===== shard {}/{n} =====\n{}", k + 1, r.console)).collect();
    let boot_times = runs.iter().map(|r| r.ktap_at).collect();
    let mut res = RunResult::merged(shard::merge(names, shards, &runs), console, secs);
    res.timings.boot_to_first_test = boot_times;
    res.boots = boots;
    Ok((res, logs))
}

/// The two-boot tests `a` selects (`--filter` as for the others), one
/// pair of boots per boot-2 spec: boot 1 is `base`; boot 2 is `base`, or
/// `base` on another CPU model, or the other flavor's kernel.
fn reboot_pairs(g: &Guest, tests: &[rootfs::GuestTest], a: &Args, base: &vm::Boot) -> Result<Vec<reboot::Pair>> {
    let sel = tests.iter().filter(|t| a.filter.as_deref().is_none_or(|f| shard::filter_matches(f, &t.name)));
    let groups = reboot::groups(sel.filter_map(|t| Some((t.name.as_str(), t.reboot.as_ref()?))));
    let mut pairs = Vec::new();
    for (boot2, names) in groups {
        let second = match &boot2 {
            Boot2::Same => base.clone(),
            Boot2::Cpu(m) => base.clone().cpu(m.clone()),
            Boot2::OtherFlavor => g.boot_on(&g.other_flavor()?, base.initrd.clone())?.append(format!("kckpt.timeout={}", a.test_timeout)),
        };
        pairs.push(reboot::Pair { boot2, names, first: base.clone(), second });
    }
    Ok(pairs)
}

/// The tests of this run: tests/guest plus `--run` files (checked here,
/// before anything is built).
pub fn tests_of(a: &Args) -> Result<Vec<rootfs::GuestTest>> {
    let mut tests = rootfs::discover(&crate::repo_root().join("tests/guest"))?;
    for (i, f) in a.run.iter().enumerate() {
        tests.push(rootfs::extra_test(f, i + 1)?);
    }
    Ok(tests)
}

/// Build the initramfs, boot, and judge; record the evidence.
pub fn execute(g: &Guest, a: &Args, tests: &[rootfs::GuestTest]) -> Result<RunResult> {
    let t0 = std::time::Instant::now();
    let initrd = g.initramfs(tests, true)?;
    // The short fuzz run's mutants (tests/guest/fuzz_images.c reads them).
    let initrd = fuzz_images::test_vm_initrd(g, &initrd)?;
    let rootfs_secs = t0.elapsed().as_secs_f64();
    eprintln!("[rootfs] {} tests, {} ({rootfs_secs:.1}s)", tests.len(), initrd.display());
    let base = g.boot(initrd)?.append(format!("kckpt.timeout={}", a.test_timeout));
    let (one_boot, two_boot): (Vec<rootfs::GuestTest>, Vec<rootfs::GuestTest>) = tests.iter().cloned().partition(|t| t.reboot.is_none());
    let names = selected_names(&one_boot, a.filter.as_deref());
    let pairs = reboot_pairs(g, &two_boot, a, &base)?;
    let flavor = g.kernel.flavor.name();
    let jobs_wanted = a.jobs.unwrap_or_else(|| shard::default_jobs_here(base.mem_mib));
    // One guest unless there are tests to share; a shard never runs empty.
    let jobs = jobs_wanted.min(names.len()).max(1);
    let (hang, timeout) = (Duration::from_secs(a.hang), Duration::from_secs(a.timeout));
    let work = g.work_dir("test-vm")?;
    let (mut res, mut logs) = if names.is_empty() && !pairs.is_empty() {
        (RunResult::empty(), vec![])
    } else if jobs == 1 {
        let mut boot = base;
        if let Some(f) = &a.filter {
            boot = boot.append(format!("kckpt.filter={f}"));
        }
        let log = work.join("console.log");
        eprintln!("[vm] accel {}, {flavor} kernel, console log {}", boot.accel.name(), log.display());
        let r = vm::run(&boot, hang, timeout, a.verbose, &log)?;
        let mut res = RunResult::of(r.console, r.verdict, r.secs);
        res.timings.boot_to_first_test = vec![r.ktap_at];
        res.boots = vec![boot];
        (res, vec![log])
    } else {
        let shards = shard::assign(&names, jobs, &known_durations(flavor));
        eprintln!("[vm] accel {}, {flavor} kernel, {} tests on {jobs} guests", base.accel.name(), names.len());
        run_shards(&base, &names, &shards, hang, timeout, a.verbose, &work)?
    };
    if !pairs.is_empty() {
        let t = Instant::now();
        let jobs = jobs_wanted.min(pairs.len()).max(1);
        eprintln!("[vm] two-boot tests: {} pairs of boots, {jobs} at a time", pairs.len());
        for p in reboot::run_pairs(g.sh, &pairs, jobs, hang, timeout, a.verbose, &work)? {
            logs.extend(p.logs.iter().cloned());
            res.add_pair(p);
        }
        res.timings.reboot_stage = Some(t.elapsed().as_secs_f64());
        if res.boots.is_empty() {
            res.boots = pairs.iter().map(|p| p.first.clone()).collect();
        }
        res.secs += t.elapsed().as_secs_f64();
    }
    res.timings.rootfs = rootfs_secs;
    res.timings.total = t0.elapsed().as_secs_f64();
    res.accel = res.boots[0].accel.name().into();
    res.kernel_key = g.kernel.key.clone();
    res.kernel_version = g.kernel.version.clone();
    let sel = Selection::of(a);
    let ev = Evidence {
        kernel_key: &res.kernel_key,
        kernel_version: &res.kernel_version,
        qemu: vm::qemu_version(g.sh)?,
        accel: &res.accel,
        passed: res.passed,
        failed: res.outcome.failed,
        verdict: format!("{:?}", res.verdict),
        ktap: if res.shards.is_empty() && res.reboots.is_empty() { ktap_lines(&res.console) } else { ktap_of(&res.report) },
        initrd: res.boots[0].initrd.display().to_string(),
        full_run: sel.is_full(),
    };
    let evdir = cache::root().join("evidence");
    fs::create_dir_all(&evdir)?;
    fs::write(evdir.join(sel.evidence_name(&res.kernel_key)), serde_json::to_string_pretty(&ev)?)?;
    if let Err(e) = record_durations(flavor, &res.report) {
        eprintln!("[vm] test durations not recorded: {e:#}");
    }
    if a.keep || res.outcome.code != 0 {
        for log in &logs {
            eprintln!("console log kept: {}", log.display());
        }
    } else {
        let _ = fs::remove_dir_all(&work);
    }
    Ok(res)
}

pub fn run(sh: &Shell, a: &Args) -> Result<i32> {
    // Arguments first: a wrong --run path or a --shell with --json needs no kernel.
    let tests = tests_of(a)?;
    if a.shell && a.json {
        bail!("--shell and --json do not go together");
    }
    let t0 = Instant::now();
    let mut g = Guest::new(sh, &a.guest)?;
    let build_check = t0.elapsed().as_secs_f64();
    if let Some(k) = &a.kernel {
        g.use_bzimage(k)?;
    }
    if a.shell {
        let initrd = g.initramfs(&tests, true)?;
        let boot = g.boot(initrd)?.append(format!("kckpt.timeout={}", a.test_timeout)).append("kckpt.shell=1").interactive();
        return vm::interactive(&boot);
    }
    let mut res = execute(&g, a, &tests)?;
    res.timings.build_check = Some(build_check);
    res.timings.total += build_check;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&res)?);
        if a.timings {
            eprint!("{}", res.timings_text());
        }
    } else {
        print!("{}", res.text());
        if a.timings {
            print!("{}", res.timings_text());
        }
    }
    Ok(res.outcome.code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flavor::Flavor;

    fn judge(fixture: &str, v: Verdict) -> RunResult {
        let p = crate::repo_root().join("tests/fixtures").join(fixture);
        RunResult::of(std::fs::read_to_string(p).unwrap(), v, 1.0)
    }

    #[test]
    fn every_verdict_has_its_exit_code() {
        let cases = [
            ("console-pass.log", Verdict::Completed, 0, 0),
            ("console-fail.log", Verdict::Completed, 1, 1),
            ("console-panic.log", Verdict::Panic("Kernel panic - not syncing: No working init found.".into()), 3, 1),
            ("console-warning.log", Verdict::Completed, 4, 1),
            ("console-hang.log", Verdict::Hang(45), 5, 2),
            ("console-timeout.log", Verdict::Timeout(600), 6, 1),
            ("console-noexit.log", Verdict::NoExit("qemu exited with status 0".into()), 7, 1),
            ("console-noktap.log", Verdict::Completed, 7, 1),
        ];
        for (f, v, code, failed) in cases {
            let r = judge(f, v);
            assert_eq!(r.outcome, Outcome { code, failed }, "{f}");
        }
    }

    #[test]
    fn a_kernel_problem_does_not_hide_a_panic() {
        let rep = ktap::parse("KTAP version 1\n1..1\nok 1 a\n");
        assert_eq!(exit_code(&rep, &Verdict::Panic("x".into()), &["WARNING: x".into()]).code, 3);
        assert_eq!(exit_code(&rep, &Verdict::Completed, &["WARNING: x".into()]), Outcome { code: 4, failed: 1 });
    }

    #[test]
    fn printer_and_json_say_the_same() {
        let r = judge("console-fail.log", Verdict::Completed);
        let t = r.text();
        assert!(t.contains("# failing on purpose\nnot ok 2 zz-run1-fails_sh # exit status 1\n"), "{t}");
        assert!(t.ends_with("1 passed, 1 failed\n"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(j["outcome"]["code"], 1);
        assert_eq!(j["passed"], 1);
        assert_eq!(j["verdict"]["verdict"], "completed");
        assert_eq!(j["report"]["tests"][1]["name"], "zz-run1-fails_sh");
        let h = judge("console-hang.log", Verdict::Hang(45));
        assert!(h.text().contains("# VERDICT hang: no console output for 45 s\n"));
    }

    #[test]
    fn a_passed_test_shows_its_summary_lines_only() {
        let log = "KTAP version 1\n1..2\n# fz-begin\n# summary: traced 150 rejected\nok 1 fuzz_images\n# why\nnot ok 2 b\n";
        let t = RunResult::of(log.into(), Verdict::Completed, 1.0).text();
        assert!(t.contains("# summary: traced 150 rejected\nok 1 fuzz_images\n"), "{t}");
        assert!(!t.contains("fz-begin"), "{t}");
        assert!(t.contains("# why\nnot ok 2 b\n"), "{t}");
    }

    #[test]
    fn a_panicking_shard_is_the_runs_verdict_and_names_its_tests() {
        let names: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let shards = vec![vec![0, 2], vec![1, 3]];
        let p = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b";
        let run = |v: Verdict, c: &str| ShardRun { verdict: v, console: c.into(), secs: 1.0, ktap_at: None };
        let runs = [
            run(Verdict::Completed, "KTAP version 1\n1..2\nok 1 a\n# boom\nnot ok 2 c # exit status 1\n"),
            run(Verdict::Panic(p.into()), &format!("KTAP version 1\n1..2\n{p}\n")),
        ];
        let r = RunResult::merged(shard::merge(&names, &shards, &runs), String::new(), 2.0);
        assert_eq!(r.outcome, Outcome { code: 3, failed: 3 });
        let t = r.text();
        assert!(t.contains("ok 1 a\nnot ok 2 b # not completed: shard 2/2 kernel panic\n# boom\nnot ok 3 c # exit status 1\n"), "{t}");
        assert!(t.contains(&format!("# VERDICT kernel panic: {p}\n")), "{t}");
        assert!(t.contains(&format!("# VERDICT shard 2/2 (b, d): {p}; not completed: b, d\n")), "{t}");
        assert!(!t.contains("shard 1/2 ("), "{t}");
        assert!(t.ends_with("1 passed, 3 failed\n"), "{t}");
        let j: serde_json::Value = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(j["shards"][1]["not_completed"][1], "d");
        assert_eq!(ktap::parse(&ktap_of(&r.report)).tests, r.report.tests.iter().map(|t| ktap::TestResult { ms: None, ..t.clone() }).collect::<Vec<_>>());
    }

    #[test]
    fn two_boot_tests_join_the_report_in_name_order() {
        let mut r = RunResult::of("KTAP version 1\n1..2\nok 1 a\nok 2 z\n".into(), Verdict::Completed, 1.0);
        let names: Vec<String> = ["m", "n"].map(String::from).to_vec();
        let p = "Kernel panic - not syncing: Attempted to kill init! exitcode=0x0000000b";
        let t2 = reboot::tag("cpu=qemu32", 2);
        let boot2 = ShardRun { verdict: Verdict::Panic(p.into()), console: format!("KTAP version 1\n1..2\nok 1 m\n{p}\n"), secs: 1.0, ktap_at: Some(0.5) };
        let m2 = shard::merge_labelled(&names, &[vec![0, 1]], &[boot2], &[(t2.clone(), t2)]);
        let p1 = ktap::parse("KTAP version 1\n1..2\n# time m 10\nok 1 m\nok 2 n\n");
        let tests = reboot::combine(&names, &p1, Some(&m2.report), "");
        let outcome = PairOutcome { boot2: "cpu=qemu32".into(), tests: names.clone(), boots: m2.shards.clone(), phase_ms: BTreeMap::new() };
        r.add_pair(PairResult { outcome, tests, verdict: m2.verdict.clone(), kernel_problems: vec![], problems: vec![], header: true, console: String::new(), logs: vec![] });
        let t = r.text();
        assert!(t.contains("1..4\nok 1 a\nok 2 m\nnot ok 3 n # phase 2: not completed: reboot cpu=qemu32 boot 2 kernel panic\nok 4 z\n"), "{t}");
        assert!(t.contains(&format!("# VERDICT reboot cpu=qemu32 boot 2 (m, n): {p}; not completed: n\n")), "{t}");
        assert_eq!(r.outcome, Outcome { code: 3, failed: 1 });
        // Only two-boot tests selected: no one-boot guest, the pair's report alone.
        let mut e = RunResult::empty();
        let p1 = ktap::parse("KTAP version 1\n1..1\nok 1 m\n");
        let p2 = ktap::parse("KTAP version 1\n1..1\nok 1 m\n");
        let tests = reboot::combine(&names[..1], &p1, Some(&p2), "");
        let outcome = PairOutcome { boot2: "same".into(), tests: names[..1].to_vec(), boots: vec![], phase_ms: BTreeMap::new() };
        e.add_pair(PairResult { outcome, tests, verdict: Verdict::Completed, kernel_problems: vec![], problems: vec![], header: true, console: String::new(), logs: vec![] });
        assert_eq!((e.outcome, e.passed, e.report.plan), (Outcome { code: 0, failed: 0 }, 1, Some(1)));
    }

    #[test]
    fn selection_is_inits() {
        let t = |n: &str| rootfs::GuestTest::new(n, "/x".into(), false);
        let tests = [t("cr_v2"), t("a-b"), t("a"), t("zz-run1-x_sh"), t("cr_sleep")];
        assert_eq!(selected_names(&tests, None), ["a", "a-b", "cr_sleep", "cr_v2", "zz-run1-x_sh"]);
        assert_eq!(selected_names(&tests, Some("cr_*")), ["cr_sleep", "cr_v2"]);
        assert_eq!(selected_names(&tests, Some("a")), ["a", "a-b"]);
    }

    #[test]
    fn only_a_full_run_is_evidence_for_export() {
        let full = Selection::default();
        assert_eq!(full.evidence_name("k"), "k.json");
        let filtered = Selection { filter: Some("cr_*".into()), ..Default::default() };
        let extra = Selection { run: vec!["/x.sh".into()], ..Default::default() };
        let ext = Selection { external_kernel: true, ..Default::default() };
        let names = [filtered.evidence_name("k"), extra.evidence_name("k"), ext.evidence_name("k")];
        for n in &names {
            assert_ne!(n, "k.json");
            assert!(n.starts_with("k-partial-"));
        }
        assert_ne!(names[0], names[1]);
        assert!(full_evidence_path("k").ends_with("evidence/k.json"));
    }

    #[test]
    fn defaults_in_process_are_the_command_lines() {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct Cli {
            #[command(flatten)]
            a: Args,
        }
        let (c, d) = (Cli::parse_from(["test-vm"]).a, Args::default());
        assert_eq!((c.timeout, c.test_timeout, c.hang), (d.timeout, d.test_timeout, d.hang));
        assert_eq!((c.filter, c.run, c.guest.flavor, &c.guest.append), (d.filter, d.run, d.guest.flavor, &d.guest.append));
        let c = Cli::parse_from(["test-vm", "--flavor", "debug", "--append", "panic_on_warn=0", "a=b", "--filter", "x"]).a;
        assert_eq!((c.guest.flavor, c.guest.append, c.filter.as_deref()), (Flavor::Debug, vec!["panic_on_warn=0".into(), "a=b".into()], Some("x")));
    }

    #[test]
    fn run_paths_are_checked_before_any_build() {
        let a = Args { run: vec!["/nonexistent/kckpt-test".into()], ..Default::default() };
        let e = tests_of(&a).unwrap_err();
        assert!(format!("{e:#}").contains("/nonexistent/kckpt-test"), "{e:#}");
    }
}
