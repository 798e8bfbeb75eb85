//! CAR v1 files: a DAG-CBOR header `{version: 1, roots: [cid]}` followed by varint-length
//! sections of `cid bytes || block bytes`.
//!
//! Readers check every block against its CID and enforce [`CarLimits`], so a CAR from an
//! untrusted host can neither smuggle mislabelled blocks nor exhaust memory. Reading works
//! from a slice, a `std::io::Read`, or a `tokio::io::AsyncRead`; writing to a `Vec` or an
//! `AsyncWrite`.

use std::io::Read;

use ::cid::Cid;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::blockstore::MemoryBlockStore;

#[derive(Debug, thiserror::Error)]
pub enum CarError {
    #[error("CAR truncated")]
    Truncated,
    #[error("invalid CAR header: {0}")]
    Header(String),
    #[error("unsupported CAR version {0}")]
    Version(u64),
    #[error("invalid CID in CAR section: {0}")]
    Cid(String),
    #[error(transparent)]
    Block(#[from] crate::cid::CidError),
    #[error("CAR exceeds the {0} limit")]
    TooLarge(&'static str),
    #[error("invalid varint in CAR")]
    Varint,
    #[error("I/O error reading CAR: {0}")]
    Io(#[from] std::io::Error),
}

/// Bounds on what a reader accepts.
#[derive(Debug, Clone, Copy)]
pub struct CarLimits {
    /// Total bytes, header included.
    pub max_bytes: u64,
    /// Bytes of one block.
    pub max_block: u64,
    /// Number of blocks.
    pub max_blocks: usize,
}

impl Default for CarLimits {
    fn default() -> Self {
        // Generous for whole-repository exports; firehose slices use tighter limits.
        CarLimits { max_bytes: 1 << 30, max_block: 2 << 20, max_blocks: 10_000_000 }
    }
}

impl CarLimits {
    /// Limits for a firehose `#commit` slice (the relay's default maximum frame is ~5 MB).
    pub fn firehose() -> Self {
        CarLimits { max_bytes: 5 << 20, max_block: 2 << 20, max_blocks: 10_000 }
    }
}

#[derive(Serialize, Deserialize)]
struct Header {
    version: u64,
    roots: Vec<Cid>,
}

/// A CAR file read whole.
#[derive(Debug, Clone)]
pub struct Car {
    pub roots: Vec<Cid>,
    /// Blocks in file order.
    pub blocks: Vec<(Cid, Bytes)>,
}

impl Car {
    /// The single root a repository CAR has.
    pub fn root(&self) -> Result<Cid, CarError> {
        match self.roots.as_slice() {
            [root] => Ok(*root),
            _ => Err(CarError::Header(format!("expected one root, found {}", self.roots.len()))),
        }
    }

    pub fn into_store(self) -> MemoryBlockStore {
        self.blocks.into_iter().collect()
    }
}

fn read_varint(bytes: &[u8], pos: &mut usize) -> Result<Option<u64>, CarError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&b) = bytes.get(*pos) else {
            return if shift == 0 { Ok(None) } else { Err(CarError::Truncated) };
        };
        *pos += 1;
        value |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(Some(value));
        }
        if shift == 63 {
            break;
        }
    }
    Err(CarError::Varint)
}

fn write_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn parse_header(bytes: &[u8]) -> Result<Vec<Cid>, CarError> {
    let header: Header = crate::cbor::decode(bytes).map_err(|e| CarError::Header(e.to_string()))?;
    if header.version != 1 {
        return Err(CarError::Version(header.version));
    }
    Ok(header.roots)
}

fn parse_section(section: &[u8]) -> Result<(Cid, Bytes), CarError> {
    let mut cursor = std::io::Cursor::new(section);
    let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::Cid(e.to_string()))?;
    let data = &section[cursor.position() as usize..];
    crate::cid::verify_block(&cid, data)?;
    Ok((cid, Bytes::copy_from_slice(data)))
}

