//! Long-running processes (make, qemu): run one through `duct`, stream its
//! output line by line into a log and a callback, and end it on a hang
//! (no output for a while) or a timeout. Short commands with a log too.

use std::io::{BufRead, Write};
use std::path::Path;
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use fs_err as fs;

/// Limits on a streamed run; `None` is no limit.
#[derive(Debug, Clone, Copy, Default)]
pub struct Limits {
    /// No output for this long ends the run.
    pub hang: Option<Duration>,
    /// The whole run may take this long.
    pub timeout: Option<Duration>,
}

/// What the callback sees: a line of output, or a tick (about twice a second).
pub enum Event<'a> {
    Line(&'a str),
    Tick,
}

/// What the callback wants next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flow {
    Go,
    /// End the process once it has printed nothing for this long (a
    /// panicking kernel prints its trace, then nothing more matters).
    StopWhenQuiet(Duration),
}

/// How a streamed run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum End {
    /// The process exited by itself: its exit code (None: a signal).
    Exited(Option<i32>),
    /// Killed after `Limits::hang` without output.
    Hang(Duration),
    /// Killed at `Limits::timeout`.
    Timeout(Duration),
    /// Killed because the callback asked for it.
    Stopped,
}

/// The plan of the watchdog, kept pure: given the times since the start and
/// since the last line and what the callback asked, end the run or not.
pub fn due(limits: &Limits, since_start: Duration, since_line: Duration, flow: Flow) -> Option<End> {
    if let Flow::StopWhenQuiet(q) = flow {
        if since_line >= q {
            return Some(End::Stopped);
        }
    }
    if let Some(h) = limits.hang.filter(|h| since_line > *h) {
        return Some(End::Hang(h));
    }
    if let Some(t) = limits.timeout.filter(|t| since_start > *t) {
        return Some(End::Timeout(t));
    }
    None
}

/// Run `expr` (stdout and stderr merged, stdin empty), append every line to
/// `log`, hand each line to `on`, and enforce `limits`.
pub fn stream(expr: duct::Expression, log: &Path, limits: Limits, mut on: impl FnMut(Event) -> Flow) -> Result<End> {
    let mut logf = fs::OpenOptions::new().create(true).append(true).open(log)?;
    let reader = Arc::new(expr.stderr_to_stdout().stdin_null().unchecked().reader().context("starting the process")?);
    let (tx, rx) = channel::<String>();
    let r = reader.clone();
    let pump = std::thread::spawn(move || {
        for l in std::io::BufReader::new(&*r).split(b'\n').map_while(std::result::Result::ok) {
            if tx.send(String::from_utf8_lossy(&l).trim_end_matches('\r').to_string()).is_err() {
                break;
            }
        }
    });
    let (start, mut last) = (Instant::now(), Instant::now());
    let mut flow = Flow::Go;
    let end = loop {
        match rx.recv_timeout(Duration::from_millis(250)) {
            Ok(l) => {
                last = Instant::now();
                writeln!(logf, "{l}")?;
                // Every line reaches the callback; a stop once asked for stays.
                let f = on(Event::Line(&l));
                if flow == Flow::Go {
                    flow = f;
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                let out = reader.try_wait()?.context("process output ended but it did not exit")?;
                break End::Exited(out.status.code());
            }
            Err(RecvTimeoutError::Timeout) => {
                let f = on(Event::Tick);
                if flow == Flow::Go {
                    flow = f;
                }
            }
        }
        if let Some(e) = due(&limits, start.elapsed(), last.elapsed(), flow) {
            reader.kill()?;
            break e;
        }
    };
    // After a kill the pump sees EOF; the channel's receiver is still here.
    drop(rx);
    let _ = pump.join();
    Ok(end)
}

/// Run a short command with its output appended to `log`; on failure the
/// error names the command and quotes the log's last lines.
pub fn logged(c: xshell::Cmd<'_>, log: &Path) -> Result<()> {
    let name = c.to_string();
    let out = c.quiet().ignore_status().output()?;
    let mut f = fs::OpenOptions::new().create(true).append(true).open(log)?;
    f.write_all(&out.stdout)?;
    f.write_all(&out.stderr)?;
    if !out.status.success() {
        bail!("{name} failed; see {}\n{}", log.display(), tail(log, 20));
    }
    Ok(())
}

/// The last `n` lines of a log ("" when it cannot be read).
pub fn tail(log: &Path, n: usize) -> String {
    let text = fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A command line as a user would paste it into a shell.
pub fn shell_line(prog: &str, args: &[String]) -> String {
    let q = |s: &str| {
        if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=./,:".contains(&b)) {
            s.to_string()
        } else {
            format!("'{}'", s.replace('\'', r"'\''"))
        }
    };
    std::iter::once(q(prog)).chain(args.iter().map(|a| q(a))).collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Duration = Duration::from_secs(1);

    #[test]
    fn watchdog_plan() {
        let l = Limits { hang: Some(5 * S), timeout: Some(60 * S) };
        assert_eq!(due(&l, 10 * S, 4 * S, Flow::Go), None);
        assert_eq!(due(&l, 10 * S, 6 * S, Flow::Go), Some(End::Hang(5 * S)));
        assert_eq!(due(&l, 61 * S, 0 * S, Flow::Go), Some(End::Timeout(60 * S)));
        assert_eq!(due(&l, 10 * S, 1 * S, Flow::StopWhenQuiet(2 * S)), None);
        assert_eq!(due(&l, 10 * S, 2 * S, Flow::StopWhenQuiet(2 * S)), Some(End::Stopped));
        assert_eq!(due(&Limits::default(), 1000 * S, 1000 * S, Flow::Go), None);
    }

    #[test]
    fn streams_lines_and_exit_code() {
        let log = std::env::temp_dir().join(format!("kckpt-proc-{}.log", std::process::id()));
        let _ = std::fs::remove_file(&log);
        let mut seen = Vec::new();
        let e = stream(duct::cmd!("sh", "-c", "echo one; echo two >&2; exit 3"), &log, Limits::default(), |ev| {
            if let Event::Line(l) = ev {
                seen.push(l.to_string());
            }
            Flow::Go
        })
        .unwrap();
        assert_eq!(e, End::Exited(Some(3)));
        assert_eq!(seen, ["one", "two"]);
        assert_eq!(std::fs::read_to_string(&log).unwrap(), "one\ntwo\n");
        std::fs::remove_file(&log).unwrap();
    }

    #[test]
    fn a_silent_process_is_a_hang_and_is_killed() {
        let log = std::env::temp_dir().join(format!("kckpt-proc-hang-{}.log", std::process::id()));
        let t = Instant::now();
        let l = Limits { hang: Some(Duration::from_millis(300)), timeout: None };
        let e = stream(duct::cmd!("sleep", "30"), &log, l, |_| Flow::Go).unwrap();
        assert_eq!(e, End::Hang(Duration::from_millis(300)));
        assert!(t.elapsed() < Duration::from_secs(5));
        let _ = std::fs::remove_file(&log);
    }

    #[test]
    fn quotes_like_a_shell() {
        assert_eq!(shell_line("qemu", &["-append".into(), "a b".into(), "x=1".into()]), "qemu -append 'a b' x=1");
    }
}
