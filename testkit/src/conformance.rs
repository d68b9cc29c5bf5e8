//! The conformance cases (`tests/conformance/cases/<name>/`): real Lambda events, the handler's answer,
//! and the Moesif event a correct middleware sends; and the comparison their README defines.

use serde_json::Value;
use std::path::{Path, PathBuf};

/// One conformance case.
#[derive(Debug, Clone)]
pub struct Case {
    /// Folder name; the request id the context carries is `req-<name>`.
    pub name: String,
    /// The Lambda event.
    pub event: Value,
    /// What the handler answers.
    pub response: Value,
    /// The Moesif event a correct middleware sends (`Null`: none required).
    pub expected: Value,
}

/// The fields compared, as JSON pointers into the sent event.
const COMPARED: [&str; 17] = [
    "/request/uri",
    "/request/verb",
    "/request/headers",
    "/request/api_version",
    "/request/ip_address",
    "/request/body",
    "/request/transfer_encoding",
    "/response/status",
    "/response/headers",
    "/response/body",
    "/response/transfer_encoding",
    "/user_id",
    "/company_id",
    "/session_token",
    "/direction",
    "/weight",
    "/metadata",
];

/// The three cases the capture and governance benchmarks time (and `benches/reference_python.py` times
/// Moesif's Python middleware on): API Gateway REST v1 with Cognito and an API key, HTTP API v2 with
/// IAM, ALB.
pub const BENCHMARK_CASES: [&str; 3] = [
    "edge-v1-cognito-apikey--json",
    "rr-example-apigw-v2-request-iam--json",
    "pt-albEvent--json",
];

/// Loads every case under `dir` (sorted by name). Unreadable cases are an error, not a skip.
pub fn load_cases(dir: &Path) -> Result<Vec<Case>, String> {
    let mut names: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.is_dir())
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|path| {
            let read = |file: &str| -> Result<Value, String> {
                let text =
                    std::fs::read_to_string(path.join(file)).map_err(|e| format!("{}/{file}: {e}", path.display()))?;
                serde_json::from_str(&text).map_err(|e| format!("{}/{file}: {e}", path.display()))
            };
            Ok(Case {
                name: path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                event: read("event.json")?,
                response: read("response.json")?,
                expected: read("expected.json")?,
            })
        })
        .collect()
}

/// Headers this library logs beyond the contract, which predates them: an HTTP API v2 / Function URL
/// `cookies` array is what the client sent as `Cookie` (API Gateway moves the header there) and, in
/// the answer, what it got as `Set-Cookie`; they are logged as those headers. Where the case's v2 event
/// (or answer) has such an array and `expected.json` has no such header, the sent header must be
/// there and is left out of the comparison of the other headers.
const BEYOND_CONTRACT: [(&str, &str, &str); 2] = [
    ("/request/headers", "cookie", "event"),
    ("/response/headers", "set-cookie", "response"),
];

/// Compares a sent event with the expected one on the README's fields; the differences, one per line.
pub fn compare(case: &Case, sent: &Value) -> Vec<String> {
    let mut differences = Vec::new();
    let expected = &case.expected;
    for pointer in COMPARED {
        let want = normalise(pointer, expected.pointer(pointer));
        let mut got = normalise(pointer, sent.pointer(pointer));
        if let Some(missing) = beyond_contract(case, pointer, &want, &mut got) {
            differences.push(format!("{pointer}: no {missing} header for the cookies array"));
        }
        if want != got {
            differences.push(format!("{pointer}: expected {want}, sent {got}"));
        }
    }
    let has_epoch = case.event.pointer("/requestContext/requestTimeEpoch").is_some()
        || case.event.pointer("/requestContext/timeEpoch").is_some();
    if has_epoch {
        let want = millis_text(expected.pointer("/request/time"));
        let got = millis_text(sent.pointer("/request/time"));
        if want != got {
            differences.push(format!("/request/time: expected {want:?}, sent {got:?}"));
        }
    }
    let uuid_like = sent
        .pointer("/transaction_id")
        .and_then(Value::as_str)
        .is_some_and(|id| id.len() == 36 && id.chars().filter(|c| *c == '-').count() == 4);
    if !uuid_like {
        differences.push(format!(
            "/transaction_id: not a UUID: {:?}",
            sent.pointer("/transaction_id")
        ));
    }
    differences
}

/// Takes a [`BEYOND_CONTRACT`] header out of `got` where it applies; the header's name if it is missing.
fn beyond_contract(case: &Case, pointer: &str, want: &Value, got: &mut Value) -> Option<&'static str> {
    let (_, name, source) = BEYOND_CONTRACT.iter().find(|(at, _, _)| *at == pointer)?;
    let wrapper = if *source == "event" {
        &case.event
    } else {
        &case.response
    };
    // Only HTTP API v2 and Function URLs (payload version 2.0) have cookies arrays: ALB ignores one.
    let has_cookies = case.event.get("version").and_then(Value::as_str) == Some("2.0")
        && wrapper
            .get("cookies")
            .and_then(Value::as_array)
            .is_some_and(|cookies| !cookies.is_empty());
    let has = |headers: &Value| {
        headers
            .as_object()
            .is_some_and(|map| map.keys().any(|key| key.eq_ignore_ascii_case(name)))
    };
    if !has_cookies || has(want) {
        return None;
    }
    let map = got.as_object_mut()?;
    let key = map.keys().find(|key| key.eq_ignore_ascii_case(name)).cloned();
    match key {
        Some(key) => {
            map.remove(&key);
            None
        }
        None => Some(name),
    }
}

/// A missing field equals `null`; for headers, `null` equals `{}`.
fn normalise(pointer: &str, value: Option<&Value>) -> Value {
    match value {
        None | Some(Value::Null) if pointer.ends_with("/headers") => Value::Object(Default::default()),
        None => Value::Null,
        Some(value) => value.clone(),
    }
}

/// `2020-03-04T19:15:17.135Z` and `2020-03-04T19:15:17.135` are the same millisecond.
fn millis_text(value: Option<&Value>) -> Option<String> {
    let text = value?.as_str()?.trim_end_matches('Z');
    Some(text.chars().take(23).collect())
}
