//! The request half of a Moesif event, from the Lambda event of any HTTP shape: URI, verb, headers,
//! client IP, time and body. Pure: no I/O, no user hooks (those are in [`super::identity`]).

use super::body;
use super::client_ip::client_ip;
use super::headers::{header, request_headers_with_cookies, wrapper_header};
use super::shape::{at, str_at, EventShape};
use crate::model::EventRequest;
use crate::options::Options;
use crate::time::format_millis;
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;
use std::borrow::Cow;

/// What Python's `quote_plus` leaves alone: letters, digits and `_.-~` (space becomes `+`).
const QUERY_ENCODE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'_').remove(b'.').remove(b'-').remove(b'~');

/// Captures the request half of the event (all but `api_version`, which hooks decide). `take_headers`:
/// the headers are moved out of the event when it is our own copy (nothing reads them there
/// afterwards).
pub(crate) fn capture_request(
    event: &mut Cow<'_, Value>,
    shape: EventShape,
    options: &Options,
    received_millis: i64,
    take_headers: bool,
) -> EventRequest {
    let content_encoding = wrapper_header(event, "content-encoding");
    let headers = request_headers_with_cookies(event, shape, take_headers);
    let event: &Value = event;
    let parts = RequestParts::of(event, shape);
    let scheme = match shape {
        EventShape::WebSocket => "wss",
        _ => header(&headers, "x-forwarded-proto").unwrap_or("http"),
    };
    let host = header(&headers, "host")
        .or_else(|| str_at(event, &["requestContext", "domainName"]))
        .unwrap_or("localhost");
    let mut uri = String::with_capacity(scheme.len() + 3 + host.len() + parts.path.len() + 1 + parts.query.len());
    for piece in [scheme, "://", host, &parts.path] {
        uri.push_str(piece);
    }
    if !parts.query.is_empty() {
        uri.push('?');
        uri.push_str(&parts.query);
    }
    // A request without a `body` key (a GET through an HTTP API or a Function URL) has no body: the
    // reference logged the whole event here, credentials and all.
    let (body, transfer_encoding) = match at(event, &["body"]) {
        None => (None, body::JSON),
        Some(_) => body::capture_encoded(
            &lattice_flag(event, shape),
            options.log_body,
            options.max_body_bytes,
            content_encoding.as_deref(),
        ),
    };
    EventRequest {
        time: format_millis(parts.time_millis.unwrap_or(received_millis)),
        uri,
        verb: parts.verb,
        ip_address: client_ip(&headers, parts.source_ip, options.trusted_source_ip_only),
        headers,
        api_version: None,
        body,
        transfer_encoding: Some(transfer_encoding),
    }
}

/// The shape-specific fields of a request.
pub(super) struct RequestParts<'a> {
    pub(super) verb: String,
    pub(super) path: String,
    query: String,
    time_millis: Option<i64>,
    pub(super) source_ip: Option<&'a str>,
}

impl<'a> RequestParts<'a> {
    pub(super) fn of(event: &'a Value, shape: EventShape) -> Self {
        Self::read(event, shape, true)
    }

    /// The parts without the query (left empty), for what needs only the method, path and source IP.
    pub(super) fn head(event: &'a Value, shape: EventShape) -> Self {
        Self::read(event, shape, false)
    }

