//! Headers as the Moesif event carries them: a JSON object of strings, whatever the event's shape
//! (`headers`, `multiValueHeaders`, an `http::HeaderMap`), looked up without regard to case.

use serde_json::{Map, Value};

/// The request headers: `headers` if it is a non-empty object, else `multiValueHeaders` with each
/// header's values joined by `", "`, else `{}` (the reference raised `KeyError` here).
pub(crate) fn request_headers(event: &Value) -> Value {
    let multi = event
        .get("multiValueHeaders")
        .and_then(Value::as_object)
        .filter(|m| !m.is_empty());
    // Typed events serialise an absent `headers` as `{}`: then the multi-value ones are the headers.
    let single = event
        .get("headers")
        .and_then(Value::as_object)
        .filter(|h| !h.is_empty() || multi.is_none());
    if let Some(headers) = single {
        if headers.values().all(Value::is_string) {
            return Value::Object(headers.clone());
        }
        return Value::Object(join_multi_values(headers));
    }
    match multi {
        Some(multi) => Value::Object(join_multi_values(multi)),
        None => Value::Object(Map::new()),
    }
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
        wrapper
            .get(key)?
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
        let event = json!({"multiValueHeaders": {"a": ["1", "2"], "host": ["h"]}});
        assert_eq!(request_headers(&event), json!({"a": "1, 2", "host": "h"}));
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
