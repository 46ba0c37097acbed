//! One rung of `package` on its own thread: its scale graph and its encoder, fed the decoded
//! pictures over a short bounded channel, handing encoded packets back to the thread that owns
//! the muxer. Every rung encodes at once, so scaling and encoding are spread over the cores. A
//! rung scaled from another rung's picture (`ladder::scale_sources`) is fed by that rung's thread.
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::thread::{self, JoinHandle};

use ffmpeg::{Packet, Rational};
use ffmpeg_next as ffmpeg;

use crate::av;
use crate::fan_out::FanOut;
use crate::mux::PacketSink;
use crate::video_lane::VideoLane;
use crate::MediaError;

/// Decoded pictures a rung may have queued before the decoding thread waits for it.
const QUEUE: usize = 1;

/// One encoded packet on its way to the muxer.
pub(crate) struct Encoded {
    pub(crate) packet: Packet,
    pub(crate) ost: usize,
    pub(crate) tb: Rational,
}

/// The filter chain a rung's thread builds for itself (a filter graph stays on one thread).
pub(crate) struct RungGraph {
    /// `buffer` source arguments (the decoded picture).
    pub(crate) source: String,
    /// Applied before the rung's own chain (rotation), or empty.
    pub(crate) common: String,
    /// The rung's chain: `scale`, `setsar`, `format`.
    pub(crate) chain: String,
    /// The source, named in filter errors.
    pub(crate) input: PathBuf,
    /// The output directory, named in encoder errors.
    pub(crate) output: PathBuf,
}

enum Feed {
    Picture(ffmpeg::Frame),
    End,
}

/// The input of a rung fed by another rung's thread (its scaled pictures, then the end).
pub(crate) struct Tap(SyncSender<Feed>);

impl Tap {
    /// Queues a new reference to `frame`; false when the rung's thread has stopped.
    fn send(&self, frame: &ffmpeg::Frame, input: &std::path::Path) -> Result<bool, MediaError> {
        let shared = av::share_frame(frame).map_err(|e| MediaError::ffmpeg("scale", input, e))?;
        Ok(self.0.send(Feed::Picture(shared)).is_ok())
    }
}

/// A running rung. Dropping it without `finish` stops the thread (nothing is flushed).
pub(crate) struct RungWorker {
    feed: Option<SyncSender<Feed>>,
    handle: Option<JoinHandle<Result<VideoLane, MediaError>>>,
}

impl RungWorker {
    /// Starts the rung's thread; every picture it scales also goes to `taps` (the rungs scaled
    /// from this one), and so does the end of the input.
    pub(crate) fn spawn(
        lane: VideoLane,
        graph: RungGraph,
        packets: Sender<Encoded>,
        taps: Vec<Tap>,
    ) -> Self {
        let (feed, pictures) = mpsc::sync_channel(QUEUE);
        let handle = thread::Builder::new()
            .name(format!("rung-{}", lane.ost))
            .spawn(move || run(lane, graph, pictures, packets, taps))
            .expect("a thread can be started");
        RungWorker {
            feed: Some(feed),
            handle: Some(handle),
        }
    }

    /// Hands this rung's input to the rung it is scaled from: the calling thread no longer
    /// feeds it (`send` and `end` must not be called; `finish` still collects it).
    pub(crate) fn tap(&mut self) -> Tap {
        Tap(self.feed.take().expect("a rung is tapped once"))
    }

    /// Whether the calling thread feeds this rung (it was not handed to another rung).
    pub(crate) fn fed_here(&self) -> bool {
        self.feed.is_some()
    }

    /// Queues a picture (a new reference to `frame`, no copy). When the rung's thread has
    /// stopped on an error, that error (see [`failure`] for the ladder's).
    pub(crate) fn send(
        &mut self,
        frame: &ffmpeg::Frame,
        input: &std::path::Path,
    ) -> Result<(), MediaError> {
        let shared = av::share_frame(frame).map_err(|e| MediaError::ffmpeg("decode", input, e))?;
        let feed = self.feed.as_ref().expect("not finished");
        match feed.send(Feed::Picture(shared)) {
            Ok(()) => Ok(()),
            Err(_) => Err(self.join().err().unwrap_or(MediaError::Cancelled)),
        }
    }

    /// Ends the input: the thread flushes its graph and encoder, then ends.
    pub(crate) fn end(&mut self) {
        if let Some(feed) = self.feed.take() {
            // A thread that already stopped reports why through `finish`.
            let _ = feed.send(Feed::End);
        }
    }

    /// Waits for the thread (after `end`) and takes its lane back, or the error it stopped on.
    pub(crate) fn finish(mut self) -> Result<VideoLane, MediaError> {
        self.join()
    }

