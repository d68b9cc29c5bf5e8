//! Headers as the Moesif event carries them: a JSON object of strings, whatever the event's shape
//! (`headers`, `multiValueHeaders`, v2 `cookies`, an `http::HeaderMap`), looked up without regard to
//! case. Several values of one header are joined by `", "` (as Moesif's other SDKs send them), except
//! the request's cookies, joined by `"; "` into one `cookie` header as a browser (and lambda_http) does.

use super::shape::{field, EventShape};
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The request headers: `headers` if it is a non-empty object, else `multiValueHeaders` with each
/// header's values joined by `", "`, else `{}` (the reference raised `KeyError` here). `take`: moved out
/// of the event rather than copied, when the event is our own copy and nothing reads them there
/// afterwards.
pub(crate) fn request_headers(event: &mut Cow<'_, Value>, take: bool) -> Value {
    let take = take && matches!(event, Cow::Owned(_));
    let Some(object) = event.as_object() else {
        return Value::Object(Map::new());
    };
    let has_multi = field(object, "multiValueHeaders")
        .and_then(Value::as_object)
        .is_some_and(|m| !m.is_empty());
    // Typed events serialise an absent `headers` as `{}`: then the multi-value ones are the headers.
    let single = match object.get("headers") {
        Some(Value::Object(headers)) if !headers.is_empty() || !has_multi => Some(headers),
        _ => None,
    };
    if let Some(headers) = single {
        return match headers.values().all(Value::is_string) {
            true if take => event.to_mut().get_mut("headers").map(Value::take).unwrap_or_default(),
            true => Value::Object(headers.clone()),
            false => Value::Object(join_multi_values(headers)),
        };
    }
    match field(object, "multiValueHeaders").and_then(Value::as_object) {
        Some(multi) if has_multi => Value::Object(join_multi_values(multi)),
        _ => Value::Object(Map::new()),
    }
}

/// The request headers ([`request_headers`]) with a v2 / Function URL `cookies` array (API Gateway
/// moves the `Cookie` header there) logged as the `cookie` header, joined by `"; "`.
pub(crate) fn request_headers_with_cookies(event: &mut Cow<'_, Value>, shape: EventShape, take: bool) -> Value {
    let mut headers = request_headers(event, take);
    if matches!(shape, EventShape::ApiGatewayV2 | EventShape::FunctionUrl) {
        if let (Some(cookies), Some(map)) = (
            event.as_object().and_then(|e| joined_cookies(e, "; ")),
            headers.as_object_mut(),
        ) {
            if !map.keys().any(|name| name.eq_ignore_ascii_case("cookie")) {
                map.insert("cookie".to_owned(), Value::String(cookies));
            }
        }
    }
    headers
}

/// The headers the caller got from an answer object, as the front end of `shape` reads them: `headers`
/// (or, when absent, the reference's `content-type: application/json`), merged with `multiValueHeaders`
/// where the front end reads them (API Gateway REST and WebSocket merge both, the values of
/// `multiValueHeaders` winning; ALB reads them only with multi-value headers on, `alb_multi_value`), and
/// for HTTP API v2 and Function URLs the answer's `cookies` as `set-cookie` (which those read instead
/// of `multiValueHeaders`). The answer's `headers` are moved out of it.
pub(crate) fn answer_headers(answer: &mut Map<String, Value>, shape: EventShape, alb_multi_value: bool) -> Value {
    let mut headers = match answer.get_mut("headers") {
        Some(Value::Object(headers)) if headers.values().all(Value::is_string) => std::mem::take(headers),
        Some(Value::Object(headers)) => join_multi_values(headers),
        Some(Value::Null) | None => Map::from_iter([("content-type".to_owned(), Value::from("application/json"))]),
        // Not an object: logged as it is (the collector shows what the handler returned).
        Some(other) => return other.clone(),
    };
    let v2 = matches!(shape, EventShape::ApiGatewayV2 | EventShape::FunctionUrl);
    let reads_multi_value = match shape {
        EventShape::Alb => alb_multi_value,
        _ => !v2,
    };
    if let Some(Value::Object(multi)) = field(answer, "multiValueHeaders").filter(|_| reads_multi_value) {
        for (name, values) in join_multi_values(multi) {
            if values.as_str().is_some_and(|v| !v.is_empty()) {
                insert_replacing(&mut headers, name, values);
            }
        }
    }
    if let Some(cookies) = joined_cookies(answer, ", ").filter(|_| v2) {
        let joined = match headers.iter().find(|(name, _)| name.eq_ignore_ascii_case("set-cookie")) {
            Some((_, Value::String(existing))) => format!("{existing}, {cookies}"),
            _ => cookies,
        };
        insert_replacing(&mut headers, "set-cookie".to_owned(), Value::String(joined));
    }
    Value::Object(headers)
}