/// Reads a whole CAR from memory.
pub fn read(bytes: &[u8], limits: CarLimits) -> Result<Car, CarError> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(CarError::TooLarge("size"));
    }
    let mut pos = 0;
    let header_len = read_varint(bytes, &mut pos)?.ok_or(CarError::Truncated)?;
    let header = take(bytes, &mut pos, header_len)?;
    let roots = parse_header(header)?;
    let mut blocks = Vec::new();
    while let Some(len) = read_varint(bytes, &mut pos)? {
        if len > limits.max_block + 64 {
            return Err(CarError::TooLarge("block size"));
        }
        if blocks.len() >= limits.max_blocks {
            return Err(CarError::TooLarge("block count"));
        }
        blocks.push(parse_section(take(bytes, &mut pos, len)?)?);
    }
    Ok(Car { roots, blocks })
}

/// Reads only the blocks named in `wanted` from a CAR in memory, checking each against its
/// CID; other sections are framed and skipped without hashing or copying. For consumers
/// that index records from a commit slice and leave verifying the tree to others (a relay
/// already did, or `verify_commit` ran first). Missing blocks are simply absent.
pub fn read_wanted(bytes: &[u8], wanted: &[Cid], limits: CarLimits) -> Result<crate::blockstore::MemoryBlockStore, CarError> {
    use crate::blockstore::BlockSink;
    if bytes.len() as u64 > limits.max_bytes {
        return Err(CarError::TooLarge("size"));
    }
    let mut pos = 0;
    let header_len = read_varint(bytes, &mut pos)?.ok_or(CarError::Truncated)?;
    parse_header(take(bytes, &mut pos, header_len)?)?;
    let mut store = crate::blockstore::MemoryBlockStore::new();
    let mut sections = 0usize;
    while let Some(len) = read_varint(bytes, &mut pos)? {
        if len > limits.max_block + 64 {
            return Err(CarError::TooLarge("block size"));
        }
        sections += 1;
        if sections > limits.max_blocks {
            return Err(CarError::TooLarge("block count"));
        }
        let section = take(bytes, &mut pos, len)?;
        let mut cursor = std::io::Cursor::new(section);
        let cid = Cid::read_bytes(&mut cursor).map_err(|e| CarError::Cid(e.to_string()))?;
        if wanted.contains(&cid) {
            let (cid, data) = parse_section(section)?;
            store.put(cid, data).map_err(|e| CarError::Cid(e.to_string()))?;
        }
    }
    Ok(store)
}

fn take<'a>(bytes: &'a [u8], pos: &mut usize, len: u64) -> Result<&'a [u8], CarError> {
    let end = usize::try_from(len).ok().and_then(|l| pos.checked_add(l)).filter(|e| *e <= bytes.len()).ok_or(CarError::Truncated)?;
    let out = &bytes[*pos..end];
    *pos = end;
    Ok(out)
}

/// A streaming CAR reader over `std::io::Read`: blocks are yielded one at a time.
pub struct CarReader<R> {
    inner: R,
    limits: CarLimits,
    read: u64,
    blocks: usize,
    pub roots: Vec<Cid>,
}

impl<R: Read> CarReader<R> {
    pub fn new(mut inner: R, limits: CarLimits) -> Result<Self, CarError> {
        let mut read = 0;
        let len = sync_varint(&mut inner, &mut read)?.ok_or(CarError::Truncated)?;
        let header = sync_take(&mut inner, len, &limits, &mut read)?;
        let roots = parse_header(&header)?;
        Ok(CarReader { inner, limits, read, blocks: 0, roots })
    }

    /// The next block, or `None` at the end of the file.
    pub fn next_block(&mut self) -> Result<Option<(Cid, Bytes)>, CarError> {
        let Some(len) = sync_varint(&mut self.inner, &mut self.read)? else { return Ok(None) };
        if len > self.limits.max_block + 64 {
            return Err(CarError::TooLarge("block size"));
        }
        self.blocks += 1;
        if self.blocks > self.limits.max_blocks {
            return Err(CarError::TooLarge("block count"));
        }
        let section = sync_take(&mut self.inner, len, &self.limits, &mut self.read)?;
        parse_section(&section).map(Some)
    }
}

