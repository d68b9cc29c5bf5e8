//! Gzip for request bodies, with the deflate state kept from one send to the next: allocating it
//! (some 300 KB) for every batch made the allocator map and fault in fresh pages on each send.

use flate2::{Compress, Compression, Crc, FlushCompress, Status};
use std::sync::Mutex;

/// The gzip header: magic, deflate, no flags, no time, no extra flags, unknown OS.
const HEADER: [u8; 10] = [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];

/// A gzip compressor that keeps its deflate state between uses.
#[derive(Default)]
pub(crate) struct Gzip {
    deflate: Mutex<Option<Compress>>,
}

impl std::fmt::Debug for Gzip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gzip").finish_non_exhaustive()
    }
}

impl Gzip {
    /// `bytes` as one gzip member. Used from two threads at once, the second gets a state of its own.
    pub(crate) fn compress(&self, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
        match self.deflate.try_lock() {
            Ok(mut kept) => {
                let deflate = kept.get_or_insert_with(new_deflate);
                deflate.reset();
                gzip_with(deflate, bytes)
            }
            Err(_) => gzip_with(&mut new_deflate(), bytes),
        }
    }
}

fn new_deflate() -> Compress {
    Compress::new(Compression::fast(), false)
}

fn gzip_with(deflate: &mut Compress, bytes: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::with_capacity(bytes.len() / 4 + 64);
    out.extend_from_slice(&HEADER);
    loop {
        let consumed = usize::try_from(deflate.total_in()).unwrap_or(usize::MAX);
        let input = bytes.get(consumed..).unwrap_or_default();
        out.reserve(input.len() / 4 + 64);
        let status = deflate
            .compress_vec(input, &mut out, FlushCompress::Finish)
            .map_err(std::io::Error::other)?;
        if status == Status::StreamEnd {
            break;
        }
    }
    let mut crc = Crc::new();
    crc.update(bytes);
    out.extend_from_slice(&crc.sum().to_le_bytes());
    // ISIZE: the length modulo 2^32, as the format says.
    out.extend_from_slice(&(bytes.len() as u32).to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read as _;

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        let read = flate2::read::GzDecoder::new(bytes).read_to_end(&mut out);
        assert!(read.is_ok(), "a valid gzip member: {read:?}");
        out
    }

    #[test]
    fn compresses_to_gzip_again_and_again() {
        let gzip = Gzip::default();
        let large: Vec<u8> = (0..200_000u32).flat_map(|i| (i % 251).to_le_bytes()).collect();
        for input in [&b"[{\"a\":1}]"[..], &b""[..], &large[..], &b"[]"[..]] {
            let compressed = gzip.compress(input).unwrap_or_default();
            assert_eq!(gunzip(&compressed), input);
        }
    }

    #[test]
    fn a_second_user_at_once_gets_its_own_state() {
        let gzip = Gzip::default();
        let held = gzip.deflate.lock();
        assert_eq!(gunzip(&gzip.compress(b"busy").unwrap_or_default()), b"busy");
        drop(held);
    }
}
