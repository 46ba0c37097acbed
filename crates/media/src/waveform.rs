//! Waveform peaks in the BBC audiowaveform JSON data format (version 2), which peaks.js and
//! wavesurfer read as is: per pixel and channel, the min and max 16-bit sample.
use serde::{Deserialize, Serialize};

/// The peaks file: `data` holds, for each pixel, `min, max` of channel 0, then of channel 1...
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Waveform {
    pub version: u32,
    pub channels: u32,
    pub sample_rate: u32,
    pub samples_per_pixel: u32,
    pub bits: u32,
    /// Number of pixels (min/max pairs per channel).
    pub length: usize,
    pub data: Vec<i16>,
}

/// Builds a `Waveform` from interleaved 16-bit samples as they are decoded.
#[derive(Debug, Clone)]
pub(crate) struct PeakMeter {
    channels: usize,
    sample_rate: u32,
    samples_per_pixel: u32,
    /// Samples (per channel) in the pixel being filled.
    filled: u32,
    current: Vec<(i16, i16)>,
    data: Vec<i16>,
}

impl PeakMeter {
    pub(crate) fn new(channels: u32, sample_rate: u32, samples_per_pixel: u32) -> Self {
        let channels = channels.max(1) as usize;
        PeakMeter {
            channels,
            sample_rate,
            samples_per_pixel: samples_per_pixel.max(1),
            filled: 0,
            current: vec![(i16::MAX, i16::MIN); channels],
            data: Vec::new(),
        }
    }

    pub(crate) fn channels(&self) -> usize {
        self.channels
    }

    /// Adds interleaved samples (`channels` per sample frame).
    pub(crate) fn push(&mut self, interleaved: &[i16]) {
        for frame in interleaved.chunks_exact(self.channels) {
            for (c, s) in frame.iter().enumerate() {
                let (lo, hi) = &mut self.current[c];
                *lo = (*lo).min(*s);
                *hi = (*hi).max(*s);
            }
            self.filled += 1;
            if self.filled == self.samples_per_pixel {
                self.close_pixel();
            }
        }
    }

    fn close_pixel(&mut self) {
        for (lo, hi) in &mut self.current {
            self.data.push(*lo);
            self.data.push(*hi);
            (*lo, *hi) = (i16::MAX, i16::MIN);
        }
        self.filled = 0;
    }

    /// The finished peaks; a last, partly filled pixel is kept (as audiowaveform does).
    pub(crate) fn finish(mut self) -> Waveform {
        if self.filled > 0 {
            self.close_pixel();
        }
        Waveform {
            version: 2,
            channels: self.channels as u32,
            sample_rate: self.sample_rate,
            samples_per_pixel: self.samples_per_pixel,
            bits: 16,
            length: self.data.len() / (2 * self.channels),
            data: self.data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_hold_min_max_per_channel() {
        let mut m = PeakMeter::new(2, 8000, 2);
        m.push(&[1, -1, 5, -7, 3, 2]);
        m.push(&[-4, 9]);
        let w = m.finish();
        assert_eq!(w.length, 2);
        assert_eq!(w.data, [1, 5, -7, -1, -4, 3, 2, 9]);
        let json = serde_json::to_value(&w).unwrap();
        assert_eq!(json["version"], 2);
        assert_eq!(json["bits"], 16);
    }
}
