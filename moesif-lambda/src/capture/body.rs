//! Request and response bodies: JSON as JSON, anything else base64, with a size cap.
//!
//! The reference's rules (`process_body`), applied to the event (for the request) or to the handler's
//! answer (for the response), called the *wrapper* here:
//! - bodies off (`log_body(false)`): no body;
//! - a wrapper object without a `body` key is itself the body (JSON);
//! - an empty or missing `body`: no body;
//! - `isBase64Encoded` with a well-formed base64 string: sent as it is, `base64`;
//! - a string that parses as JSON: the parsed JSON; any other string: its UTF-8 bytes in base64.
//!
//! Better than the reference: a plain string answer is base64 (never dropped), a body over
//! `max_body_bytes` becomes a marker object with its size instead of a payload the collector rejects,
//! and a body sent with a `Content-Encoding` (gzip, deflate, br) is decoded first ([`super::decode`]),
//! then read by the rules above; one that cannot be decoded is the marker with the reason.

use super::decode;
use super::shape::{at, field};
use crate::model::TransferEncoding;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::{json, Value};
use std::borrow::Cow;

/// Transfer encoding of a JSON body.
pub(crate) const JSON: TransferEncoding = TransferEncoding::Json;
/// Transfer encoding of a base64 body.
pub(crate) const BASE64: TransferEncoding = TransferEncoding::Base64;

/// A captured body and its transfer encoding.
pub(crate) type CapturedBody = (Option<Value>, TransferEncoding);

/// Captures the body of `wrapper` (an event or a response) under the rules above. When its headers say
/// `content_encoding`, a string body (its bytes, or what its base64 holds when flagged
/// `isBase64Encoded`) is decoded first ([`decoded`]); a body that is JSON already (not bytes on the wire)
/// and `identity` are read as they are.
pub(crate) fn capture_encoded(
    wrapper: &Value,
    log_body: bool,
    max_bytes: usize,
    content_encoding: Option<&str>,
) -> CapturedBody {
    if !log_body {
        return (None, JSON);
    }
    let body = match wrapper {
        Value::Object(object) => match field(object, "body") {
            None => return capped_json(wrapper, max_bytes),
            Some(body) => body,
        },
        Value::String(text) => return base64_of(text, max_bytes),
        Value::Null => return (None, JSON),
        other => return capped_json(other, max_bytes),
    };
    if !is_truthy(body) {
        return (None, JSON);
    }
    let base64_flagged = at(wrapper, &["isBase64Encoded"]).is_some_and(is_truthy);
    let codings = content_encoding.map(decode::codings).unwrap_or_default();
    match body {
        Value::String(text) if !codings.is_empty() => {
            let bytes = match base64_flagged && is_base64(text) {
                true => STANDARD.decode(text).map_or(Cow::Borrowed(text.as_bytes()), Cow::Owned),
                false => Cow::Borrowed(text.as_bytes()),
            };
            decoded(&bytes, &codings, max_bytes)
        }
        Value::String(text) if base64_flagged && is_base64(text) => {
            if text.len() > max_bytes {
                (Some(omitted(text.len() / 4 * 3)), JSON)
            } else {
                (Some(Value::String(text.clone())), BASE64)
            }
        }
        Value::String(text) => parse_text(text, max_bytes),
        other => capped_json(other, max_bytes),
    }
}

/// A text body: its JSON if it parses, else base64 of its bytes.
pub(crate) fn parse_text(text: &str, max_bytes: usize) -> CapturedBody {
    if text.len() > max_bytes {
        return (Some(omitted(text.len())), JSON);
    }
    match serde_json::from_str::<Value>(text) {
        Ok(parsed) => (Some(parsed), JSON),
        Err(_) => base64_of(text, max_bytes),
    }
}

/// Raw bytes (an outgoing call's body): JSON if they are UTF-8 JSON, else base64.
pub(crate) fn capture_bytes(bytes: &[u8], log_body: bool, max_bytes: usize) -> CapturedBody {
    if !log_body || bytes.is_empty() {
        return (None, JSON);
    }
    if bytes.len() > max_bytes {
        return (Some(omitted(bytes.len())), JSON);
    }
    match serde_json::from_slice::<Value>(bytes) {
        Ok(parsed) => (Some(parsed), JSON),
        Err(_) => (Some(Value::String(STANDARD.encode(bytes))), BASE64),
    }
}

