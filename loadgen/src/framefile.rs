//! Frame files: the on-disk form of a recorded `subscribeRepos` stream.
//!
//! A frame file is a zstd stream whose plain content is an [`atproto::firehose::frame_file`]
//! sequence (`[u32 little-endian length][frame]` repeated), each frame one whole WebSocket
//! binary message exactly as received. This is the layout of the shared network corpus, so
//! recordings and the corpus are interchangeable.

use std::fs::File;
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use atproto::firehose::frame_file::{self, TruncatedFrame};

#[derive(Debug, thiserror::Error)]
pub enum FrameFileError {
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
    #[error("{path}: {source}")]
    Truncated { path: PathBuf, source: TruncatedFrame },
    #[error("frame of {0} bytes does not fit a u32 length")]
    TooLarge(usize),
}

/// Appends frames to a zstd-compressed frame file.
pub struct FrameWriter {
    path: PathBuf,
    encoder: zstd::Encoder<'static, BufWriter<File>>,
    frames: u64,
    bytes: u64,
}

impl FrameWriter {
    /// Creates (or truncates) `path`.
    pub fn create(path: &Path) -> Result<Self, FrameFileError> {
        let io = |source| FrameFileError::Io { path: path.to_owned(), source };
        let file = File::create(path).map_err(io)?;
        let encoder = zstd::Encoder::new(BufWriter::new(file), 3).map_err(io)?;
        Ok(FrameWriter { path: path.to_owned(), encoder, frames: 0, bytes: 0 })
    }

    pub fn write(&mut self, frame: &[u8]) -> Result<(), FrameFileError> {
        let header = frame_file::header(frame).ok_or(FrameFileError::TooLarge(frame.len()))?;
        let io = |source| FrameFileError::Io { path: self.path.clone(), source };
        self.encoder.write_all(&header).map_err(io)?;
        self.encoder.write_all(frame).map_err(io)?;
        self.frames += 1;
        self.bytes += frame.len() as u64;
        Ok(())
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Uncompressed frame bytes written so far (without length prefixes).
    pub fn frame_bytes(&self) -> u64 {
        self.bytes
    }

    /// Finishes the zstd stream and flushes the file.
    pub fn finish(self) -> Result<(), FrameFileError> {
        let path = self.path;
        let io = |source| FrameFileError::Io { path: path.clone(), source };
        let mut inner = self.encoder.finish().map_err(io)?;
        inner.flush().map_err(io)?;
        inner.get_ref().sync_all().map_err(io)?;
        Ok(())
    }
}

/// Reads every frame of a frame file into memory.
pub fn read_frames(path: &Path) -> Result<Vec<Vec<u8>>, FrameFileError> {
    let io = |source| FrameFileError::Io { path: path.to_owned(), source };
    let mut raw = Vec::new();
    zstd::Decoder::new(File::open(path).map_err(io)?).map_err(io)?.read_to_end(&mut raw).map_err(io)?;
    frame_file::split(&raw).map_err(|source| FrameFileError::Truncated { path: path.to_owned(), source })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_then_read_roundtrips() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f.bin.zst");
        let frames: Vec<Vec<u8>> = vec![vec![], vec![1, 2, 3], vec![7; 70_000]];
        let mut w = FrameWriter::create(&path).unwrap();
        for f in &frames {
            w.write(f).unwrap();
        }
        assert_eq!(w.frames(), 3);
        w.finish().unwrap();
        assert_eq!(read_frames(&path).unwrap(), frames);
    }
}
