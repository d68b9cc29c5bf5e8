//! The response half of a Moesif event, from the handler's answer as JSON: status, headers and body.
//! Pure: no I/O, no user hooks.

use super::body::{self, CapturedBody};
use super::headers::{answer_headers, wrapper_header};
use super::shape::{at, field, EventShape};
use crate::model::EventResponse;
use crate::options::Options;
use crate::time::format_millis;
use serde_json::{json, Value};

/// How the front end before the function reads an answer: the event's shape, and for ALB whether the
/// target group has multi-value headers on (its events then carry `multiValueHeaders`).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrontEnd {
    pub shape: EventShape,
    pub alb_multi_value: bool,
}

impl FrontEnd {
    pub(crate) fn of(shape: EventShape, event: &Value) -> FrontEnd {
        let alb_multi_value = at(event, &["multiValueHeaders"])
            .and_then(Value::as_object)
            .is_some_and(|headers| !headers.is_empty());
        FrontEnd { shape, alb_multi_value }
    }
}

/// Captures the response half from the handler's answer as JSON (`None`: an answer we cannot see, logged
/// as a bare 200). The reference's rules: `statusCode` or 200; `headers` or a JSON content type, with
/// the headers the front end also reads (multi-value headers, v2 cookies: [`answer_headers`]). Also
/// returns the original `statusCode` when it was not a status the collector takes.
pub(crate) fn capture_response(
    answer: Option<Value>,
    front_end: FrontEnd,
    options: &Options,
    answered_millis: i64,
) -> (EventResponse, Option<Value>) {
    let answer_seen = answer.is_some();
    let mut answer = answer.unwrap_or(Value::Null);
    let status_field = answer.as_object().and_then(|o| field(o, "statusCode"));
    let status = match status_field {
        None => Status::Valid(200),
        Some(code) => status_code(code).map_or_else(|| Status::Invalid(code.clone()), Status::Valid),
    };
    // An answer with a `statusCode` and no `body` has no body; one without `statusCode` (the HTTP API
    // shorthand) is its own body.
    let (body, transfer_encoding): CapturedBody = match answer.as_object() {
        Some(o) if status_field.is_some() && field(o, "body").is_none() => (None, body::JSON),
        // Decoded first when the answer's headers say it is compressed (the logged headers stay as they are).
        _ => body::capture_encoded(
            &answer,
            options.log_body,
            options.max_body_bytes,
            wrapper_header(&answer, "content-encoding").as_deref(),
        ),
    };
    let headers = match (answer_seen, answer.as_object_mut()) {
        (_, Some(object)) => answer_headers(object, front_end.shape, front_end.alb_multi_value),
        // The reference's rule for a JSON answer without headers; an answer not seen gets none.
        (true, None) => json!({ "content-type": "application/json" }),
        (false, None) => json!({}),
    };
    let response = EventResponse {
        time: format_millis(answered_millis),
        status: match status {
            Status::Valid(code) => code,
            Status::Invalid(_) => INVALID_STATUS_LOGGED_AS,
        },
        headers,
        body,
        transfer_encoding: Some(transfer_encoding),
    };
    let invalid = match status {
        Status::Invalid(original) => Some(original),
        Status::Valid(_) => None,
    };
    (response, invalid)
}

/// What API Gateway answers when an integration's status code is malformed; a status the collector
/// would refuse (outside 100–599) is logged as this, the original under `metadata.original_status`.
pub(crate) const INVALID_STATUS_LOGGED_AS: u16 = 502;

enum Status {
    Valid(u16),
    Invalid(Value),
}

/// An HTTP status the collector takes (100–599), from a number or a numeric string.
fn status_code(code: &Value) -> Option<u16> {
    let code = match code {
        Value::Number(n) => n.as_u64().and_then(|n| u16::try_from(n).ok()),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }?;
    (100..=599).contains(&code).then_some(code)
}

#[cfg(test)]
mod tests {
    use super::*;

    const REST: FrontEnd = FrontEnd {
        shape: EventShape::ApiGatewayV1,
        alb_multi_value: false,
    };

    #[test]
    fn response_defaults_follow_the_reference() {
        let (response, invalid) = capture_response(
            Some(json!({"statusCode": 201, "body": "{\"id\": 7}"})),
            REST,
            &Options::new(),
            0,
        );
        assert_eq!((response.status, invalid), (201, None));
        assert_eq!(response.headers, json!({"content-type": "application/json"}));
        assert_eq!(response.body, Some(json!({"id": 7})));
        let (unseen, _) = capture_response(None, REST, &Options::new(), 0);
        assert_eq!((unseen.status, unseen.body, unseen.headers), (200, None, json!({})));
    }

    #[test]
    fn answer_with_status_and_no_body_has_no_body_but_shorthand_is_its_own_body() {
        let (redirect, _) = capture_response(
            Some(json!({"statusCode": 302, "headers": {"Location": "/next"}, "cookies": ["c=3"]})),
            REST,
            &Options::new(),
            0,
        );
        assert_eq!((redirect.status, redirect.body), (302, None));
        assert_eq!(redirect.transfer_encoding, Some(crate::model::TransferEncoding::Json));
        let (shorthand, _) = capture_response(Some(json!({"ok": true})), REST, &Options::new(), 0);
        assert_eq!((shorthand.status, shorthand.body), (200, Some(json!({"ok": true}))));
    }

    #[test]
    fn status_outside_100_to_599_is_logged_as_502_with_the_original() {
        for original in [json!(1000), json!(42), json!("abc"), json!(-1), json!(null)] {
            let (response, invalid) =
                capture_response(Some(json!({"statusCode": original.clone()})), REST, &Options::new(), 0);
            assert_eq!((response.status, invalid), (502, Some(original)));
        }
        let (text, invalid) = capture_response(Some(json!({"statusCode": " 404 "})), REST, &Options::new(), 0);
        assert_eq!((text.status, invalid), (404, None));
    }

    #[test]
    fn a_compressed_answer_is_logged_decoded_with_its_headers_as_they_were() {
        use base64::Engine as _;
        use std::io::Write as _;
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        let _ = encoder.write_all(br#"{"id":7}"#);
        let body = base64::engine::general_purpose::STANDARD.encode(encoder.finish().unwrap_or_default());
        let cases = [
            (
                json!({"statusCode": 200, "headers": {"Content-Encoding": "gzip"}, "isBase64Encoded": true, "body": body}),
                json!({"Content-Encoding": "gzip"}),
            ),
            (
                json!({"statusCode": 200, "multiValueHeaders": {"content-encoding": ["gzip"]}, "isBase64Encoded": true,
                       "body": body}),
                // REST merges multi-value headers into the JSON default of an answer without `headers`.
                json!({"content-type": "application/json", "content-encoding": "gzip"}),
            ),
        ];
        for (answer, headers) in cases {
            let (response, _) = capture_response(Some(answer.clone()), REST, &Options::new(), 0);
            assert_eq!(response.body, Some(json!({"id": 7})), "{answer}");
            assert_eq!(response.transfer_encoding, Some(crate::model::TransferEncoding::Json));
            assert_eq!(response.headers, headers);
        }
    }
}
