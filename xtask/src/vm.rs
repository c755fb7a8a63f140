//! The VM stage: qemu-system-i386 on the serial console, with a KVM probe
//! (the device node is not trusted), hang and timeout watchdogs, and the
//! guest's verdict from isa-debug-exit.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use fs_err as fs;
use xshell::{cmd, Shell};

use crate::{cache, proc, verdict::Verdict};

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
    /// A raw disk image on virtio-blk (disk.rs), if any.
    pub disk: Option<PathBuf>,
    /// `-cpu` model (with features, `max,-avx`) instead of the default.
    pub cpu: Option<String>,
}

impl Boot {
    /// The one constructor: 512 MiB, no extra command line, on the serial console.
    pub fn new(kernel: PathBuf, initrd: PathBuf, accel: Accel) -> Boot {
        Boot { kernel, initrd, accel, append: vec![], mem_mib: 512, interactive: false, disk: None, cpu: None }
    }

    pub fn mem(mut self, mib: u32) -> Boot {
        self.mem_mib = mib;
        self
    }

    /// Add a kernel command-line word (`kckpt.timeout=…`, …).
    pub fn append(mut self, word: impl Into<String>) -> Boot {
        self.append.push(word.into());
        self
    }

    pub fn interactive(mut self) -> Boot {
        self.interactive = true;
        self
    }

    /// Attach `path` (a raw image) as the guest's virtio-blk disk, /dev/vda.
    pub fn disk(mut self, path: PathBuf) -> Boot {
        self.disk = Some(path);
        self
    }

    /// Boot on this `-cpu` model instead of `max` (TCG) or `host` (KVM).
    pub fn cpu(mut self, model: impl Into<String>) -> Boot {
        self.cpu = Some(model.into());
        self
    }

    /// The `-cpu` value: the one asked for, else what the accelerator offers.
    pub fn cpu_model(&self) -> String {
        match (&self.cpu, self.accel) {
            (Some(m), _) => m.clone(),
            (None, Accel::Kvm) => "host".into(),
            (None, Accel::Tcg) => "max".into(),
        }
    }