    fn read(event: &'a Value, shape: EventShape, with_query: bool) -> Self {
        let query = |read: &dyn Fn() -> String| if with_query { read() } else { String::new() };
        let text = |path: &[&str]| str_at(event, path).unwrap_or_default().to_owned();
        let path_or_root = |path: &[&str]| str_at(event, path).filter(|p| !p.is_empty()).unwrap_or("/").to_owned();
        match shape {
            EventShape::ApiGatewayV2 | EventShape::FunctionUrl => RequestParts {
                verb: text(&["requestContext", "http", "method"]),
                path: path_or_root(&["rawPath"]),
                query: query(&|| text(&["rawQueryString"])),
                time_millis: epoch_millis(at(event, &["requestContext", "timeEpoch"])),
                source_ip: str_at(event, &["requestContext", "http", "sourceIp"]),
            },
            EventShape::WebSocket => RequestParts {
                verb: if str_at(event, &["requestContext", "eventType"]) == Some("CONNECT") {
                    "GET"
                } else {
                    "POST"
                }
                .to_owned(),
                path: format!(
                    "/{}/{}",
                    text(&["requestContext", "stage"]),
                    text(&["requestContext", "routeKey"])
                ),
                query: query(&|| encoded_query(event, false)),
                time_millis: epoch_millis(at(event, &["requestContext", "requestTimeEpoch"])),
                source_ip: str_at(event, &["requestContext", "identity", "sourceIp"]),
            },
            EventShape::VpcLatticeV1 => {
                let raw = path_or_root(&["raw_path"]);
                let (path, query) = match raw.split_once('?') {
                    Some((path, query)) => (path.to_owned(), query.to_owned()),
                    None => (raw, query_string(at(event, &["query_string_parameters"]), true)),
                };
                RequestParts {
                    verb: text(&["method"]),
                    path,
                    query,
                    time_millis: None,
                    source_ip: None,
                }
            }
            EventShape::VpcLatticeV2 => RequestParts {
                verb: text(&["method"]),
                path: path_or_root(&["path"]),
                query: query(&|| query_string(at(event, &["queryStringParameters"]), true)),
                time_millis: epoch_millis(at(event, &["requestContext", "timeEpoch"])),
                source_ip: None,
            },
            EventShape::ApiGatewayV1 | EventShape::Alb | EventShape::Unknown => RequestParts {
                verb: text(&["httpMethod"]),
                path: path_or_root(&["path"]),
                // ALB hands over the query still URL-encoded: encoding it again would garble it.
                query: query(&|| encoded_query(event, shape != EventShape::Alb)),
                time_millis: epoch_millis(at(event, &["requestContext", "requestTimeEpoch"])),
                source_ip: str_at(event, &["requestContext", "identity", "sourceIp"]),
            },
        }
    }
}

/// The v1 query: multi-value parameters if any, else single-value ones.
fn encoded_query(event: &Value, encode: bool) -> String {
    let multi = at(event, &["multiValueQueryStringParameters"]);
    if multi.and_then(Value::as_object).is_some_and(|m| !m.is_empty()) {
        query_string(multi, encode)
    } else {
        query_string(at(event, &["queryStringParameters"]), encode)
    }
}

/// `k=v&k=v2` from a map whose values are strings or lists of strings (Python's `urlencode(doseq=True)`).
fn query_string(parameters: Option<&Value>, encode: bool) -> String {
    let Some(parameters) = parameters.and_then(Value::as_object) else {
        return String::new();
    };
    let mut query = String::new();
    let mut push = |key: &str, value: &Value| {
        let text = match value {
            Value::String(text) => Cow::Borrowed(text.as_str()),
            Value::Null => return,
            other => Cow::Owned(other.to_string()),
        };
        if !query.is_empty() {
            query.push('&');
        }
        push_escaped(&mut query, key, encode);
        query.push('=');
        push_escaped(&mut query, &text, encode);
    };
    for (key, value) in parameters {
        match value {
            Value::Array(items) => items.iter().for_each(|item| push(key, item)),
            single => push(key, single),
        }
    }
    query
}

/// Appends `text`, percent-encoded as `quote_plus` does when `encode` (a space becomes `+`).
fn push_escaped(query: &mut String, text: &str, encode: bool) {
    if !encode {
        query.push_str(text);
        return;
    }
    for piece in utf8_percent_encode(text, QUERY_ENCODE) {
        query.push_str(if piece == "%20" { "+" } else { piece });
    }
}

/// The event as the body rules read it: VPC Lattice v1 spells the base64 flag `is_base64_encoded`,
/// given the usual key here (a shallow copy, only for that shape).
fn lattice_flag(event: &Value, shape: EventShape) -> Cow<'_, Value> {
    let flag = at(event, &["is_base64_encoded"]).filter(|_| shape == EventShape::VpcLatticeV1);
    match (flag, event.as_object()) {
        (Some(flag), Some(object)) => {
            let mut copy = object.clone();
            copy.insert("isBase64Encoded".to_owned(), flag.clone());
            Cow::Owned(Value::Object(copy))
        }
        _ => Cow::Borrowed(event),
    }
}

