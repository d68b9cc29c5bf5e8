//! Lambda's streaming response protocol, as a Function URL with `InvokeMode: RESPONSE_STREAM` reads it:
//! the runtime POSTs `…/response` with `Lambda-Runtime-Function-Response-Mode: streaming` and
//! `Transfer-Encoding: chunked`; with `Content-Type: application/vnd.awslambda.http-integration-response`
//! the body starts with a JSON prelude (`statusCode`, `headers`, `cookies`) ended by 8 NUL bytes, and the
//! rest is the body the caller gets, chunk by chunk. A failure part-way is reported in the HTTP
//! trailers `Lambda-Runtime-Function-Error-Type` and `Lambda-Runtime-Function-Error-Body` (base64).

use crate::serve::{Framing, Received};
use base64::Engine as _;
use serde_json::Value;
use std::time::Instant;

/// The header that marks a streamed response.
pub(crate) const RESPONSE_MODE: &str = "lambda-runtime-function-response-mode";
/// The content type of a response that starts with the HTTP prelude.
pub const HTTP_INTEGRATION_RESPONSE: &str = "application/vnd.awslambda.http-integration-response";
/// What ends the prelude.
const DELIMITER: [u8; 8] = [0; 8];
const ERROR_TYPE: &str = "lambda-runtime-function-error-type";
const ERROR_BODY: &str = "lambda-runtime-function-error-body";

/// A response the runtime streamed, as the caller of a Function URL gets it.
#[derive(Debug, Clone, PartialEq)]
pub struct Streamed {
    /// The status of the prelude (200 without one; 502 when the prelude is not valid JSON, as the
    /// front end answers a malformed response).
    pub status: u16,
    /// The prelude's headers, in its order, one entry per value (names as the runtime wrote them).
    /// Without a prelude: the `Content-Type` of the POST.
    pub headers: Vec<(String, String)>,
    /// The prelude's cookies (the caller gets each as a `Set-Cookie` header).
    pub cookies: Vec<String>,
    /// Every byte of the body after the prelude, as the caller gets it.
    pub body: Vec<u8>,
    /// The body as it came: one entry per chunk the runtime wrote (a large chunk may show as several).
    pub chunks: Vec<Vec<u8>>,
    /// The error the HTTP trailers reported, if any.
    pub trailer_error: Option<StreamError>,
    /// The headers of the runtime's `POST …/response` (names lower-cased): the protocol as it was spoken.
    pub request_headers: Vec<(String, String)>,
    /// When the caller had the status and headers: the prelude had arrived (else the first chunk).
    pub began_at: Instant,
}

/// A failure reported part-way through a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamError {
    /// `Lambda-Runtime-Function-Error-Type` (lambda_runtime writes `Runtime.StreamError`).
    pub error_type: String,
    /// `Lambda-Runtime-Function-Error-Body`, as sent (base64).
    pub body: String,
}

impl StreamError {
    /// The error body, base64-decoded (`None` when it is not base64 of UTF-8).
    pub fn message(&self) -> Option<String> {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(self.body.trim())
            .ok()?;
        String::from_utf8(bytes).ok()
    }
}

impl Streamed {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The first header of the runtime's `POST …/response` of that name (case-insensitive).
    pub fn request_header(&self, name: &str) -> Option<&str> {
        self.request_headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }

    /// The failure the runtime reported part-way, however it reported it: in the HTTP trailers, as the
    /// protocol says, or as lambda_runtime 1.x does, the same two `Name: value\r\n` lines written as a
    /// chunk of the body (which the caller then gets as body bytes: they are in [`body`](Self::body)).
    pub fn reported_error(&self) -> Option<StreamError> {
        self.trailer_error.clone().or_else(|| {
            let prefix = "Lambda-Runtime-Function-Error-Type:";
            // Found in the body, not by chunk: the connection may hand the lines over joined to the
            // bytes before them.
            let at = self
                .body
                .windows(prefix.len())
                .rposition(|window| window == prefix.as_bytes())?;
            let text = String::from_utf8_lossy(&self.body[at..]);
            let fields: Vec<(String, String)> = text
                .split("\r\n")
                .filter_map(|line| line.split_once(':'))
                .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_owned()))
                .collect();
            error_of(&fields)
        })
    }
}