    /// Waits for every rung (after `end`) and takes their lanes back, or the error that stopped
    /// the ladder (see [`failure`]).
    pub(crate) fn finish_all(workers: Vec<RungWorker>) -> Result<Vec<VideoLane>, MediaError> {
        let mut lanes = Vec::with_capacity(workers.len());
        let mut errors = Vec::new();
        for w in workers {
            match w.finish() {
                Ok(lane) => lanes.push(lane),
                Err(e) => errors.push(e),
            }
        }
        match cause(errors) {
            Some(e) => Err(e),
            None => Ok(lanes),
        }
    }

    /// After `first` stopped a rung: stops every rung (nothing is flushed), waits for them, and
    /// returns the error that stopped the ladder. A rung's own error wins over the `Cancelled` of
    /// the rung that fed it, which stopped because its tap did.
    pub(crate) fn failure(workers: &mut [RungWorker], first: MediaError) -> MediaError {
        for w in workers.iter_mut() {
            w.feed = None;
        }
        let mut errors = vec![first];
        errors.extend(workers.iter_mut().filter_map(|w| w.join().err()));
        cause(errors).unwrap_or(MediaError::Cancelled)
    }

    fn join(&mut self) -> Result<VideoLane, MediaError> {
        self.feed = None;
        match self.handle.take() {
            Some(h) => h
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            None => Err(MediaError::Cancelled),
        }
    }
}

impl Drop for RungWorker {
    fn drop(&mut self) {
        self.feed = None;
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// The first error that is not a rung stopping for another's sake.
fn cause(mut errors: Vec<MediaError>) -> Option<MediaError> {
    let i = errors
        .iter()
        .position(|e| !matches!(e, MediaError::Cancelled))
        .unwrap_or(0);
    (i < errors.len()).then(|| errors.swap_remove(i))
}

/// Sends packets to the muxer's thread.
struct Forward {
    packets: Sender<Encoded>,
    output: PathBuf,
}

impl PacketSink for Forward {
    fn put(&mut self, packet: &mut Packet, ost: usize, enc_tb: Rational) -> Result<(), MediaError> {
        let packet = std::mem::replace(packet, Packet::empty());
        self.packets
            .send(Encoded {
                packet,
                ost,
                tb: enc_tb,
            })
            .map_err(|_| MediaError::Cancelled)
    }

    fn output(&self) -> &std::path::Path {
        &self.output
    }
}

fn run(
    mut lane: VideoLane,
    graph: RungGraph,
    pictures: Receiver<Feed>,
    packets: Sender<Encoded>,
    taps: Vec<Tap>,
) -> Result<VideoLane, MediaError> {
    let mut filter = FanOut::new(
        "buffer",
        &graph.source,
        &graph.common,
        std::slice::from_ref(&graph.chain),
        &graph.input,
    )?;
    let mut out = Forward {
        packets,
        output: graph.output.clone(),
    };
    let mut filtered = av::new_frame();
    loop {
        match pictures.recv() {
            Ok(Feed::Picture(picture)) => filter.push(&picture, &graph.input)?,
            Ok(Feed::End) => {
                filter.flush(&graph.input)?;
                while filter.pull(0, &mut filtered, &graph.input)? {
                    scaled(&mut filtered, &taps, &mut lane, &mut out, &graph)?;
                }
                for tap in &taps {
                    // A rung that already stopped reports why when it is collected.
                    let _ = tap.0.send(Feed::End);
                }
                lane.finish(&mut out)?;
                return Ok(lane);
            }
            // The decoding side stopped (an error, or Ctrl-C): stop without flushing.
            Err(_) => return Err(MediaError::Cancelled),
        }
        while filter.pull(0, &mut filtered, &graph.input)? {
            scaled(&mut filtered, &taps, &mut lane, &mut out, &graph)?;
        }
    }
}

/// One scaled picture: to the rungs scaled from it first (they work while this one encodes),
/// then to this rung's encoder. A tapped rung that stopped stops this one too; its own error is
/// what the caller reports.
fn scaled(
    picture: &mut ffmpeg::Frame,
    taps: &[Tap],
    lane: &mut VideoLane,
    out: &mut Forward,
    graph: &RungGraph,
) -> Result<(), MediaError> {
    for tap in taps {
        if !tap.send(picture, &graph.input)? {
            return Err(MediaError::Cancelled);
        }
    }
    lane.encode(picture, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rungs_own_error_wins_over_the_cancellation_it_caused() {
        let own = || MediaError::InvalidInput {
            path: "in.mp4".into(),
            reason: "damaged".into(),
        };
        let e = cause(vec![MediaError::Cancelled, own(), MediaError::Cancelled]).unwrap();
        assert_eq!(e.kind(), "invalid_input");
        let e = cause(vec![MediaError::Cancelled]).unwrap();
        assert_eq!(e.kind(), "cancelled");
        assert!(cause(Vec::new()).is_none());
    }
}