/// Milliseconds since the epoch from a number or a numeric string in seconds (below 10^11: SAM local
/// and `cargo lambda watch`), milliseconds (API Gateway) or microseconds (from 10^14: VPC Lattice).
fn epoch_millis(value: Option<&Value>) -> Option<i64> {
    let raw: i64 = match value? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64))?,
        Value::String(s) => s.trim().parse().ok()?,
        _ => return None,
    };
    Some(match raw {
        ..100_000_000_000 => raw.saturating_mul(1000),
        100_000_000_000..100_000_000_000_000 => raw,
        _ => raw / 1000,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn capture(event: Value) -> EventRequest {
        let shape = EventShape::detect(&event);
        capture_request(&mut Cow::Owned(event), shape, &Options::new(), 0, true)
    }

    #[test]
    fn v1_uri_uses_host_proto_and_encoded_query() {
        let request = capture(json!({
            "httpMethod": "GET", "path": "/a b",
            "headers": {"Host": "h.example", "X-Forwarded-Proto": "https"},
            "multiValueQueryStringParameters": {"q": ["a b", "c&d"], "e": ["~x"]},
            "requestContext": {"requestTimeEpoch": 1583349317135_i64}
        }));
        assert_eq!(request.uri, "https://h.example/a b?q=a+b&q=c%26d&e=~x");
        assert_eq!(request.time, "2020-03-04T19:15:17.135");
        assert_eq!(request.verb, "GET");
    }

    #[test]
    fn alb_query_is_not_encoded_again() {
        let request = capture(json!({
            "httpMethod": "GET", "path": "/", "requestContext": {"elb": {}},
            "queryStringParameters": {"q": "a%20b"}, "headers": {"host": "alb"}
        }));
        assert_eq!(request.uri, "http://alb/?q=a%20b");
    }

    #[test]
    fn host_falls_back_to_domain_name_then_localhost() {
        let with_domain = capture(json!({"httpMethod": "GET", "path": "/p", "headers": null,
            "requestContext": {"domainName": "d.example"}}));
        assert_eq!(with_domain.uri, "http://d.example/p");
        let bare = capture(json!({"httpMethod": "POST", "path": "/trip", "requestContext": {}}));
        assert_eq!(bare.uri, "http://localhost/trip");
        assert_eq!(bare.headers, json!({}));
    }

    #[test]
    fn v2_uses_raw_path_and_query() {
        let request = capture(json!({"version": "2.0", "rawPath": "/x", "rawQueryString": "a=1&a=2",
            "headers": {"host": "api"}, "requestContext": {"http": {"method": "PUT", "sourceIp": "9.9.9.9"}, "timeEpoch": 0}}));
        assert_eq!(request.uri, "http://api/x?a=1&a=2");
        assert_eq!(request.verb, "PUT");
        assert_eq!(request.ip_address.as_deref(), Some("9.9.9.9"));
        assert_eq!(request.time, "1970-01-01T00:00:00.000");
    }

    #[test]
    fn websocket_message_is_logged() {
        let request = capture(json!({"requestContext": {"connectionId": "c1", "eventType": "MESSAGE",
            "routeKey": "$default", "stage": "prod", "domainName": "ws.example"}, "body": "{\"a\":1}"}));
        assert_eq!(request.uri, "wss://ws.example/prod/$default");
        assert_eq!(request.verb, "POST");
        assert_eq!(request.body, Some(json!({"a": 1})));
    }

    #[test]
    fn lattice_v2_time_is_microseconds() {
        let request = capture(json!({"version": "2.0", "method": "GET", "path": "/n",
            "headers": {"host": "svc"}, "queryStringParameters": {"order-id": "1"},
            "requestContext": {"timeEpoch": "1696331543569073"}}));
        assert_eq!(request.uri, "http://svc/n?order-id=1");
        assert_eq!(request.time, "2023-10-03T11:12:23.569");
    }

    #[test]
    fn request_without_body_key_has_no_body() {
        let request = capture(
            json!({"version": "2.0", "rawPath": "/", "headers": {"authorization": "Bearer s"},
            "cookies": ["sid=s"], "requestContext": {"http": {"method": "GET"}}}),
        );
        assert_eq!(
            (request.body, request.transfer_encoding),
            (None, Some(crate::model::TransferEncoding::Json))
        );
    }

    #[test]
    fn epoch_times_in_seconds_milliseconds_and_microseconds() {
        assert_eq!(epoch_millis(Some(&json!(1_706_443_748))), Some(1_706_443_748_000));
        assert_eq!(epoch_millis(Some(&json!("1583349317135"))), Some(1_583_349_317_135));
        assert_eq!(epoch_millis(Some(&json!("1696331543569073"))), Some(1_696_331_543_569));
        assert_eq!(epoch_millis(Some(&json!(1.7e9))), Some(1_700_000_000_000));
        assert_eq!(epoch_millis(Some(&json!(true))), None);
    }
}