/// Whether `request` is a streamed response.
pub(crate) fn is_streamed(request: &Received) -> bool {
    request
        .header(RESPONSE_MODE)
        .is_some_and(|mode| mode.eq_ignore_ascii_case("streaming"))
}

/// What the caller of a Function URL gets from a streamed `POST …/response`.
pub(crate) fn read(request: &Received, framing: &Framing) -> Streamed {
    let with_prelude = request
        .header("content-type")
        .is_some_and(|t| t.eq_ignore_ascii_case(HTTP_INTEGRATION_RESPONSE));
    let split = with_prelude
        .then(|| {
            request
                .body
                .windows(DELIMITER.len())
                .position(|window| window == DELIMITER)
        })
        .flatten();
    let (status, headers, cookies, offset) = match split {
        Some(end) => match serde_json::from_slice::<Value>(&request.body[..end]) {
            Ok(prelude) => {
                let (status, headers, cookies) = prelude_fields(&prelude);
                (status, headers, cookies, end + DELIMITER.len())
            }
            Err(_) => (502, Vec::new(), Vec::new(), request.body.len()),
        },
        None if with_prelude => (502, Vec::new(), Vec::new(), request.body.len()),
        None => {
            let content_type = request
                .header("content-type")
                .map(|t| ("content-type".to_owned(), t.to_owned()));
            (200, content_type.into_iter().collect(), Vec::new(), 0)
        }
    };
    let (chunks, began_at) = chunks_after(framing, offset);
    Streamed {
        status,
        headers,
        cookies,
        body: request.body.get(offset..).unwrap_or_default().to_vec(),
        chunks,
        trailer_error: error_of(&framing.trailers),
        request_headers: request.headers.clone(),
        began_at,
    }
}

/// Status, headers (one entry per value) and cookies of a prelude.
fn prelude_fields(prelude: &Value) -> (u16, Vec<(String, String)>, Vec<String>) {
    let status = prelude
        .get("statusCode")
        .and_then(Value::as_u64)
        .and_then(|s| u16::try_from(s).ok())
        .unwrap_or(200);
    let mut headers = Vec::new();
    if let Some(map) = prelude.get("headers").and_then(Value::as_object) {
        for (name, value) in map {
            match value {
                Value::String(one) => headers.push((name.clone(), one.clone())),
                Value::Array(many) => headers.extend(
                    many.iter()
                        .filter_map(Value::as_str)
                        .map(|one| (name.clone(), one.to_owned())),
                ),
                _ => {}
            }
        }
    }
    let cookies = prelude
        .get("cookies")
        .and_then(Value::as_array)
        .map(|all| all.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    (status, headers, cookies)
}

/// The data frames past the first `offset` bytes (the prelude), and when the first of them began.
fn chunks_after(framing: &Framing, offset: usize) -> (Vec<Vec<u8>>, Instant) {
    let mut skip = offset;
    let mut began_at = None;
    let mut chunks = Vec::new();
    for (at, frame) in &framing.frames {
        if skip >= frame.len() {
            skip -= frame.len();
            if skip == 0 {
                began_at.get_or_insert(*at);
            }
            continue;
        }
        began_at.get_or_insert(*at);
        chunks.push(frame[skip..].to_vec());
        skip = 0;
    }
    (chunks, began_at.unwrap_or_else(Instant::now))
}

/// The error two `Lambda-Runtime-Function-Error-*` fields (names lower-cased) report.
fn error_of(fields: &[(String, String)]) -> Option<StreamError> {
    let field = |name: &str| {
        fields
            .iter()
            .find(|(key, _)| key == name)
            .map(|(_, value)| value.clone())
    };
    Some(StreamError {
        error_type: field(ERROR_TYPE)?,
        body: field(ERROR_BODY).unwrap_or_default(),
    })
}
