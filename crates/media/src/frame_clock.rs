//! `FrameClock`: the time base a video encoder counts in, one tick per picture at the nominal
//! rate (what the ffmpeg CLI gives its encoders), and each filtered picture's place on it.
//!
//! x264 writes its time base into the bit stream's timing information (the SPS's VUI). Counting
//! in the demuxer's time base (1/15360 for a 30 fps MP4) made every encoded stream claim 15360
//! pictures a second to anything that reads the bit stream itself: a raw H.264 or MPEG-TS
//! remux, ffprobe's packet durations in the fMP4 segments.

use ffmpeg::{Rational, Rescale};
use ffmpeg_next as ffmpeg;

use crate::av;

/// The fastest nominal rate that gets one tick per picture; above it (a container's 90 kHz
/// guess, a broken header) the pictures keep their own time base.
const MAX_FRAME_RATE: f64 = 1000.0;

/// Rescales pictures from the filter graph's time base to the encoder's.
#[derive(Debug, Clone)]
pub(crate) struct FrameClock {
    from: Rational,
    to: Rational,
    /// The last picture's tick, for a video clock (which drops pictures that do not advance).
    last: Option<i64>,
    video: bool,
}

impl FrameClock {
    /// Audio timed in `from` going to an encoder counting in `to`: rescaled, never dropped.
    pub(crate) fn new(from: Rational, to: Rational) -> FrameClock {
        FrameClock {
            from,
            to,
            last: None,
            video: false,
        }
    }

    /// Pictures timed in `from` at the nominal `frame_rate`: one tick per picture when the rate
    /// is known and plausible, else `from` itself.
    pub(crate) fn for_video(from: Rational, frame_rate: Option<Rational>) -> FrameClock {
        let to = frame_rate
            .and_then(av::known)
            .filter(|r| f64::from(*r) <= MAX_FRAME_RATE)
            .map_or(from, |r| Rational(r.denominator(), r.numerator()));
        FrameClock {
            video: true,
            ..FrameClock::new(from, to)
        }
    }

    /// The rate whose ticks every picture of a stream falls on: its `r_frame_rate` (FFmpeg's
    /// guess at the lowest rate representing every time stamp) when plausible, else its
    /// average rate. A variable-rate phone clip's pictures then keep their own ticks.
    pub(crate) fn grid(r_frame_rate: Rational, average: Rational) -> Option<Rational> {
        [r_frame_rate, average]
            .into_iter()
            .filter_map(av::known)
            .find(|r| f64::from(*r) <= MAX_FRAME_RATE)
    }

    /// The encoder's time base.
    pub(crate) fn time_base(&self) -> Rational {
        self.to
    }

    /// Moves a picture's time stamp onto the encoder's clock. `false` when it lands on or
    /// before the previous picture's tick (a variable-rate source's pictures closer together
    /// than one frame): the caller drops it, as the CLI's `-fps_mode vfr` does, since an encoder
    /// refuses two pictures at one time. A picture without a time stamp is left as it is.
    pub(crate) fn place(&mut self, frame: &mut ffmpeg::Frame) -> bool {
        let Some(pts) = frame.pts() else {
            return true;
        };
        let placed = pts.rescale(self.from, self.to);
        if self.video && self.last.is_some_and(|last| placed <= last) {
            return false;
        }
        self.last = Some(placed);
        frame.set_pts(Some(placed));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Where `clock` puts a picture at `pts`, or `None` when it drops it.
    fn at(clock: &mut FrameClock, pts: i64) -> Option<i64> {
        let mut frame = crate::av::new_frame();
        frame.set_pts(Some(pts));
        clock.place(&mut frame).then(|| frame.pts().unwrap())
    }

    #[test]
    fn an_mp4_time_base_becomes_one_tick_per_picture() {
        let mut clock = FrameClock::for_video(Rational(1, 15360), Some(Rational(30, 1)));
        assert_eq!(clock.time_base(), Rational(1, 30));
        assert_eq!(at(&mut clock, 0), Some(0));
        assert_eq!(at(&mut clock, 512), Some(1));
        assert_eq!(at(&mut clock, 15360), Some(30));
        let ntsc = FrameClock::for_video(Rational(1, 30000), Some(Rational(30000, 1001)));
        assert_eq!(ntsc.time_base(), Rational(1001, 30000));
    }

    #[test]
    fn pictures_closer_than_a_tick_are_dropped_and_later_ones_kept() {
        let mut clock = FrameClock::for_video(Rational(1, 1000), Some(Rational(25, 1)));
        assert_eq!(at(&mut clock, 0), Some(0));
        assert_eq!(
            at(&mut clock, 10),
            None,
            "10 ms after the first: the same tick"
        );
        assert_eq!(at(&mut clock, 40), Some(1));
        assert_eq!(at(&mut clock, 120), Some(3), "a gap is kept as a gap");
        let mut frame = crate::av::new_frame();
        assert!(clock.place(&mut frame), "no time stamp: left alone");
        assert_eq!(frame.pts(), None);
    }

    #[test]
    fn unknown_or_implausible_rates_keep_the_pictures_time_base() {
        let tb = Rational(1, 90000);
        assert_eq!(FrameClock::for_video(tb, None).time_base(), tb);
        assert_eq!(
            FrameClock::for_video(tb, Some(Rational(0, 1))).time_base(),
            tb
        );
        assert_eq!(
            FrameClock::for_video(tb, Some(Rational(90000, 1))).time_base(),
            tb
        );
        let mut clock = FrameClock::for_video(tb, None);
        assert_eq!(at(&mut clock, 3003), Some(3003));
        // A 90 kHz `r_frame_rate` gives way to the average rate; a plausible one is taken.
        assert_eq!(
            FrameClock::grid(Rational(90000, 1), Rational(2987, 100)),
            Some(Rational(2987, 100))
        );
        assert_eq!(
            FrameClock::grid(Rational(60, 1), Rational(2987, 100)),
            Some(Rational(60, 1))
        );
        assert_eq!(FrameClock::grid(Rational(0, 1), Rational(0, 1)), None);
        let mut audio = FrameClock::new(Rational(1, 48000), Rational(1, 48000));
        assert_eq!(at(&mut audio, 1024), Some(1024));
        assert_eq!(at(&mut audio, 1024), Some(1024), "audio is never dropped");
    }
}