/// [`capture_bytes`] of bytes sent with `content_encoding`: decoded first.
pub(crate) fn capture_bytes_encoded(
    bytes: &[u8],
    log_body: bool,
    max_bytes: usize,
    content_encoding: Option<&str>,
) -> CapturedBody {
    let codings = content_encoding.map(decode::codings).unwrap_or_default();
    if !log_body || bytes.is_empty() || codings.is_empty() {
        return capture_bytes(bytes, log_body, max_bytes);
    }
    decoded(bytes, &codings, max_bytes)
}

/// `bytes` with `codings` undone, then read as [`capture_bytes`] reads bytes; the decoded size counts
/// against `max_bytes`. A body that cannot be decoded is the marker with the reason (and the size
/// received), never its raw bytes.
pub(crate) fn decoded(bytes: &[u8], codings: &[String], max_bytes: usize) -> CapturedBody {
    if bytes.len() > max_bytes {
        return (Some(omitted(bytes.len())), JSON);
    }
    match decode::decode(bytes, codings, max_bytes) {
        Ok(plain) => capture_bytes(&plain, true, max_bytes),
        Err(failure) => (Some(omitted_because(&failure.reason(), bytes.len())), JSON),
    }
}

fn base64_of(text: &str, max_bytes: usize) -> CapturedBody {
    if text.len() > max_bytes {
        return (Some(omitted(text.len())), JSON);
    }
    (Some(Value::String(STANDARD.encode(text.as_bytes()))), BASE64)
}

fn capped_json(value: &Value, max_bytes: usize) -> CapturedBody {
    if value.get(OMITTED_KEY).is_some() {
        // Already the marker of a body left out on the hot path: it says the real size.
        return (Some(value.clone()), JSON);
    }
    // Serialising only to measure is the cost of never sending an oversized body; bodies are rarely near the cap.
    let size = serialized_len(value);
    if size > max_bytes {
        (Some(omitted(size)), JSON)
    } else {
        (Some(value.clone()), JSON)
    }
}

/// The number of bytes `value` takes as compact JSON.
pub(crate) fn serialized_len<T: serde::Serialize + ?Sized>(value: &T) -> usize {
    struct Counter(usize);
    impl std::io::Write for Counter {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0 += buf.len();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }
    let mut counter = Counter(0);
    match serde_json::to_writer(&mut counter, value) {
        Ok(()) => counter.0,
        Err(_) => usize::MAX,
    }
}

/// Replaces a body over `max_bytes` in `wrapper` (an event or an answer) by the marker [`capture_encoded`] would
/// log for it, so a large body is never copied into the queue. `whole_is_body`: the wrapper is itself the
/// body when it has no `body` key (an answer without `statusCode`); `serialized_size` is its size when
/// known. Returns whether anything was replaced.
pub(crate) fn shrink_oversized(
    wrapper: &mut Value,
    max_bytes: usize,
    whole_is_body: bool,
    serialized_size: Option<usize>,
) -> bool {
    if let Some(body) = at(wrapper, &["body"]) {
        let Value::String(text) = body else { return false };
        if text.len() <= max_bytes {
            return false;
        }
        let marker = omitted_text(wrapper, text);
        if let Some(object) = wrapper.as_object_mut() {
            object.insert("body".to_owned(), marker);
            object.remove("isBase64Encoded");
        }
        return true;
    }
    let is_body = whole_is_body && at(wrapper, &["statusCode"]).is_none() && !wrapper.is_null();
    match (is_body, serialized_size) {
        (true, Some(size)) if size > max_bytes => {
            let size = match wrapper {
                Value::String(text) => text.len(),
                _ => size,
            };
            *wrapper = omitted(size);
            true
        }
        _ => false,
    }
}

