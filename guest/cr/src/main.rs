//! cr: a cryo-like checkpoint/restart tool for the kckpt guest.
//! `cr -p PID [-f FILE]` checkpoints another process, which keeps running;
//! `cr -r -f FILE [--detach]` restarts an image; `--parent OLD` makes an
//! incremental image, `--flatten` merges a chain (incr.rs).

mod compare;
mod error;
mod incr;
mod inject;
mod mapped;
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
       cr -p PID --parent OLD [-f FILE]          incremental: only the pages that differ from OLD's
       cr -r -f FILE [--detach] [--userspace]   restart the process saved in FILE
       cr --flatten FILE -f OUT   merge FILE and its parent chain into one complete image OUT
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
      --parent OLD   with -p: write only the pages whose contents differ from
                     what OLD (and OLD's own parents) hold at that address; the
                     rest is referenced (NT_KCKPT_PARENT). Always uses the
                     userspace dumper (--userspace or not): pages are read
                     from /proc/PID/mem and compared with the mapped parent.
                     Such an image cannot be executed (binfmt_cr refuses it);
                     cr -r flattens the chain first, in both modes, after
                     checking every parent (present, unchanged, depth <= 16)
      --flatten FILE with -f OUT: write the chain of FILE as one complete image
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
    parent: Option<String>,
    flatten: Option<String>,
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
            "--parent" => o.parent = Some(val(a)?),
            "--flatten" => o.flatten = Some(val(a)?),
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
    if let Some(src) = &o.flatten {
        let out = o.file.as_deref().ok_or_else(|| CrError::Usage("--flatten needs -f OUT".into()))?;
        return incr::flatten(src, out);
    }
    if o.parent.is_some() && o.pid.is_none() {
        return Err(CrError::Usage("--parent goes with -p PID".into()));
    }
    match (o.restart, o.pid) {
        (true, None) => {
            let f = o.file.ok_or_else(|| CrError::Usage("-r needs -f FILE".into()))?;
            // An incremental image: its chain, checked and flattened first.
            incr::restart(&f, o.detach, o.userspace)
        }
        (false, Some(pid)) => {
            let f = o.file.unwrap_or_else(|| format!("{pid}.kckpt"));
            if o.userspace || o.parent.is_some() {
                uckpt::checkpoint(pid, &f, o.parent.as_deref())?;
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