    pub fn args(&self) -> Vec<String> {
        let mut a: Vec<String> = vec![
            "-accel".into(),
            self.accel.name().into(),
            "-cpu".into(),
            self.cpu_model(),
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
        if let Some(d) = &self.disk {
            a.extend(["-drive".into(), crate::disk::drive_arg(d)]);
        }
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
    /// Seconds from QEMU's start to the KTAP header: boot to the first test.
    pub ktap_at: Option<f64>,
}

/// The verdict of a run from how QEMU ended and the panic line, if any.
pub fn verdict_of(end: &proc::End, panic: Option<String>) -> Verdict {
    match (end, panic) {
        (_, Some(l)) => Verdict::Panic(l),
        (proc::End::Hang(d), None) => Verdict::Hang(d.as_secs()),
        (proc::End::Timeout(d), None) => Verdict::Timeout(d.as_secs()),
        (proc::End::Exited(Some(c)), None) if *c == debug_exit_status(0) || *c == debug_exit_status(1) => Verdict::Completed,
        (proc::End::Exited(Some(c)), None) => Verdict::NoExit(format!("qemu exited with status {c} without the guest's exit code")),
        (proc::End::Exited(None), None) => Verdict::NoExit("qemu ended by a signal".into()),
        (proc::End::Stopped, None) => Verdict::NoExit("qemu stopped by the harness".into()),
    }
}

/// Boot and watch the console (written to `log`). `hang`: no output for this
/// long; `timeout`: whole run. A panic ends the run once the kernel has had
/// two quiet seconds to print its trace. `echo` copies the console to stderr.
pub fn run(boot: &Boot, hang: Duration, timeout: Duration, echo: bool, log: &Path) -> Result<Run> {
    let args = boot.args();
    eprintln!("$ {}", proc::shell_line("qemu-system-i386", &args));
    let start = Instant::now();
    let _ = fs::remove_file(log);
    let mut console = String::new();
    let mut panic = None;
    let mut ktap_at = None;
    let limits = proc::Limits { hang: Some(hang), timeout: Some(timeout) };
    let end = proc::stream(duct::cmd("qemu-system-i386", &args), log, limits, |ev| {
        let proc::Event::Line(l) = ev else { return proc::Flow::Go };
        if echo {
            eprintln!("{l}");
        }
        console.push_str(l);
        console.push('\n');
        if ktap_at.is_none() && l.starts_with("KTAP version") {
            ktap_at = Some(start.elapsed().as_secs_f64());
        }
        if l.contains("Kernel panic - not syncing") {
            panic = Some(l.to_string());
            return proc::Flow::StopWhenQuiet(Duration::from_secs(2));
        }
        proc::Flow::Go
    })
    .context("running qemu-system-i386")?;
    Ok(Run { verdict: verdict_of(&end, panic), console, secs: start.elapsed().as_secs_f64(), ktap_at })
}

/// Interactive boot (`--shell`): the console is the terminal. (std's
/// Command, not xshell's: xshell gives every command an empty stdin.)
pub fn interactive(boot: &Boot) -> Result<i32> {
    let st = Command::new("qemu-system-i386").args(boot.args()).status().context("running qemu-system-i386")?;
    // `exit` or `poweroff` in the guest: QEMU says 1 for the guest's 0.
    Ok(match st.code() {
        Some(c) if c == debug_exit_status(0) => 0,
        Some(c) => c,
        None => 1,
    })
}

/// `qemu-system-i386 --version`, first line.
pub fn qemu_version(sh: &Shell) -> Result<String> {
    let v = cmd!(sh, "qemu-system-i386 --version").quiet().read()?;
    Ok(v.lines().next().unwrap_or("").to_string())
}

/// Does KVM really run this guest? Boot it for a few seconds and look for
/// the kernel's banner. The answer is cached per host kernel, QEMU and bzImage.
pub fn probe_kvm(sh: &Shell, kernel: &Path, initrd: &Path) -> Result<bool> {
    if !Path::new("/dev/kvm").exists() {
        return Ok(false);
    }
    let mut k = cache::Key::new("kvm-probe");
    k.part("qemu", qemu_version(sh)?.as_bytes());
    k.part("host", fs::read_to_string("/proc/version").unwrap_or_default().as_bytes());
    k.part("kernel", cache::sha256_file(kernel)?.as_bytes());
    let file = cache::root().join(format!("kvm-probe-{}", k.hex()));
    if let Ok(s) = fs::read_to_string(&file) {
        return Ok(s.trim() == "yes");
    }
    let boot = Boot::new(kernel.into(), initrd.into(), Accel::Kvm).mem(128).append("kckpt.filter=__none__");
    let log = cache::root().join("kvm-probe.log");
    let r = run(&boot, Duration::from_secs(4), Duration::from_secs(8), false, &log)?;
    let ok = r.console.contains("Linux version") && r.verdict == Verdict::Completed;
    fs::write(&file, if ok { "yes" } else { "no" })?;
    Ok(ok)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_plan_has_exit_device_and_console() {
        let b = Boot::new("/k".into(), "/i".into(), Accel::Tcg).mem(256).append("kckpt.filter=x");
        let a = b.args();
        assert!(a.contains(&"isa-debug-exit,iobase=0xf4,iosize=0x04".to_string()));
        assert!(a.contains(&"-no-reboot".to_string()));
        let append = a.last().unwrap();
        assert!(append.contains("console=ttyS0") && append.contains("panic=-1") && append.ends_with("kckpt.filter=x"));
        assert_eq!(debug_exit_status(0), 1);
        assert_eq!(debug_exit_status(1), 3);
    }

    #[test]
    fn a_disk_and_a_cpu_model_go_in_the_plan() {
        let b = Boot::new("/k".into(), "/i".into(), Accel::Tcg);
        let a = b.args();
        assert!(!a.contains(&"-drive".to_string()));
        assert_eq!(a[a.iter().position(|x| x == "-cpu").unwrap() + 1], "max");
        let a = b.disk("/w/d.ext2".into()).cpu("qemu32").args();
        assert_eq!(a[a.iter().position(|x| x == "-drive").unwrap() + 1], "file=/w/d.ext2,format=raw,if=virtio");
        assert_eq!(a[a.iter().position(|x| x == "-cpu").unwrap() + 1], "qemu32");
        assert!(a.last().unwrap().starts_with("console=ttyS0"), "-append stays last: {a:?}");
        let k = Boot::new("/k".into(), "/i".into(), Accel::Kvm);
        assert_eq!(k.cpu_model(), "host");
    }

    #[test]
    fn verdict_from_how_qemu_ended() {
        let s = Duration::from_secs(5);
        assert_eq!(verdict_of(&proc::End::Exited(Some(1)), None), Verdict::Completed);
        assert_eq!(verdict_of(&proc::End::Exited(Some(3)), None), Verdict::Completed);
        assert!(matches!(verdict_of(&proc::End::Exited(Some(0)), None), Verdict::NoExit(_)));
        assert_eq!(verdict_of(&proc::End::Hang(s), None), Verdict::Hang(5));
        assert_eq!(verdict_of(&proc::End::Timeout(s), None), Verdict::Timeout(5));
        assert_eq!(verdict_of(&proc::End::Stopped, Some("Kernel panic".into())), Verdict::Panic("Kernel panic".into()));
    }
}
