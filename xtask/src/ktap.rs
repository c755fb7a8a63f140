//! A pure KTAP v1 parser: console text in, a tree of results out. Lines that
//! are not KTAP (kernel messages interleaved on the console) are ignored.
//! The guest's `# time NAME MS` comment before a result is that result's `ms`.

use std::sync::LazyLock;

use regex::Regex;
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TestResult {
    pub number: usize,
    pub name: String,
    pub ok: bool,
    /// `# SKIP ...`, `# TODO ...` or any other directive text after `#`.
    pub directive: Option<String>,
    /// Diagnostic lines (`# ...`) that came before this result at its level.
    pub diagnostics: Vec<String>,
    pub subtests: Vec<TestResult>,
    /// Wall time in the guest, from init's `# time NAME MS` line.
    pub ms: Option<u64>,
}

impl TestResult {
    pub fn skipped(&self) -> bool {
        self.directive.as_deref().is_some_and(|d| d.to_ascii_uppercase().starts_with("SKIP"))
    }
}

#[derive(Debug, Default, Clone, Serialize, PartialEq)]
pub struct Report {
    /// Whether a `KTAP version 1` header was seen.
    pub header: bool,
    pub plan: Option<usize>,
    pub tests: Vec<TestResult>,
    /// Structural problems: missing plan, wrong count, out-of-order numbers.
    pub problems: Vec<String>,
}

impl Report {
    pub fn passed(&self) -> usize {
        self.tests.iter().filter(|t| t.ok && !t.skipped()).count()
    }
    pub fn failed(&self) -> usize {
        self.tests.iter().filter(|t| !t.ok).count()
    }
    pub fn skipped(&self) -> usize {
        self.tests.iter().filter(|t| t.skipped()).count()
    }
    /// Tests the plan promised that never reported (crash or hang mid-run).
    pub fn missing(&self) -> usize {
        self.plan.map_or(0, |p| p.saturating_sub(self.tests.len()))
    }
}

struct Level {
    plan: Option<usize>,
    tests: Vec<TestResult>,
    diag: Vec<String>,
    pending_sub: Vec<TestResult>,
    /// The last `# time NAME MS` seen at this level.
    time: Option<(String, u64)>,
}

