//! One rung of `package` on its own thread: its scale graph and its encoder, fed the decoded
//! pictures over a short bounded channel, handing encoded packets back to the thread that owns
//! the muxer. Every rung encodes at once, so scaling and encoding are spread over the cores.
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
const QUEUE: usize = 2;

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

/// A running rung. Dropping it without `finish` stops the thread (nothing is flushed).
pub(crate) struct RungWorker {
    feed: Option<SyncSender<Feed>>,
    handle: Option<JoinHandle<Result<VideoLane, MediaError>>>,
}

impl RungWorker {
    pub(crate) fn spawn(lane: VideoLane, graph: RungGraph, packets: Sender<Encoded>) -> Self {
        let (feed, pictures) = mpsc::sync_channel(QUEUE);
        let handle = thread::Builder::new()
            .name(format!("rung-{}", lane.ost))
            .spawn(move || run(lane, graph, pictures, packets))
            .expect("a thread can be started");
        RungWorker {
            feed: Some(feed),
            handle: Some(handle),
        }
    }

    /// Queues a picture (a new reference to `frame`, no copy). When the rung's thread has
    /// stopped on an error, that error.
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
        output: graph.output,
    };
    let mut filtered = av::new_frame();
    loop {
        match pictures.recv() {
            Ok(Feed::Picture(picture)) => filter.push(&picture, &graph.input)?,
            Ok(Feed::End) => {
                filter.flush(&graph.input)?;
                while filter.pull(0, &mut filtered, &graph.input)? {
                    lane.encode(&mut filtered, &mut out)?;
                }
                lane.finish(&mut out)?;
                return Ok(lane);
            }
            // The decoding side stopped (an error, or Ctrl-C): stop without flushing.
            Err(_) => return Err(MediaError::Cancelled),
        }
        while filter.pull(0, &mut filtered, &graph.input)? {
            lane.encode(&mut filtered, &mut out)?;
        }
    }
}
