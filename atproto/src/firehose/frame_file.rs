//! Frame sequences as files hold them: `[u32 little-endian length][frame]` repeated, each
//! frame one whole WebSocket binary message. This is the plain content of the shared network
//! corpus and of `loadgen record` files, which compress it with zstd on disk.

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("frame {index} is truncated (header says {expected} bytes, {found} remain)")]
pub struct TruncatedFrame {
    pub index: usize,
    pub expected: usize,
    pub found: usize,
}

/// Splits a frame sequence into its frames.
pub fn split(mut raw: &[u8]) -> Result<Vec<Vec<u8>>, TruncatedFrame> {
    let mut frames = Vec::new();
    while !raw.is_empty() {
        let truncated = |expected, found| TruncatedFrame { index: frames.len(), expected, found };
        let Some((len, rest)) = raw.split_first_chunk::<4>() else {
            return Err(truncated(4, raw.len()));
        };
        let len = u32::from_le_bytes(*len) as usize;
        if rest.len() < len {
            return Err(truncated(len, rest.len()));
        }
        frames.push(rest[..len].to_vec());
        raw = &rest[len..];
    }
    Ok(frames)
}

/// The length prefix of one frame; `None` if it is too large for a u32 length.
pub fn header(frame: &[u8]) -> Option<[u8; 4]> {
    u32::try_from(frame.len()).ok().map(u32::to_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_split_back_and_truncation_is_reported() {
        let frames: Vec<Vec<u8>> = vec![vec![], vec![1, 2, 3], vec![7; 70_000]];
        let mut raw = Vec::new();
        for f in &frames {
            raw.extend(header(f).unwrap());
            raw.extend(f);
        }
        assert_eq!(split(&raw).unwrap(), frames);
        assert_eq!(split(&[5, 0, 0, 0, 1, 2]), Err(TruncatedFrame { index: 0, expected: 5, found: 2 }));
        assert_eq!(split(&[0, 0, 0, 0, 1]), Err(TruncatedFrame { index: 1, expected: 4, found: 1 }));
    }
}