/// Inserts `name`, replacing a header of the same name in any case (keeping that one's spelling).
fn insert_replacing(headers: &mut Map<String, Value>, name: String, value: Value) {
    let existing = headers.keys().find(|key| key.eq_ignore_ascii_case(&name)).cloned();
    headers.insert(existing.unwrap_or(name), value);
}

/// The strings of a non-empty `cookies` array, joined by `separator`.
fn joined_cookies(wrapper: &Map<String, Value>, separator: &str) -> Option<String> {
    let cookies: Vec<&str> = field(wrapper, "cookies")?
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .collect();
    (!cookies.is_empty()).then(|| cookies.join(separator))
}

fn join_multi_values(headers: &Map<String, Value>) -> Map<String, Value> {
    headers
        .iter()
        .map(|(name, value)| {
            let joined = match value {
                Value::Array(values) => {
                    Value::String(values.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(", "))
                }
                other => other.clone(),
            };
            (name.clone(), joined)
        })
        .collect()
}

/// An `http::HeaderMap` as a JSON object of strings, repeated headers joined by `", "`.
pub(crate) fn header_map_json(headers: &ureq::http::HeaderMap) -> Value {
    let mut object = Map::new();
    for name in headers.keys() {
        let values: Vec<&str> = headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).collect();
        object.insert(name.as_str().to_owned(), Value::String(values.join(", ")));
    }
    Value::Object(object)
}

/// Looks a header up by name without regard to case; the value if it is a string.
pub(crate) fn header<'a>(headers: &'a Value, name: &str) -> Option<&'a str> {
    headers
        .as_object()?
        .iter()
        .find(|(key, _)| key.eq_ignore_ascii_case(name))
        .and_then(|(_, value)| value.as_str())
}

