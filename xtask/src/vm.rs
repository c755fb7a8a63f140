//! The VM stage: qemu-system-i386 on the serial console, with a KVM probe
//! (the device node is not trusted), hang and timeout watchdogs, and the
//! guest's verdict from isa-debug-exit.

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};

use crate::{cache, verdict::Verdict};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Accel {
    Kvm,
    Tcg,
}

impl Accel {
    pub fn name(self) -> &'static str {
        match self {
            Accel::Kvm => "kvm",
            Accel::Tcg => "tcg",
        }
    }
}

/// What to boot: a plan, turned into QEMU arguments without running anything.
#[derive(Debug, Clone)]
pub struct Boot {
    pub kernel: PathBuf,
    pub initrd: PathBuf,
    pub accel: Accel,
    pub append: Vec<String>,
    pub mem_mib: u32,
    pub interactive: bool,
}

impl Boot {
    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-accel".into(),
            self.accel.name().into(),
            "-cpu".into(),
            if self.accel == Accel::Kvm { "host".into() } else { "max".into() },
            "-m".into(),
            self.mem_mib.to_string(),
            "-smp".into(),
            "1".into(),
            "-no-reboot".into(),
            "-device".into(),
            "isa-debug-exit,iobase=0xf4,iosize=0x04".into(),
            "-kernel".into(),
            self.kernel.display().to_string(),
            "-initrd".into(),
            self.initrd.display().to_string(),
        ];
        if self.interactive {
            a.push("-nographic".into());
        } else {
            a.extend(["-display", "none", "-serial", "stdio", "-monitor", "none", "-nodefaults"].map(String::from));
        }
        let mut append = vec!["console=ttyS0".to_string(), "panic=-1".into(), "oops=0".into()];
        append.extend(self.append.iter().cloned());
        a.push("-append".into());
        a.push(append.join(" "));
        a
    }
}

/// The exit status QEMU gives when the guest wrote `code` to isa-debug-exit.
pub fn debug_exit_status(code: u8) -> i32 {
    ((code as i32) << 1) | 1
}

pub struct Run {
    pub verdict: Verdict,
    pub console: String,
    pub secs: f64,
}

/// Boot and watch the console. `hang`: no output for this long; `timeout`:
/// whole run. A panic ends the run as soon as it is printed.
pub fn run(boot: &Boot, hang: Duration, timeout: Duration, echo: bool, log: &Path) -> Result<Run> {
    let args = boot.args();
    eprintln!("$ qemu-system-i386 {}", args.iter().map(|a| shell_quote(a)).collect::<Vec<_>>().join(" "));
    let start = Instant::now();
    let mut child = Command::new("qemu-system-i386")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting qemu-system-i386")?;
    let (tx, rx) = channel::<String>();
    let out = child.stdout.take().unwrap();
    let err = child.stderr.take().unwrap();
    let tx2 = tx.clone();
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(out).split(b'\n').map_while(Result::ok) {
            let _ = tx.send(String::from_utf8_lossy(&l).trim_end_matches('\r').to_string());
        }
    });
    std::thread::spawn(move || {
        for l in std::io::BufReader::new(err).lines().map_while(Result::ok) {
            let _ = tx2.send(format!("qemu: {l}"));
        }
    });
    let mut logf = std::fs::File::create(log)?;
    let mut console = String::new();
    let mut last = Instant::now();
    let mut verdict = None;
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(l) => {
                last = Instant::now();
                if echo {
                    println!("{l}");
                }
                writeln!(logf, "{l}")?;
                console.push_str(&l);
                console.push('\n');
                if l.contains("Kernel panic - not syncing") && verdict.is_none() {
                    // Give the kernel a moment to print the rest of the trace.
                    verdict = Some(Verdict::Panic(l.clone()));
                }
            }
            Err(RecvTimeoutError::Disconnected) => break,
            Err(RecvTimeoutError::Timeout) => {}
        }
        if verdict.is_none() && last.elapsed() > hang {
            verdict = Some(Verdict::Hang(hang.as_secs()));
        }
        if verdict.is_none() && start.elapsed() > timeout {
            verdict = Some(Verdict::Timeout(timeout.as_secs()));
        }
        if let Some(v) = &verdict {
            let grace = if matches!(v, Verdict::Panic(_)) { 2 } else { 0 };
            if last.elapsed() >= Duration::from_secs(grace) || matches!(v, Verdict::Hang(_) | Verdict::Timeout(_)) {
                let _ = child.kill();
                break;
            }
        }
    }
    let status = child.wait()?;
    let verdict = verdict.unwrap_or_else(|| match status.code() {
        Some(c) if c == debug_exit_status(0) || c == debug_exit_status(1) => Verdict::Completed,
        Some(c) => Verdict::NoExit(format!("qemu exited with status {c} without the guest's exit code")),
        None => Verdict::NoExit(format!("qemu ended by {status}")),
    });
    Ok(Run { verdict, console, secs: start.elapsed().as_secs_f64() })
}

