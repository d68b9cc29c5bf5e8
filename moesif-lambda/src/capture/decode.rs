//! Undoing a body's `Content-Encoding` for capture, so a compressed body is logged (and redacted) as
//! what it says, not as opaque base64.
//!
//! `gzip` and `x-gzip` (concatenated members included), `deflate` (zlib-wrapped, as the standard says,
//! or raw, as some servers send it), `br` (with the `brotli` feature, off by default); `identity` is no
//! coding. A stack (`deflate, gzip`: gzip was applied last) is undone from its end. Every step is
//! bounded: a step that would yield more than the cap stops there (a decompression bomb costs at most
//! the cap), and the body is logged as the marker.
//! Pure and only ever run after the response, at delivery.

use std::borrow::Cow;
use std::io::Read;

/// Why a body could not be decoded; [`Failure::reason`] is the marker's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Failure {
    /// Decoded, it is larger than the capture limit (or a decompression bomb).
    TooLarge,
    /// A coding this crate does not decode (`zstd`, `compress`, a typo).
    Unsupported(String),
    /// The data is not valid for its coding (corrupt or truncated).
    Corrupt(&'static str),
}

impl Failure {
    /// The marker's `moesif_body_omitted` text.
    pub(crate) fn reason(&self) -> String {
        match self {
            Failure::TooLarge => "body larger than the capture limit once decoded".to_owned(),
            Failure::Unsupported(coding) => format!("unsupported content-encoding: {coding}"),
            Failure::Corrupt(coding) => format!("body could not be decoded as {coding}"),
        }
    }
}

/// The coding an [`Failure::Unsupported`] names for `br` without the `brotli` feature.
#[cfg(not(feature = "brotli"))]
const BR_OFF: &str = "br (moesif-lambda's `brotli` feature is off)";

/// The longest coding name a reason quotes (a header value can be anything).
const MAX_NAME: usize = 32;

/// The codings of a `Content-Encoding` value (lower-cased, `identity` and empty items left out), in the
/// order they were applied.
pub(crate) fn codings(content_encoding: &str) -> Vec<String> {
    content_encoding
        .split(',')
        .map(|coding| coding.trim().to_ascii_lowercase())
        .filter(|coding| !coding.is_empty() && coding != "identity")
        .collect()
}

/// `bytes` with `codings` (as [`codings`] gives them) undone, last applied first; no step may yield more
/// than `max` bytes.
pub(crate) fn decode<'a>(bytes: &'a [u8], codings: &[String], max: usize) -> Result<Cow<'a, [u8]>, Failure> {
    let mut current = Cow::Borrowed(bytes);
    for coding in codings.iter().rev() {
        current = Cow::Owned(undo(&current, coding, max)?);
    }
    Ok(current)
}

/// One coding undone.
fn undo(bytes: &[u8], coding: &str, max: usize) -> Result<Vec<u8>, Failure> {
    match coding {
        "gzip" | "x-gzip" => bounded(flate2::read::MultiGzDecoder::new(bytes), max, "gzip"),
        "deflate" => match bounded(flate2::read::ZlibDecoder::new(bytes), max, "deflate") {
            Err(Failure::Corrupt(_)) => {
                // Raw deflate has no checksum: data that is not deflate at all may still decode to some
                // bytes, but not to a stream that ends exactly where the body does.
                let mut raw = flate2::read::DeflateDecoder::new(bytes);
                let out = bounded(&mut raw, max, "deflate")?;
                match raw.total_in() == bytes.len() as u64 {
                    true => Ok(out),
                    false => Err(Failure::Corrupt("deflate")),
                }
            }
            zlib => zlib,
        },
        #[cfg(feature = "brotli")]
        "br" => bounded(brotli_decompressor::Decompressor::new(bytes, 4096), max, "br"),
        #[cfg(not(feature = "brotli"))]
        "br" => Err(Failure::Unsupported(BR_OFF.to_owned())),
        other => {
            let mut name: String = other.chars().take(MAX_NAME).collect();
            if name.len() < other.len() {
                name.push('…');
            }
            Err(Failure::Unsupported(name))
        }
    }
}

