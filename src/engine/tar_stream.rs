//! `TarStream`: a tar archive produced on a blocking thread and handed to the engine as an HTTP
//! body, chunk by chunk, so a root filesystem or build context is never held in memory whole.
//!
//! The producer blocks when the engine reads slowly (a bounded channel), and stops with a
//! "broken pipe" when the consumer goes away (a cancelled build drops the body).

use std::io::{self, Read, Write};
use std::path::PathBuf;

use bytes::Bytes;
use futures_util::stream::{self, Stream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::deterministic_tar::DeterministicTar;
use super::error::{EngineError, Result};

/// Size of the chunks sent to the engine.
const CHUNK: usize = 256 * 1024;
/// Chunks buffered between producer and engine: at most ~2 MiB in flight.
const IN_FLIGHT: usize = 8;

type Chunk = std::result::Result<Bytes, io::Error>;

/// A streamed tar archive plus the task producing it.
pub struct TarStream {
    chunks: mpsc::Receiver<Chunk>,
    producer: JoinHandle<Result<()>>,
}

impl TarStream {
    /// Runs `write` on a blocking thread with a [`DeterministicTar`] whose bytes flow into the
    /// stream. `write` must append entries; the end-of-archive marker is added after it.
    pub fn spawn<F>(clamp: u64, write: F) -> TarStream
    where
        F: FnOnce(&mut DeterministicTar<ChannelWriter>) -> Result<()> + Send + 'static,
    {
        TarStream::spawn_raw(move |writer| {
            let mut tar = DeterministicTar::new(writer, clamp);
            write(&mut tar)?;
            let mut writer = tar.finish()?;
            writer
                .flush()
                .map_err(|error| EngineError::io("send", "<tar stream>", error))
        })
    }

    /// Streams an existing tar file (e.g. a cached root filesystem) as it is.
    pub fn from_file(path: impl Into<PathBuf>) -> TarStream {
        let path = path.into();
        TarStream::spawn_raw(move |mut writer| {
            let mut file = std::fs::File::open(&path)
                .map_err(|error| EngineError::io("open", &path, error))?;
            let mut buffer = vec![0; CHUNK];
            loop {
                let read = file
                    .read(&mut buffer)
                    .map_err(|error| EngineError::io("read", &path, error))?;
                if read == 0 {
                    break;
                }
                writer
                    .write_all(&buffer[..read])
                    .map_err(|error| EngineError::io("send", &path, error))?;
            }
            writer
                .flush()
                .map_err(|error| EngineError::io("send", &path, error))
        })
    }

    fn spawn_raw<F>(produce: F) -> TarStream
    where
        F: FnOnce(ChannelWriter) -> Result<()> + Send + 'static,
    {
        let (sender, chunks) = mpsc::channel(IN_FLIGHT);
        let producer = tokio::task::spawn_blocking(move || {
            let error_sender = sender.clone();
            let result = produce(ChannelWriter::new(sender));
            if let Err(error) = &result {
                // Make the HTTP body fail too, so the engine does not take a truncated archive
                // for a complete one.
                let _ = error_sender.blocking_send(Err(io::Error::other(error.to_string())));
            }
            result
        });
        TarStream { chunks, producer }
    }

    /// Splits into the body stream and the producer, whose result explains a broken body.
    pub(crate) fn into_parts(
        self,
    ) -> (
        impl Stream<Item = Chunk> + Send + 'static,
        JoinHandle<Result<()>>,
    ) {
        let body = stream::unfold(self.chunks, |mut chunks| async move {
            chunks.recv().await.map(|chunk| (chunk, chunks))
        });
        (body, self.producer)
    }

    /// Collects the whole archive; for tests and small archives only.
    pub async fn collect(self) -> Result<Vec<u8>> {
        let (body, producer) = self.into_parts();
        let chunks: Vec<Chunk> = futures_util::StreamExt::collect(body).await;
        finish_producer(producer).await?;
        let mut all = Vec::new();
        for chunk in chunks {
            all.extend_from_slice(
                &chunk.map_err(|error| EngineError::io("read", "<tar stream>", error))?,
            );
        }
        Ok(all)
    }
}

/// Combines the outcome of an upload with its producer's: a producer that failed on its own
/// (a missing file) explains a broken upload best; one that merely saw the engine stop reading
/// (broken pipe) explains nothing, and the engine's own error is reported instead.
pub(crate) async fn settle(upload: Result<()>, producer: JoinHandle<Result<()>>) -> Result<()> {
    match upload {
        Ok(()) => finish_producer(producer).await,
        Err(upload_error) => {
            // The body is dropped by now, so the producer ends quickly; do not hang if not.
            match tokio::time::timeout(std::time::Duration::from_secs(5), finish_producer(producer))
                .await
            {
                Ok(Err(EngineError::Io { error, .. }))
                    if error.kind() == io::ErrorKind::BrokenPipe =>
                {
                    Err(upload_error)
                }
                Ok(Err(producer_error)) => Err(producer_error),
                _ => Err(upload_error),
            }
        }
    }
}

/// Waits for the producer and turns a panic into a typed error.
pub(crate) async fn finish_producer(producer: JoinHandle<Result<()>>) -> Result<()> {
    producer.await.map_err(|error| EngineError::Task {
        task: "tar writer",
        reason: error.to_string(),
    })?
}

/// An `io::Write` that sends full chunks into the stream's channel.
pub struct ChannelWriter {
    sender: mpsc::Sender<Chunk>,
    buffer: Vec<u8>,
}

impl ChannelWriter {
    fn new(sender: mpsc::Sender<Chunk>) -> Self {
        ChannelWriter {
            sender,
            buffer: Vec::with_capacity(CHUNK),
        }
    }

    fn send_buffer(&mut self) -> io::Result<()> {
        if self.buffer.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(
            &mut self.buffer,
            Vec::with_capacity(CHUNK),
        ));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the engine stopped reading"))
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let room = CHUNK - self.buffer.len();
        let taken = room.min(data.len());
        self.buffer.extend_from_slice(&data[..taken]);
        if self.buffer.len() == CHUNK {
            self.send_buffer()?;
        }
        Ok(taken)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.send_buffer()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[tokio::test]
    async fn streams_a_large_archive_in_chunks() {
        let data = vec![7u8; 3 * CHUNK + 5];
        let stream = TarStream::spawn(0, move |tar| {
            tar.append_bytes(Path::new("big.bin"), &data, 0o644)
        });
        let bytes = stream.collect().await.unwrap();
        let mut archive = tar::Archive::new(bytes.as_slice());
        let mut entry = archive.entries().unwrap().next().unwrap().unwrap();
        let mut read = Vec::new();
        entry.read_to_end(&mut read).unwrap();
        assert_eq!(read.len(), 3 * CHUNK + 5);
    }

    #[tokio::test]
    async fn a_missing_file_fails_with_its_path() {
        let stream = TarStream::spawn(0, |tar| {
            tar.append_file(Path::new("x"), Path::new("/nonexistent/ferrostack/x"), None)
        });
        let error = stream.collect().await.unwrap_err();
        assert!(
            error.to_string().contains("/nonexistent/ferrostack/x"),
            "{error}"
        );
    }
}
