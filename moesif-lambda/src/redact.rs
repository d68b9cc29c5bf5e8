//! Keeping secrets out of events: credential headers are redacted by default (values replaced, names
//! kept); more header names and JSON body field names can be added; helpers mask body fields by name or
//! JSON pointer inside a `mask_event_model` hook.

use crate::model::EventModel;
use crate::options::Options;
use serde_json::Value;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Headers redacted by default (see [`Options::redact_default_headers`]).
pub const DEFAULT_REDACTED_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// At most this many headers are kept per request or response.
pub(crate) const MAX_HEADERS: usize = 100;
/// A header value longer than this is replaced by a marker with its size.
pub(crate) const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;

/// Applies the options' redaction and the header caps to a captured event.
pub(crate) fn apply(event: &mut EventModel, options: &Options) {
    let defaults: &[&str] = if options.redact_default_headers {
        &DEFAULT_REDACTED_HEADERS
    } else {
        &[]
    };
    for headers in [&mut event.request.headers, &mut event.response.headers] {
        cap_headers(headers);
        redact_headers(headers, defaults);
        redact_headers(headers, options.redact_headers);
    }
    if !options.redact_headers.is_empty() {
        fields(event, options.redact_headers);
    }
}

fn redact_headers(headers: &mut Value, names: &[&str]) {
    let Some(map) = headers.as_object_mut() else { return };
    for (name, value) in map.iter_mut() {
        if names.iter().any(|redacted| redacted.eq_ignore_ascii_case(name)) && !value.is_null() {
            *value = Value::String(REDACTED.to_owned());
        }
    }
}

fn cap_headers(headers: &mut Value) {
    let Some(map) = headers.as_object_mut() else { return };
    if map.len() > MAX_HEADERS {
        let extra: Vec<String> = map.keys().skip(MAX_HEADERS).cloned().collect();
        for key in &extra {
            map.remove(key);
        }
        map.insert("x-moesif-headers-omitted".to_owned(), Value::from(extra.len()));
    }
    for value in map.values_mut() {
        if let Value::String(text) = value {
            if text.len() > MAX_HEADER_VALUE_BYTES {
                *value = Value::String(format!("[omitted: {} bytes]", text.len()));
            }
        }
    }
}

/// Redacts every field named (without regard to case) like one of `names`, at any depth, in the JSON
/// request and response bodies of `event`. Base64 bodies are left alone.
///
/// ```
/// use moesif_lambda::{redact, EventModel};
/// let mut event = EventModel::default();
/// event.request.body = Some(serde_json::json!({"user": {"Password": "hunter2", "name": "a"}}));
/// redact::fields(&mut event, &["password"]);
/// assert_eq!(event.request.body.unwrap()["user"]["Password"], "[REDACTED]");
/// ```
pub fn fields(event: &mut EventModel, names: &[&str]) {
    let bodies = [
        (event.request.transfer_encoding.as_deref(), &mut event.request.body),
        (event.response.transfer_encoding.as_deref(), &mut event.response.body),
    ];
    for (encoding, body) in bodies {
        if let (Some("json") | None, Some(body)) = (encoding, body) {
            redact_named(body, names);
        }
    }
}

/// Redacts the value at a JSON pointer (RFC 6901, e.g. `/card/number`), if there is one.
///
/// ```
/// let mut body = serde_json::json!({"card": {"number": "4111", "brand": "visa"}});
/// moesif_lambda::redact::pointer(&mut body, "/card/number");
/// assert_eq!(body["card"]["number"], "[REDACTED]");
/// assert_eq!(body["card"]["brand"], "visa");
/// ```
pub fn pointer(value: &mut Value, pointer: &str) {
    if let Some(target) = value.pointer_mut(pointer) {
        *target = Value::String(REDACTED.to_owned());
    }
}

fn redact_named(value: &mut Value, names: &[&str]) {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if names.iter().any(|name| name.eq_ignore_ascii_case(key)) {
                        *child = Value::String(REDACTED.to_owned());
                    } else {
                        stack.push(child);
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut()),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> EventModel {
        let mut event = EventModel::default();
        event.request.headers = json!({"Authorization": "Bearer x", "COOKIE": "a=1", "Host": "h", "X-Secret": "s"});
        event.response.headers = json!({"Set-Cookie": "b=2", "Content-Type": "application/json"});
        event.request.body = Some(json!({"password": "p", "nested": [{"Token": "t"}]}));
        event.request.transfer_encoding = Some("json".into());
        event
    }

    #[test]
    fn defaults_redact_credentials_and_keep_names() {
        let mut event = event();
        apply(&mut event, &Options::new());
        assert_eq!(event.request.headers["Authorization"], REDACTED);
        assert_eq!(event.request.headers["COOKIE"], REDACTED);
        assert_eq!(event.request.headers["Host"], "h");
        assert_eq!(event.response.headers["Set-Cookie"], REDACTED);
        assert_eq!(
            event.request.body,
            Some(json!({"password": "p", "nested": [{"Token": "t"}]}))
        );
    }

    #[test]
    fn defaults_can_be_turned_off_and_list_extended() {
        let mut event = event();
        let options = Options::new()
            .redact_default_headers(false)
            .redact(&["x-secret", "token", "password"]);
        apply(&mut event, &options);
        assert_eq!(event.request.headers["Authorization"], "Bearer x");
        assert_eq!(event.request.headers["X-Secret"], REDACTED);
        assert_eq!(
            event.request.body,
            Some(json!({"password": REDACTED, "nested": [{"Token": REDACTED}]}))
        );
    }

    #[test]
    fn headers_are_capped() {
        let mut headers = Value::Object((0..150).map(|i| (format!("h{i:03}"), json!("v"))).collect());
        headers["h000"] = json!("x".repeat(MAX_HEADER_VALUE_BYTES + 1));
        cap_headers(&mut headers);
        let map = headers.as_object().map(|m| m.len());
        assert_eq!(map, Some(MAX_HEADERS + 1));
        assert_eq!(headers["x-moesif-headers-omitted"], 50);
        assert!(headers["h000"].as_str().is_some_and(|v| v.starts_with("[omitted")));
    }
}