/// Reads `decoder` to its end, at most `max` bytes.
fn bounded(decoder: impl Read, max: usize, coding: &'static str) -> Result<Vec<u8>, Failure> {
    let limit = u64::try_from(max).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    match decoder.take(limit).read_to_end(&mut out) {
        Ok(_) if out.len() > max => Err(Failure::TooLarge),
        Ok(_) => Ok(out),
        Err(_) => Err(Failure::Corrupt(coding)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const JSON: &[u8] = br#"{"user":"ada","password":"hunter2","items":[1,2,3]}"#;
    const MAX: usize = 512 * 1024;

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    }

    fn zlib(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    }

    fn raw_deflate(bytes: &[u8]) -> Vec<u8> {
        let mut encoder = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    }

    #[cfg_attr(not(feature = "brotli"), allow(dead_code))]
    fn brotli(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
            let _ = encoder.write_all(bytes);
        }
        out
    }

    fn decoded(bytes: &[u8], content_encoding: &str) -> Result<Vec<u8>, Failure> {
        decode(bytes, &codings(content_encoding), MAX).map(Cow::into_owned)
    }

    #[test]
    fn each_coding_is_undone() {
        assert_eq!(decoded(&gzip(JSON), "gzip").as_deref(), Ok(JSON));
        assert_eq!(decoded(&gzip(JSON), "x-gzip").as_deref(), Ok(JSON));
        assert_eq!(decoded(&gzip(JSON), "GZip").as_deref(), Ok(JSON));
        assert_eq!(decoded(&zlib(JSON), "deflate").as_deref(), Ok(JSON));
    }

    #[test]
    fn deflate_is_read_zlib_wrapped_or_raw() {
        assert_eq!(decoded(&zlib(JSON), "deflate").as_deref(), Ok(JSON));
        assert_eq!(decoded(&raw_deflate(JSON), "deflate").as_deref(), Ok(JSON));
    }

    #[test]
    fn concatenated_gzip_members_are_all_read() {
        let (first, second) = JSON.split_at(10);
        let mut both = gzip(first);
        both.extend(gzip(second));
        assert_eq!(decoded(&both, "gzip").as_deref(), Ok(JSON));
    }

    #[test]
    fn a_stack_is_undone_from_its_end() {
        // `deflate, gzip`: deflate first, then gzip.
        let stacked = gzip(&zlib(JSON));
        assert_eq!(decoded(&stacked, "deflate, gzip").as_deref(), Ok(JSON));
        assert_eq!(decoded(&stacked, "gzip, deflate"), Err(Failure::Corrupt("deflate")));
    }

    #[test]
    fn identity_is_no_coding() {
        assert_eq!(codings("identity"), Vec::<String>::new());
        assert_eq!(codings(" Identity , gzip,,"), ["gzip"]);
        assert!(matches!(decode(JSON, &codings("identity"), MAX), Ok(Cow::Borrowed(_))));
        assert_eq!(decoded(&gzip(JSON), "identity, gzip").as_deref(), Ok(JSON));
    }

    #[test]
    fn an_unknown_coding_is_a_failure_with_its_name() {
        let failure = decoded(JSON, "zstd");
        assert_eq!(failure, Err(Failure::Unsupported("zstd".to_owned())));
        assert_eq!(
            failure.map_err(|f| f.reason()),
            Err("unsupported content-encoding: zstd".to_owned())
        );
        // Unknown anywhere in the stack, even under a known one.
        assert_eq!(
            decoded(&gzip(JSON), "compress, gzip"),
            Err(Failure::Unsupported("compress".to_owned()))
        );
        let long = "z".repeat(100);
        assert!(decoded(JSON, &long).is_err_and(|f| f.reason().chars().count() < 70));
    }

    #[test]
    fn corrupt_or_truncated_data_is_a_failure() {
        assert_eq!(decoded(JSON, "gzip"), Err(Failure::Corrupt("gzip")));
        let whole = gzip(JSON);
        assert_eq!(
            decoded(&whole[..whole.len() / 2], "gzip"),
            Err(Failure::Corrupt("gzip"))
        );
        assert_eq!(decoded(JSON, "deflate"), Err(Failure::Corrupt("deflate")));
        let raw = raw_deflate(JSON);
        assert_eq!(
            decoded(&raw[..raw.len() - 3], "deflate"),
            Err(Failure::Corrupt("deflate"))
        );
        let mut trailing = raw.clone();
        trailing.extend_from_slice(b"trailing");
        assert_eq!(decoded(&trailing, "deflate"), Err(Failure::Corrupt("deflate")));
        // Text that happens to start like a deflate block is not taken for one.
        for text in [&b"{}"[..], b"[1,2,3]", b"hello world", br#"{"user":"ada","token":"t"}"#] {
            assert!(decoded(text, "deflate").is_err(), "{}", String::from_utf8_lossy(text));
        }
        let zlibbed = zlib(JSON);
        assert_eq!(
            decoded(&zlibbed[..zlibbed.len() / 2], "deflate"),
            Err(Failure::Corrupt("deflate"))
        );
        assert_eq!(Failure::Corrupt("gzip").reason(), "body could not be decoded as gzip");
    }

    #[test]
    fn a_decompression_bomb_stops_at_the_cap() {
        // 50 MB of zeros, gzipped to about 50 KB, with a 1 MB cap: stopped after 1 MB + 1 byte.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let zeros = vec![0u8; 1024 * 1024];
        for _ in 0..50 {
            let _ = encoder.write_all(&zeros);
        }
        let bomb = encoder.finish().unwrap_or_default();
        assert!(bomb.len() < 100 * 1024, "{}", bomb.len());
        let max = 1024 * 1024;
        assert_eq!(decode(&bomb, &codings("gzip"), max), Err(Failure::TooLarge));
        assert_eq!(
            Failure::TooLarge.reason(),
            "body larger than the capture limit once decoded"
        );
        // The same bound for every coding, and for each step of a stack.
        let big = vec![b'a'; 2048];
        for (bytes, coding) in [
            (zlib(&big), "deflate"),
            (raw_deflate(&big), "deflate"),
            (gzip(&gzip(&big)), "gzip, gzip"),
        ] {
            assert_eq!(
                decode(&bytes, &codings(coding), 2047),
                Err(Failure::TooLarge),
                "{coding}"
            );
            assert_eq!(
                decode(&bytes, &codings(coding), 2048).map(Cow::into_owned),
                Ok(big.clone())
            );
        }
    }

    #[cfg(feature = "brotli")]
    #[test]
    fn brotli_is_undone_bounded_and_checked() {
        assert_eq!(decoded(&brotli(JSON), "br").as_deref(), Ok(JSON));
        let three = brotli(&gzip(&raw_deflate(JSON)));
        assert_eq!(decoded(&three, "deflate,gzip , br").as_deref(), Ok(JSON));
        assert_eq!(decoded(JSON, "br"), Err(Failure::Corrupt("br")));
        let whole = brotli(JSON);
        assert_eq!(decoded(&whole[..whole.len() / 2], "br"), Err(Failure::Corrupt("br")));
        let big = vec![b'a'; 2048];
        assert_eq!(decode(&brotli(&big), &codings("br"), 2047), Err(Failure::TooLarge));
        assert_eq!(
            decode(&brotli(&big), &codings("br"), 2048).map(Cow::into_owned),
            Ok(big)
        );
    }

    #[cfg(not(feature = "brotli"))]
    #[test]
    fn without_the_brotli_feature_br_is_unsupported_and_says_why() {
        let failure = decoded(&brotli(JSON), "br");
        assert_eq!(
            failure.map_err(|f| f.reason()),
            Err("unsupported content-encoding: br (moesif-lambda's `brotli` feature is off)".to_owned())
        );
        assert!(decoded(&gzip(&brotli(JSON)), "br, gzip").is_err());
    }
}