fn sync_varint(r: &mut impl Read, read: &mut u64) -> Result<Option<u64>, CarError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let mut b = [0u8];
        if r.read(&mut b)? == 0 {
            return if shift == 0 { Ok(None) } else { Err(CarError::Truncated) };
        }
        *read += 1;
        value |= u64::from(b[0] & 0x7f) << shift;
        if b[0] & 0x80 == 0 {
            return Ok(Some(value));
        }
    }
    Err(CarError::Varint)
}

fn sync_take(r: &mut impl Read, len: u64, limits: &CarLimits, read: &mut u64) -> Result<Vec<u8>, CarError> {
    *read += len;
    if *read > limits.max_bytes {
        return Err(CarError::TooLarge("size"));
    }
    // Grow with the data actually read: a claimed length alone allocates nothing.
    let mut buf = Vec::new();
    r.take(len).read_to_end(&mut buf)?;
    if buf.len() as u64 != len {
        return Err(CarError::Truncated);
    }
    Ok(buf)
}

/// Reads a whole CAR from an async stream (an HTTP body, a file), within `limits`.
pub async fn read_async(mut r: impl AsyncRead + Unpin, limits: CarLimits) -> Result<Car, CarError> {
    // Read in bounded chunks so an oversized body is refused before it is all in memory.
    let mut buf = Vec::new();
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let n = r.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        if (buf.len() + n) as u64 > limits.max_bytes {
            return Err(CarError::TooLarge("size"));
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    read(&buf, limits)
}

/// Encodes the CAR header for `roots`, with its length prefix.
fn header_bytes(roots: &[Cid]) -> Vec<u8> {
    let header = crate::cbor::encode(&Header { version: 1, roots: roots.to_vec() }).expect("CAR header encodes");
    let mut out = Vec::with_capacity(header.len() + 2);
    write_varint(&mut out, header.len() as u64);
    out.extend(header);
    out
}

fn section_prefix(cid: &Cid, data_len: usize) -> Vec<u8> {
    let cid_bytes = cid.to_bytes();
    let mut out = Vec::with_capacity(cid_bytes.len() + 4);
    write_varint(&mut out, (cid_bytes.len() + data_len) as u64);
    out.extend(cid_bytes);
    out
}

/// Writes a whole CAR into memory.
pub fn write<'a>(roots: &[Cid], blocks: impl IntoIterator<Item = (&'a Cid, &'a [u8])>) -> Vec<u8> {
    let header = header_bytes(roots);
    let blocks: Vec<(&Cid, &[u8])> = blocks.into_iter().collect();
    // Sized once: firehose frames carry a CAR each, and regrowing it was a visible cost.
    let size = header.len() + blocks.iter().map(|(c, d)| 10 + c.encoded_len() + d.len()).sum::<usize>();
    let mut out = Vec::with_capacity(size);
    out.extend(header);
    for (cid, data) in blocks {
        write_varint(&mut out, (cid.encoded_len() + data.len()) as u64);
        cid.write_bytes(&mut out).expect("writing to a Vec cannot fail");
        out.extend_from_slice(data);
    }
    out
}

/// A streaming CAR writer over `AsyncWrite` (e.g. an HTTP response body).
pub struct CarWriter<W> {
    inner: W,
}

impl<W: AsyncWrite + Unpin> CarWriter<W> {
    pub async fn new(mut inner: W, roots: &[Cid]) -> std::io::Result<Self> {
        inner.write_all(&header_bytes(roots)).await?;
        Ok(CarWriter { inner })
    }

    pub async fn write_block(&mut self, cid: &Cid, data: &[u8]) -> std::io::Result<()> {
        self.inner.write_all(&section_prefix(cid, data.len())).await?;
        self.inner.write_all(data).await
    }

