//! cr's errors, each with its own exit code.

use std::fmt;

#[derive(Debug)]
pub enum CrError {
    Usage(String),
    NoSuchPid(i32),
    NotPermitted(String),
    TargetExited(i32),
    FileExists(String),
    BadImage(String),
    Os(String, std::io::Error),
}

pub type Result<T> = std::result::Result<T, CrError>;

impl CrError {
    pub fn code(&self) -> i32 {
        match self {
            CrError::Usage(_) => 2,
            CrError::NoSuchPid(_) => 3,
            CrError::NotPermitted(_) => 4,
            CrError::TargetExited(_) => 5,
            CrError::FileExists(_) => 6,
            CrError::BadImage(_) => 7,
            CrError::Os(..) => 1,
        }
    }

    /// The last OS error, described by what was being done.
    pub fn last_os(what: impl Into<String>) -> CrError {
        CrError::Os(what.into(), std::io::Error::last_os_error())
    }
}

impl fmt::Display for CrError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CrError::Usage(m) => write!(f, "{m}"),
            CrError::NoSuchPid(p) => write!(f, "no such process: {p}"),
            CrError::NotPermitted(m) => write!(f, "not permitted: {m}"),
            CrError::TargetExited(p) => write!(f, "process {p} exited during checkpoint; no image written"),
            CrError::FileExists(p) => write!(f, "{p} exists; not overwriting it"),
            CrError::BadImage(m) => write!(f, "invalid image: {m}"),
            CrError::Os(w, e) => write!(f, "{w}: {e}"),
        }
    }
}