/// The marker for `text`, the `body` of `wrapper`, when it is over the cap: its size in bytes (decoded,
/// for a well-formed body flagged `isBase64Encoded`).
pub(crate) fn omitted_text(wrapper: &Value, text: &str) -> Value {
    let base64_flagged = at(wrapper, &["isBase64Encoded"]).is_some_and(is_truthy) && is_base64(text);
    omitted(if base64_flagged { text.len() / 4 * 3 } else { text.len() })
}

/// A cheap estimate of the bytes `value` takes as JSON (an explicit stack, no recursion; no serialisation).
pub(crate) fn estimate_size(value: &Value) -> usize {
    let mut total = 0usize;
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        total += match value {
            Value::Null | Value::Bool(_) => 5,
            Value::Number(_) => 12,
            Value::String(text) => text.len() + 2,
            Value::Array(items) => {
                stack.extend(items.iter());
                2 + items.len()
            }
            Value::Object(map) => {
                stack.extend(map.values());
                2 + map.keys().map(|k| k.len() + 4).sum::<usize>()
            }
        };
    }
    total
}

/// A streamed body's bytes, kept as they pass up to a cap, and its whole size: what the response-body
/// wrappers (the layer's, the outgoing clients') log once the body has ended.
#[cfg(any(feature = "http", feature = "reqwest", feature = "tower-client"))]
#[derive(Debug)]
pub(crate) struct Kept {
    bytes: Vec<u8>,
    size: usize,
    max: usize,
}

#[cfg(any(feature = "http", feature = "reqwest", feature = "tower-client"))]
impl Kept {
    /// Nothing kept yet, at most `max` bytes.
    pub(crate) fn up_to(max: usize) -> Kept {
        Kept {
            bytes: Vec::new(),
            size: 0,
            max,
        }
    }

    /// Notes `chunk`, the next bytes of the body; past the cap, nothing is kept.
    pub(crate) fn record(&mut self, chunk: &[u8]) {
        self.size = self.size.saturating_add(chunk.len());
        if self.size <= self.max {
            self.bytes.extend_from_slice(chunk);
        } else {
            self.bytes = Vec::new();
        }
    }

    /// How many bytes passed.
    pub(crate) fn size(&self) -> usize {
        self.size
    }

    /// What is kept so far (for tests).
    #[cfg(test)]
    pub(crate) fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// The whole body, `None` when it went over the cap.
    pub(crate) fn into_bytes(self) -> Option<Vec<u8>> {
        (self.size <= self.max).then_some(self.bytes)
    }
}

/// The key that marks a body left out for its size.
const OMITTED_KEY: &str = "moesif_body_omitted";

/// The marker that stands in for a body over the cap.
pub(crate) fn omitted(original_size: usize) -> Value {
    omitted_because("body larger than the capture limit", original_size)
}

/// The marker that stands in for a body left out, with the reason (`moesif_body_omitted`) and its size
/// in bytes as received.
pub(crate) fn omitted_because(reason: &str, original_size: usize) -> Value {
    json!({ OMITTED_KEY: reason, "original_size": original_size })
}

