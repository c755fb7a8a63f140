//! The image's optional records (docs/image-format.md: XSAVE state,
//! pending signals, interval timers) as the userspace mode's modules take
//! them, and back: the one place that knows kckpt-image's types for them.

use kckpt_image::{Image, Itimerval, SigPending, Siginfo, Xstate};

use crate::uitimers::Timers;
use crate::usignals::Queues;

/// The image's XSAVE area, if it has one.
pub fn xstate(img: &Image) -> Option<&[u8]> {
    img.xstate.as_ref().map(|x| x.0.as_slice())
}

/// The image's pending signals (empty if none).
pub fn sigpending(img: &Image) -> Queues {
    let raw = |q: &[Siginfo]| q.iter().map(|s| s.0).collect();
    img.sigpending.as_ref().map(|p| Queues { thread: raw(&p.thread), process: raw(&p.process) }).unwrap_or_default()
}

/// The image's interval timers (all 0 if none).
pub fn itimers(img: &Image) -> Timers {
    img.itimers.map(|t| t.map(|v| [v.interval_sec, v.interval_usec, v.value_sec, v.value_usec])).unwrap_or([[0; 4]; 3])
}

/// Put what the userspace checkpoint read into `img`: each record only
/// when the format says it is written (XSAVE state when the CPU uses it,
/// signals when one is pending, timers when one is armed).
pub fn set(img: &mut Image, xstate: Option<Vec<u8>>, queues: Queues, timers: Timers) {
    img.xstate = xstate.map(Xstate);
    img.sigpending = (!queues.is_empty()).then(|| {
        let wrap = |q: Vec<[u8; 128]>| q.into_iter().map(Siginfo).collect();
        SigPending { thread: wrap(queues.thread), process: wrap(queues.process) }
    });
    img.itimers = crate::uitimers::any_armed(&timers).then(|| {
        timers.map(|v| Itimerval { interval_sec: v[0], interval_usec: v[1], value_sec: v[2], value_usec: v[3] })
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_go_in_only_when_the_format_writes_them_and_come_back_out() {
        let (mut img, _) = kckpt_image::Builder::new().build();
        set(&mut img, None, Queues::default(), [[1, 0, 0, 0], [0; 4], [0; 4]]);
        assert_eq!((img.xstate.is_some(), img.sigpending.is_some(), img.itimers.is_some()), (false, false, false));
        let mut si = [0u8; 128];
        si[0] = 10;
        let q = Queues { thread: vec![], process: vec![si] };
        let t = [[0, 0, 0, 0], [0; 4], [0, 0, 2, 5]];
        set(&mut img, Some(vec![7; 576]), q.clone(), t);
        assert_eq!(img.extras(), 7);
        assert_eq!(xstate(&img), Some(&[7u8; 576][..]));
        assert_eq!(sigpending(&img), q);
        assert_eq!(img.sigpending.as_ref().unwrap().process[0].signo(), 10);
        assert_eq!(itimers(&img), t);
        assert_eq!(img.itimers.unwrap()[2].value_usec, 5);
    }
}