/// Interactive boot (`--shell`): the console is the terminal.
pub fn interactive(boot: &Boot) -> Result<i32> {
    let st = Command::new("qemu-system-i386").args(boot.args()).status()?;
    Ok(st.code().unwrap_or(1))
}

fn shell_quote(s: &str) -> String {
    if s.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_=./,:".contains(&b)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// `qemu-system-i386 --version`, first line.
pub fn qemu_version() -> Result<String> {
    let o = Command::new("qemu-system-i386").arg("--version").output()?;
    Ok(String::from_utf8_lossy(&o.stdout).lines().next().unwrap_or("").to_string())
}

/// Does KVM really run this guest? Boot it for a few seconds and look for
/// the kernel's banner. The answer is cached per host kernel, QEMU and bzImage.
pub fn probe_kvm(kernel: &Path, initrd: &Path) -> Result<bool> {
    if !Path::new("/dev/kvm").exists() {
        return Ok(false);
    }
    let mut k = cache::Key::new("kvm-probe");
    k.part("qemu", qemu_version()?.as_bytes());
    k.part("host", std::fs::read_to_string("/proc/version").unwrap_or_default().as_bytes());
    k.part("kernel", cache::sha256_file(kernel)?.as_bytes());
    let file = cache::root().join(format!("kvm-probe-{}", k.hex()));
    if let Ok(s) = std::fs::read_to_string(&file) {
        return Ok(s.trim() == "yes");
    }
    let boot = Boot {
        kernel: kernel.into(),
        initrd: initrd.into(),
        accel: Accel::Kvm,
        append: vec!["kckpt.filter=__none__".into()],
        mem_mib: 128,
        interactive: false,
    };
    let log = cache::root().join("kvm-probe.log");
    let r = run(&boot, Duration::from_secs(4), Duration::from_secs(8), false, &log)?;
    let ok = r.console.contains("Linux version") && r.verdict == Verdict::Completed;
    std::fs::write(&file, if ok { "yes" } else { "no" })?;
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_plan_has_exit_device_and_console() {
        let b = Boot {
            kernel: "/k".into(),
            initrd: "/i".into(),
            accel: Accel::Tcg,
            append: vec!["kckpt.filter=x".into()],
            mem_mib: 256,
            interactive: false,
        };
        let a = b.args();
        assert!(a.contains(&"isa-debug-exit,iobase=0xf4,iosize=0x04".to_string()));
        assert!(a.contains(&"-no-reboot".to_string()));
        let append = a.last().unwrap();
        assert!(append.contains("console=ttyS0") && append.contains("panic=-1") && append.ends_with("kckpt.filter=x"));
        assert_eq!(debug_exit_status(0), 1);
        assert_eq!(debug_exit_status(1), 3);
    }
}
