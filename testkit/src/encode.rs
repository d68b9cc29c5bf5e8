//! Bodies compressed as servers and clients send them, for tests that plant them in events, answers
//! and upstream replies: gzip, zlib-wrapped deflate and raw deflate (all in memory, so they cannot fail).

/// `Content-Encoding: gzip`.
pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    finish(
        flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default()),
        bytes,
        |e| e.finish(),
    )
}

/// `Content-Encoding: deflate` as the standard says (zlib-wrapped).
pub fn zlib(bytes: &[u8]) -> Vec<u8> {
    finish(
        flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default()),
        bytes,
        |e| e.finish(),
    )
}

/// `Content-Encoding: deflate` as some servers send it (raw, no zlib header).
pub fn raw_deflate(bytes: &[u8]) -> Vec<u8> {
    finish(
        flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default()),
        bytes,
        |e| e.finish(),
    )
}

fn finish<E: std::io::Write>(
    mut encoder: E,
    bytes: &[u8],
    done: impl FnOnce(E) -> std::io::Result<Vec<u8>>,
) -> Vec<u8> {
    let _ = encoder.write_all(bytes);
    done(encoder).unwrap_or_default()
}