static HEADER: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\s*)(KTAP|TAP) version (\d+)\s*$").unwrap());
static PLAN: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\s*)1\.\.(\d+)\s*$").unwrap());
static RESULT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(\s*)(ok|not ok) (\d+)(?: -)? ?([^#]*?)\s*(?:#\s*(.*?))?\s*$").unwrap());
static DIAG: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^(\s*)#\s?(.*)$").unwrap());
static TIME: LazyLock<Regex> = LazyLock::new(|| Regex::new(r"^time (\S+) (\d+)$").unwrap());

pub fn parse(text: &str) -> Report {
    let (header, plan_re, result, diag) = (&*HEADER, &*PLAN, &*RESULT, &*DIAG);

    let mut rep = Report::default();
    // levels[0] is the top level; deeper ones are open subtests.
    let mut levels: Vec<Level> = Vec::new();
    let depth_of = |indent: &str| indent.len() / 4;

    for raw in text.lines() {
        let line = raw.trim_end_matches(['\r', '\n']);
        if let Some(c) = header.captures(line) {
            let d = depth_of(&c[1]);
            if d == 0 && levels.is_empty() {
                rep.header = true;
                levels.push(Level { plan: None, tests: vec![], diag: vec![], pending_sub: vec![], time: None });
            } else if d == levels.len() && d > 0 {
                levels.push(Level { plan: None, tests: vec![], diag: vec![], pending_sub: vec![], time: None });
            }
            continue;
        }
        if levels.is_empty() {
            continue;
        }
        if let Some(c) = plan_re.captures(line) {
            let d = depth_of(&c[1]);
            if d < levels.len() {
                levels[d].plan = c[2].parse().ok();
            }
            continue;
        }
        if let Some(c) = result.captures(line) {
            let d = depth_of(&c[1]);
            if d >= levels.len() {
                continue;
            }
            // A result at depth d closes every deeper level: those become
            // the subtests of this result.
            while levels.len() > d + 1 {
                let l = levels.pop().unwrap();
                levels.last_mut().unwrap().pending_sub = l.tests;
            }
            let lvl = levels.last_mut().unwrap();
            let number: usize = c[3].parse().unwrap_or(0);
            let name = c[4].trim().to_string();
            let ms = lvl.time.take().filter(|(n, _)| *n == name).map(|(_, ms)| ms);
            let expected = lvl.tests.len() + 1;
            if d == 0 && number != expected {
                rep.problems.push(format!("test {number} out of order (expected {expected})"));
            }
            lvl.tests.push(TestResult {
                number,
                name,
                ok: &c[2] == "ok",
                directive: c.get(5).map(|m| m.as_str().to_string()).filter(|s| !s.is_empty()),
                diagnostics: std::mem::take(&mut lvl.diag),
                subtests: std::mem::take(&mut lvl.pending_sub),
                ms,
            });
            continue;
        }
        if let Some(c) = diag.captures(line) {
            let d = depth_of(&c[1]).min(levels.len() - 1);
            if let Some(t) = TIME.captures(&c[2]) {
                levels[d].time = Some((t[1].to_string(), t[2].parse().unwrap_or(u64::MAX)));
            } else {
                levels[d].diag.push(c[2].to_string());
            }
        }
    }
    while levels.len() > 1 {
        let l = levels.pop().unwrap();
        levels.last_mut().unwrap().pending_sub = l.tests;
    }
    if let Some(top) = levels.pop() {
        rep.plan = top.plan;
        rep.tests = top.tests;
    }
    if rep.header {
        match rep.plan {
            None => rep.problems.push("no test plan (1..N)".into()),
            Some(p) if p < rep.tests.len() => {
                rep.problems.push(format!("plan says {p} tests, {} reported", rep.tests.len()))
            }
            Some(p) if p > rep.tests.len() => {
                rep.problems.push(format!("{} of {p} planned tests never reported", p - rep.tests.len()))
            }
            _ => {}
        }
    } else {
        rep.problems.push("no KTAP header on the console".into());
    }
    rep
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_results_with_noise() {
        let t = "random kernel line\nKTAP version 1\n1..3\n# hello out\nok 1 hello\n\
                 [ 1.0] kernel says\nnot ok 2 uname_i386 # exit 1\nok 3 later # SKIP no thing\n";
        let r = parse(t);
        assert_eq!(r.plan, Some(3));
        assert_eq!((r.passed(), r.failed(), r.skipped()), (1, 1, 1));
        assert_eq!(r.tests[0].diagnostics, vec!["hello out"]);
        assert_eq!(r.tests[1].directive.as_deref(), Some("exit 1"));
        assert!(r.problems.is_empty(), "{:?}", r.problems);
    }

    #[test]
    fn nested_subtests_belong_to_their_parent() {
        let t = "KTAP version 1\n1..1\n    KTAP version 1\n    1..2\n    ok 1 a\n    not ok 2 b\nnot ok 1 suite\n";
        let r = parse(t);
        assert_eq!(r.tests.len(), 1);
        assert_eq!(r.tests[0].subtests.len(), 2);
        assert!(!r.tests[0].subtests[1].ok);
    }

    #[test]
    fn missing_tests_and_header_are_problems() {
        let r = parse("KTAP version 1\n1..3\nok 1 a\n");
        assert_eq!(r.missing(), 2);
        assert!(r.problems[0].contains("never reported"));
        let r = parse("nothing here\n");
        assert!(!r.header);
        assert!(!r.problems.is_empty());
    }

    #[test]
    fn time_lines_are_the_results_ms_not_diagnostics() {
        let t = "KTAP version 1\n1..3\n# out\n# time a 1234\nok 1 a\n# time zz 5\nnot ok 2 b # exit status 1\nok 3 c\n";
        let r = parse(t);
        assert!(r.problems.is_empty(), "{:?}", r.problems);
        assert_eq!(r.tests[0].ms, Some(1234));
        assert_eq!(r.tests[0].diagnostics, vec!["out"]);
        // A time line names its test: another's is not taken, nor kept.
        assert_eq!((r.tests[1].ms, r.tests[1].diagnostics.len()), (None, 0));
        assert_eq!(r.tests[2].ms, None);
    }

    #[test]
    fn captured_passing_run() {
        let r = parse(include_str!("../../tests/fixtures/console-pass.log"));
        assert!(r.header && r.problems.is_empty(), "{:?}", r.problems);
        assert!(r.failed() == 0 && r.passed() >= 2);
    }

    #[test]
    fn captured_failing_run() {
        let r = parse(include_str!("../../tests/fixtures/console-fail.log"));
        assert!(r.failed() >= 1, "{r:?}");
    }
}