/// Python truthiness of a JSON value, as the reference tests `body_wrapper.get('body')`.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// A well-formed, padded standard base64 string (the reference's `is_base64_str`).
fn is_base64(text: &str) -> bool {
    let bytes = text.as_bytes();
    if bytes.is_empty() || bytes.len() % 4 != 0 {
        return false;
    }
    let payload = text.trim_end_matches('=');
    let padding = bytes.len() - payload.len();
    padding <= 2
        && !payload.is_empty()
        && payload
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAX: usize = 512 * 1024;

    fn capture(wrapper: &Value, log_body: bool, max_bytes: usize) -> CapturedBody {
        capture_encoded(wrapper, log_body, max_bytes, None)
    }

    #[test]
    fn json_body_is_parsed() {
        let (body, enc) = capture(&json!({"body": "{\"a\": 1}"}), true, MAX);
        assert_eq!((body, enc), (Some(json!({"a": 1})), JSON));
    }

    #[test]
    fn text_body_is_base64() {
        let (body, enc) = capture(&json!({"body": "not found"}), true, MAX);
        assert_eq!((body, enc), (Some(json!("bm90IGZvdW5k")), BASE64));
    }

    #[test]
    fn flagged_base64_body_is_kept() {
        let wrapper = json!({"body": "iVBORw0KGgoAAGJpbmFyeQ==", "isBase64Encoded": true});
        assert_eq!(
            capture(&wrapper, true, MAX),
            (Some(json!("iVBORw0KGgoAAGJpbmFyeQ==")), BASE64)
        );
    }

    #[test]
    fn flagged_but_invalid_base64_is_encoded() {
        let wrapper = json!({"body": "not base64!", "isBase64Encoded": true});
        assert_eq!(capture(&wrapper, true, MAX), (Some(json!("bm90IGJhc2U2NCE=")), BASE64));
    }

    #[test]
    fn wrapper_without_body_is_the_body() {
        let wrapper = json!({"statusCode": 204});
        assert_eq!(capture(&wrapper, true, MAX), (Some(wrapper.clone()), JSON));
    }

    #[test]
    fn empty_or_null_body_is_none() {
        assert_eq!(capture(&json!({"body": ""}), true, MAX), (None, JSON));
        assert_eq!(capture(&json!({"body": null}), true, MAX), (None, JSON));
    }

    #[test]
    fn log_body_off_sends_no_body() {
        assert_eq!(capture(&json!({"body": "{}"}), false, MAX), (None, JSON));
    }

    #[test]
    fn string_answer_is_base64() {
        assert_eq!(capture(&json!("hi"), true, MAX), (Some(json!("aGk=")), BASE64));
    }

    #[test]
    fn oversized_body_becomes_a_marker() {
        let big = "x".repeat(100);
        let (body, enc) = capture(&json!({ "body": big }), true, 10);
        assert_eq!(enc, JSON);
        assert_eq!(body.and_then(|b| b.get("original_size").cloned()), Some(json!(100)));
    }

    #[test]
    fn shrinking_gives_the_marker_capture_would_log() {
        let max = 10;
        for wrapper in [
            json!({"body": "x".repeat(100)}),
            json!({"body": "QUFB".repeat(25), "isBase64Encoded": true}),
            json!({"statusCode": 200, "body": "{\"a\": \"xxxxxxxxxxxxxxxxxx\"}"}),
        ] {
            let expected = capture(&wrapper, true, max);
            let mut shrunk = wrapper.clone();
            assert!(shrink_oversized(&mut shrunk, max, false, None));
            assert_eq!(capture(&shrunk, true, max), expected, "{wrapper}");
        }
        let mut shorthand = json!({"a": "x".repeat(100)});
        let size = serialized_len(&shorthand);
        let expected = capture(&shorthand, true, max);
        assert!(
            !shrink_oversized(&mut shorthand.clone(), max, false, Some(size)),
            "a request is never its own body"
        );
        assert!(shrink_oversized(&mut shorthand, max, true, Some(size)));
        assert_eq!(capture(&shorthand, true, max), expected);
        let mut small = json!({"body": "ok"});
        assert!(!shrink_oversized(&mut small, max, true, Some(12)));
    }

    #[test]
    fn base64_check_matches_reference() {
        assert!(is_base64("AAMG"));
        assert!(is_base64("AA=="));
        assert!(!is_base64("A==="));
        assert!(!is_base64("===="));
        assert!(!is_base64("abc"));
        assert!(!is_base64("ab c"));
        assert!(!is_base64("a=bc"));
    }

    #[test]
    fn bytes_are_json_or_base64() {
        assert_eq!(capture_bytes(b"{\"a\":1}", true, MAX), (Some(json!({"a": 1})), JSON));
        assert_eq!(capture_bytes(&[0xff, 0x00], true, MAX), (Some(json!("/wA=")), BASE64));
        assert_eq!(capture_bytes(b"", true, MAX), (None, JSON));
        assert_eq!(capture_bytes(b"{}", false, MAX), (None, JSON));
    }

    #[test]
    fn size_estimate_grows_with_content() {
        let small = estimate_size(&json!({"a": 1}));
        let large = estimate_size(&json!({"a": "x".repeat(1000), "b": [1, 2, {"c": null}]}));
        assert!(small < 30 && large > 1000);
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(bytes);
        encoder.finish().unwrap_or_default()
    }

    #[test]
    fn an_encoded_body_is_decoded_then_read_as_any_body() {
        let zipped = STANDARD.encode(gzip(br#"{"token":"t-1"}"#));
        let wrapper = json!({"body": zipped, "isBase64Encoded": true});
        assert_eq!(
            capture_encoded(&wrapper, true, MAX, Some("gzip")),
            (Some(json!({"token": "t-1"})), JSON)
        );
        // Not JSON once decoded: base64 of the decoded bytes.
        let text = json!({"body": STANDARD.encode(gzip(b"plain text")), "isBase64Encoded": true});
        assert_eq!(
            capture_encoded(&text, true, MAX, Some("x-gzip")),
            (Some(json!(STANDARD.encode("plain text"))), BASE64)
        );
        // `identity` (or no header) reads the body as it is.
        assert_eq!(
            capture_encoded(&wrapper, true, MAX, Some("identity")),
            (Some(json!(zipped)), BASE64)
        );
        assert_eq!(capture_encoded(&wrapper, false, MAX, Some("gzip")), (None, JSON));
    }

    #[test]
    fn a_body_that_cannot_be_decoded_is_the_marker_with_the_reason() {
        let marker = |wrapper: &Value, coding: &str, max: usize| capture_encoded(wrapper, true, max, Some(coding)).0;
        let zipped = json!({"body": STANDARD.encode(gzip(br#"{"password":"p"}"#)), "isBase64Encoded": true});
        assert_eq!(
            marker(&zipped, "zstd", MAX),
            Some(json!({"moesif_body_omitted": "unsupported content-encoding: zstd", "original_size": 36}))
        );
        // Corrupt: flagged but not gzip; a plain string claiming gzip.
        let corrupt = json!({"body": STANDARD.encode(r#"{"password":"p"}"#), "isBase64Encoded": true});
        assert_eq!(
            marker(&corrupt, "gzip", MAX),
            Some(json!({"moesif_body_omitted": "body could not be decoded as gzip", "original_size": 16}))
        );
        let unflagged = json!({"body": r#"{"password":"p"}"#});
        assert_eq!(
            marker(&unflagged, "deflate", MAX),
            Some(json!({"moesif_body_omitted": "body could not be decoded as deflate", "original_size": 16}))
        );
        // The decoded size counts against the cap.
        let spaces = gzip(&[b' '; 1000]);
        let large = json!({"body": STANDARD.encode(&spaces), "isBase64Encoded": true});
        assert_eq!(
            marker(&large, "gzip", 100),
            Some(
                json!({"moesif_body_omitted": "body larger than the capture limit once decoded",
                        "original_size": spaces.len()})
            )
        );
        assert_eq!(
            omitted(5),
            json!({"moesif_body_omitted": "body larger than the capture limit", "original_size": 5})
        );
    }

    #[test]
    fn a_json_body_is_not_bytes_to_decode() {
        let wrapper = json!({"body": {"a": 1}});
        assert_eq!(
            capture_encoded(&wrapper, true, MAX, Some("gzip")),
            (Some(json!({"a": 1})), JSON)
        );
        let marker = json!({"body": omitted(10_000)});
        assert_eq!(
            capture_encoded(&marker, true, MAX, Some("gzip")),
            (Some(omitted(10_000)), JSON)
        );
    }

    #[test]
    fn encoded_bytes_are_decoded() {
        let zipped = gzip(br#"{"a":[1]}"#);
        assert_eq!(
            capture_bytes_encoded(&zipped, true, MAX, Some("gzip")),
            (Some(json!({"a": [1]})), JSON)
        );
        assert_eq!(
            capture_bytes_encoded(b"{}", true, MAX, Some("identity")),
            (Some(json!({})), JSON)
        );
        assert_eq!(capture_bytes_encoded(&zipped, false, MAX, Some("gzip")), (None, JSON));
        assert_eq!(
            capture_bytes_encoded(b"{}", true, MAX, Some("gzip")).0,
            Some(json!({"moesif_body_omitted": "body could not be decoded as gzip", "original_size": 2}))
        );
        assert_eq!(
            capture_bytes_encoded(&zipped, true, 4, Some("gzip")).0,
            Some(omitted(zipped.len())),
            "over the cap as received"
        );
    }
}