/// A header of an event or an answer as a whole value (case-insensitive name): its `multiValueHeaders`
/// values joined by `", "` when it has them (API Gateway keeps only the last of repeated headers in
/// `headers`), else its `headers` value (a list joined too).
pub(crate) fn wrapper_header(wrapper: &Value, name: &str) -> Option<String> {
    let find = |key: &str| {
        field(wrapper.as_object()?, key)?
            .as_object()?
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value)
    };
    let joined = |value: &Value| match value {
        Value::String(text) => Some(text.clone()),
        Value::Array(values) => {
            let texts: Vec<&str> = values.iter().filter_map(Value::as_str).collect();
            (!texts.is_empty()).then(|| texts.join(", "))
        }
        _ => None,
    };
    find("multiValueHeaders")
        .and_then(joined)
        .or_else(|| find("headers").and_then(joined))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn header_lookup_ignores_case() {
        let headers = json!({"X-Forwarded-Proto": "https", "n": 1});
        assert_eq!(header(&headers, "x-forwarded-proto"), Some("https"));
        assert_eq!(header(&headers, "N"), None);
        assert_eq!(header(&json!(null), "host"), None);
    }

    #[test]
    fn multi_value_headers_are_joined() {
        let mut event = Cow::Owned(json!({"multiValueHeaders": {"a": ["1", "2"], "host": ["h"]}}));
        assert_eq!(request_headers(&mut event, false), json!({"a": "1, 2", "host": "h"}));
        let both = json!({"headers": {"a": "2"}, "multiValueHeaders": {"a": ["1", "2"]}});
        let mut borrowed = Cow::Borrowed(&both);
        assert_eq!(request_headers(&mut borrowed, true), json!({"a": "2"}));
        assert_eq!(
            borrowed["headers"],
            json!({"a": "2"}),
            "a borrowed event is never changed"
        );
        let mut owned = Cow::Owned(both.clone());
        assert_eq!(request_headers(&mut owned, true), json!({"a": "2"}));
        assert_eq!(owned["headers"], Value::Null, "taken from our own copy");
    }

    #[test]
    fn v2_request_cookies_are_the_cookie_header() {
        let mut event = Cow::Owned(json!({"headers": {"host": "h"}, "cookies": ["a=1", "b=2"]}));
        let headers = request_headers_with_cookies(&mut event, EventShape::ApiGatewayV2, false);
        assert_eq!(headers, json!({"host": "h", "cookie": "a=1; b=2"}));
        let furl = request_headers_with_cookies(&mut event, EventShape::FunctionUrl, true);
        assert_eq!(furl["cookie"], "a=1; b=2");
        let mut kept = Cow::Owned(json!({"headers": {"Cookie": "c=3"}, "cookies": ["a=1"]}));
        assert_eq!(
            request_headers_with_cookies(&mut kept, EventShape::ApiGatewayV2, false),
            json!({"Cookie": "c=3"})
        );
        let mut empty = Cow::Owned(json!({"headers": {"host": "h"}, "cookies": []}));
        assert_eq!(
            request_headers_with_cookies(&mut empty, EventShape::ApiGatewayV2, false),
            json!({"host": "h"})
        );
    }

    #[test]
    fn answer_headers_follow_the_front_end() {
        let answer = json!({
            "headers": {"Location": "/next", "set-cookie": "s=0"},
            "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"], "X-Many": ["1", "2"]},
            "cookies": ["c=3", "d=4"]
        });
        let answer = answer.as_object().cloned().unwrap_or_default();
        let rest = json!({"Location": "/next", "set-cookie": "a=1, b=2", "X-Many": "1, 2"});
        assert_eq!(
            answer_headers(&mut answer.clone(), EventShape::ApiGatewayV1, false),
            rest
        );
        assert_eq!(answer_headers(&mut answer.clone(), EventShape::WebSocket, false), rest);
        assert_eq!(answer_headers(&mut answer.clone(), EventShape::Alb, true), rest);
        let single = json!({"Location": "/next", "set-cookie": "s=0"});
        assert_eq!(answer_headers(&mut answer.clone(), EventShape::Alb, false), single);
        let v2 = json!({"Location": "/next", "set-cookie": "s=0, c=3, d=4"});
        assert_eq!(answer_headers(&mut answer.clone(), EventShape::ApiGatewayV2, false), v2);
        assert_eq!(answer_headers(&mut answer.clone(), EventShape::FunctionUrl, false), v2);
    }

    #[test]
    fn answer_without_headers_gets_the_json_default() {
        let answer = json!({"statusCode": 200, "cookies": ["c=3"]});
        let answer = answer.as_object().cloned().unwrap_or_default();
        assert_eq!(
            answer_headers(&mut answer.clone(), EventShape::ApiGatewayV2, false),
            json!({"content-type": "application/json", "set-cookie": "c=3"})
        );
    }

    #[test]
    fn a_wrapper_header_prefers_all_its_values() {
        let both = json!({"headers": {"Content-Encoding": "gzip"},
                          "multiValueHeaders": {"content-encoding": ["deflate", "gzip"]}});
        assert_eq!(
            wrapper_header(&both, "content-encoding").as_deref(),
            Some("deflate, gzip")
        );
        let single = json!({"headers": {"Content-Encoding": "br"}, "multiValueHeaders": {}});
        assert_eq!(wrapper_header(&single, "content-encoding").as_deref(), Some("br"));
        assert_eq!(wrapper_header(&json!({"headers": null}), "content-encoding"), None);
        assert_eq!(wrapper_header(&json!("text"), "content-encoding"), None);
    }
}