    pub async fn finish(mut self) -> std::io::Result<W> {
        self.inner.flush().await?;
        Ok(self.inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> (Cid, Vec<(Cid, Vec<u8>)>) {
        let blocks: Vec<(Cid, Vec<u8>)> = (0..5u8)
            .map(|i| {
                let data = crate::cbor::encode(&vec![i; i as usize]).unwrap();
                (crate::cid::for_cbor(&data), data)
            })
            .collect();
        (blocks[0].0, blocks)
    }

    #[test]
    fn roundtrip_slice_and_stream() {
        let (root, blocks) = sample();
        let bytes = write(&[root], blocks.iter().map(|(c, d)| (c, d.as_slice())));
        let car = read(&bytes, CarLimits::default()).unwrap();
        assert_eq!(car.root().unwrap(), root);
        assert_eq!(car.blocks.len(), 5);
        for ((c1, d1), (c2, d2)) in car.blocks.iter().zip(&blocks) {
            assert_eq!((c1, d1.as_ref()), (c2, d2.as_slice()));
        }
        let mut reader = CarReader::new(bytes.as_slice(), CarLimits::default()).unwrap();
        let mut n = 0;
        while let Some((cid, data)) = reader.next_block().unwrap() {
            assert_eq!(crate::cid::for_cbor(&data), cid);
            n += 1;
        }
        assert_eq!(n, 5);
    }

    #[test]
    fn read_wanted_checks_and_keeps_only_the_named_blocks() {
        use crate::blockstore::BlockStore;
        let (root, blocks) = sample();
        let bytes = write(&[root], blocks.iter().map(|(c, d)| (c, d.as_slice())));
        let wanted = [blocks[1].0, blocks[3].0];
        let store = read_wanted(&bytes, &wanted, CarLimits::default()).unwrap();
        for (i, (cid, data)) in blocks.iter().enumerate() {
            let got = store.get(cid).unwrap();
            assert_eq!(got.as_deref(), if i == 1 || i == 3 { Some(data.as_slice()) } else { None });
        }
        // A wanted block whose bytes do not match its CID is an error; an unwanted one is not read.
        let mut bad = bytes.clone();
        let at = bad.len() - 1;
        bad[at] ^= 1;
        assert!(read_wanted(&bad, &[blocks[4].0], CarLimits::default()).is_err());
        assert!(read_wanted(&bad, &[blocks[1].0], CarLimits::default()).is_ok());
        assert!(read_wanted(&bytes[..bytes.len() - 2], &wanted, CarLimits::default()).is_err());
    }

    #[tokio::test]
    async fn async_write_then_read() {
        let (root, blocks) = sample();
        let mut w = CarWriter::new(Vec::new(), &[root]).await.unwrap();
        for (c, d) in &blocks {
            w.write_block(c, d).await.unwrap();
        }
        let bytes = w.finish().await.unwrap();
        assert_eq!(bytes, write(&[root], blocks.iter().map(|(c, d)| (c, d.as_slice()))));
        let car = read_async(bytes.as_slice(), CarLimits::default()).await.unwrap();
        assert_eq!(car.blocks.len(), 5);
    }

    #[test]
    fn corrupt_input_is_refused() {
        let (root, blocks) = sample();
        let bytes = write(&[root], blocks.iter().map(|(c, d)| (c, d.as_slice())));
        assert!(matches!(read(&bytes[..bytes.len() - 1], CarLimits::default()), Err(CarError::Truncated)));
        let mut tampered = bytes.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert!(matches!(read(&tampered, CarLimits::default()), Err(CarError::Block(_))));
        let tight = CarLimits { max_blocks: 2, ..CarLimits::default() };
        assert!(matches!(read(&bytes, tight), Err(CarError::TooLarge(_))));
        let tiny = CarLimits { max_bytes: 10, ..CarLimits::default() };
        assert!(matches!(read(&bytes, tiny), Err(CarError::TooLarge(_))));
        assert!(read(&[], CarLimits::default()).is_err());
    }
}
