//! cr: a cryo-like checkpoint/restart tool for the kckpt guest.
//! `cr -p PID [-f FILE]` checkpoints another process, which keeps running;
//! `cr -r -f FILE [--detach]` restarts an image.

mod compare;
mod error;
mod inject;
mod restart;
mod sys;
mod uckpt;
mod uextras;
mod ufds;
mod uitimers;
mod umapped;
mod urestore;
mod usigframe;
mod usignals;
mod uxstate;

use error::{CrError, Result};

const USAGE: &str = "usage: cr -p PID [-f FILE] [--userspace]   checkpoint process PID into FILE (default PID.kckpt)
       cr -r -f FILE [--detach] [--userspace]   restart the process saved in FILE
       cr --compare A B           check that images A and B hold the same state
options:
  -p, --pid PID      process to checkpoint; it keeps running unharmed
  -f, --file FILE    image file (created with O_EXCL; never overwritten)
  -r, --restart      restart FILE (through binfmt_cr); cr exits with its status
      --detach       with -r: do not wait for the restarted process
      --userspace    with -p: write the image from ptrace and /proc, without
                     the checkpoint system call; with -r: rebuild the process
                     with mmap/prctl/set_thread_area and a restorer, without
                     binfmt_cr (needs CAP_SYS_RESOURCE for the mm fields)
      --compare A B  decode and validate A and B, list what differs; exit 0
                     when they describe the same state, 1 when not
  -h, --help         this text
exit codes: 0 ok, 1 error, 2 usage, 3 no such process, 4 not permitted,
            5 target exited during checkpoint, 6 file exists, 7 invalid image";

#[derive(Default, Debug)]
struct Opts {
    pid: Option<i32>,
    file: Option<String>,
    restart: bool,
    detach: bool,
    userspace: bool,
    compare: Option<(String, String)>,
}

fn parse(args: &[String]) -> Result<Opts> {
    let mut o = Opts::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut val = |name: &str| it.next().cloned().ok_or_else(|| CrError::Usage(format!("{name} needs a value")));
        match a.as_str() {
            "-p" | "--pid" => {
                let v = val(a)?;
                o.pid = Some(v.parse().map_err(|_| CrError::Usage(format!("bad pid {v:?}")))?);
            }
            "-f" | "--file" => o.file = Some(val(a)?),
            "-r" | "--restart" => o.restart = true,
            "--detach" => o.detach = true,
            "--userspace" => o.userspace = true,
            "--compare" => {
                let a = val(a)?;
                let b = it.next().cloned().ok_or_else(|| CrError::Usage("--compare needs two files".into()))?;
                o.compare = Some((a, b));
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                std::process::exit(0);
            }
            x => return Err(CrError::Usage(format!("unknown argument {x:?}"))),
        }
    }
    Ok(o)
}

fn run() -> Result<i32> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let o = parse(&args)?;
    if let Some((a, b)) = &o.compare {
        return compare::run(a, b);
    }
    match (o.restart, o.pid) {
        (true, None) => {
            let f = o.file.ok_or_else(|| CrError::Usage("-r needs -f FILE".into()))?;
            if o.userspace {
                urestore::run(&f, o.detach)
            } else {
                restart::run(&f, o.detach)
            }
        }
        (false, Some(pid)) => {
            let f = o.file.unwrap_or_else(|| format!("{pid}.kckpt"));
            if o.userspace {
                uckpt::checkpoint(pid, &f)?;
            } else {
                inject::checkpoint(pid, &f)?;
            }
            println!("cr: checkpointed {pid} into {f}");
            Ok(0)
        }
        _ => Err(CrError::Usage("give either -p PID or -r -f FILE".into())),
    }
}

fn main() {
    match run() {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            eprintln!("cr: {e}");
            if matches!(e, CrError::Usage(_)) {
                eprintln!("{USAGE}");
            }
            std::process::exit(e.code());
        }
    }
}
