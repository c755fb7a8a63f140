//! `cargo xtask inspect IMAGE [--json]`: validate a kckpt image and summarise it.
//! An invalid image fails with the format rule it breaks (docs/image-format.md).

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use anyhow::{Context, Result};
use kckpt_image::Image;

#[derive(clap::Args)]
pub struct Args {
    /// The `*.kckpt` file to read.
    pub image: PathBuf,
    /// Print the decoded image as JSON instead of a readelf-like summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(a: &Args) -> Result<()> {
    let invalid = |e| anyhow::anyhow!("{}: invalid kckpt image: {e}", a.image.display());
    let meta = std::fs::metadata(&a.image).with_context(|| format!("stat {}", a.image.display()))?;
    kckpt_image::check_file_mode(meta.permissions().mode()).map_err(invalid)?;
    let bytes = std::fs::read(&a.image).with_context(|| format!("reading {}", a.image.display()))?;
    let img = Image::parse(&bytes).map_err(invalid)?;
    let mut text = if a.json {
        let mut v = img.to_json(Some(&bytes));
        if let (Some(c), Some(o)) = (chain_line(a, &img), v.as_object_mut()) {
            o.insert("chain".into(), c.into());
        }
        serde_json::to_string_pretty(&v)? + "\n"
    } else {
        img.summary(Some(&bytes)).to_string()
    };
    if let (false, Some(c)) = (a.json, chain_line(a, &img)) {
        text.push_str(&format!("Chain: {c}\n"));
    }
    quiet_on_broken_pipe(std::io::stdout().lock().write_all(text.as_bytes()))
}

/// An incremental image's chain as restart would check it: "ok, N
/// links down to a complete image" or the rule it breaks.
fn chain_line(a: &Args, img: &Image) -> Option<String> {
    img.parent.as_ref()?;
    Some(match kckpt_image::Chain::open(&a.image, |p| std::fs::read(p)) {
        Ok(c) => format!("ok, {} links down to the complete {}", c.depth(), c.links.last().map_or(String::new(), |l| l.path.display().to_string())),
        Err(e) => format!("broken: {e}"),
    })
}

/// `inspect ... | head` is not an error.
fn quiet_on_broken_pipe(r: std::io::Result<()>) -> Result<()> {
    match r {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        r => r.context("writing to stdout"),
    }
}
