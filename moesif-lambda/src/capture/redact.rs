//! Keeping secrets out of events. By default every place a credential sits is redacted (the value
//! replaced by `"[REDACTED]"`, the name kept), each category can be turned off, and users can add names:
//!
//! | category | where | default names |
//! | --- | --- | --- |
//! | headers | request and response headers (multi-value ones included); header maps inside JSON bodies | [`DEFAULT_REDACTED_HEADERS`] |
//! | query parameters | the query of `request.uri`; `rawQueryString` inside JSON bodies; form bodies | [`DEFAULT_REDACTED_QUERY_PARAMS`] |
//! | body fields | JSON request and response bodies, at any depth; form bodies | [`DEFAULT_REDACTED_BODY_FIELDS`] |
//! | cookies | `cookies` arrays (API Gateway v2, Function URLs) inside JSON bodies: `name=[REDACTED]` | all |
//!
//! Names are matched without regard to case. Helpers mask more inside a `mask_event_model` hook.

use super::headers::header;
use crate::model::EventModel;
use crate::options::Options;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
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

/// Query parameters redacted by default (see [`Options::redact_default_query_params`]).
pub const DEFAULT_REDACTED_QUERY_PARAMS: [&str; 15] = [
    "access_token",
    "id_token",
    "refresh_token",
    "token",
    "api_key",
    "apikey",
    "api-key",
    "x-api-key",
    "password",
    "secret",
    "client_secret",
    "signature",
    "x-amz-signature",
    "x-amz-credential",
    "x-amz-security-token",
];

/// JSON body fields redacted by default, at any depth (see [`Options::redact_default_body_fields`]).
pub const DEFAULT_REDACTED_BODY_FIELDS: [&str; 12] = [
    "password",
    "passwd",
    "secret",
    "client_secret",
    "token",
    "access_token",
    "refresh_token",
    "id_token",
    "api_key",
    "apikey",
    "private_key",
    "authorization",
];

/// At most this many headers are kept per request or response.
pub(crate) const MAX_HEADERS: usize = 100;
/// A header value longer than this is replaced by a marker with its size.
pub(crate) const MAX_HEADER_VALUE_BYTES: usize = 8 * 1024;

/// Names matched without regard to case: the lists of the categories that are on.
#[derive(Clone, Copy)]
struct Names<'a>([&'a [&'a str]; 3]);

impl Names<'_> {
    fn matches(&self, name: &str) -> bool {
        self.0
            .iter()
            .flat_map(|list| list.iter())
            .any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// The names in force for each category under `options`.
struct Rules<'a> {
    headers: Names<'a>,
    query: Names<'a>,
    /// Keys whose values are redacted inside JSON bodies: body fields and header names.
    fields: Names<'a>,
    /// Names redacted in form bodies: query parameters and body fields.
    form: Names<'a>,
    cookies: bool,
}

impl<'a> Rules<'a> {
    fn of(options: &'a Options) -> Self {
        let on = |enabled: bool, defaults: &'static [&'static str]| if enabled { defaults } else { &[] };
        let headers = on(options.redact_default_headers, &DEFAULT_REDACTED_HEADERS);
        let query = on(options.redact_default_query_params, &DEFAULT_REDACTED_QUERY_PARAMS);
        let fields = on(options.redact_default_body_fields, &DEFAULT_REDACTED_BODY_FIELDS);
        let extra = options.redact_names;
        Rules {
            headers: Names([headers, extra, &[]]),
            query: Names([query, extra, &[]]),
            fields: Names([fields, headers, extra]),
            form: Names([query, fields, extra]),
            cookies: options.redact_cookies,
        }
    }
}

/// Applies the options' redaction and the header caps to a captured event.
pub(crate) fn apply(event: &mut EventModel, options: &Options) {
    let rules = Rules::of(options);
    for headers in [&mut event.request.headers, &mut event.response.headers] {
        cap_headers(headers);
        redact_headers(headers, rules.headers);
    }
    if let Some(redacted) = redact_uri_query(&event.request.uri, rules.query) {
        event.request.uri = redacted;
    }
    let halves = [
        (
            &event.request.headers,
            event.request.transfer_encoding.as_deref(),
            &mut event.request.body,
        ),
        (
            &event.response.headers,
            event.response.transfer_encoding.as_deref(),
            &mut event.response.body,
        ),
    ];
    for (headers, encoding, body) in halves {
        let Some(body) = body else { continue };
        match encoding {
            Some("base64") => redact_form_body(headers, body, rules.form),
            _ => redact_json(body, &rules),
        }
    }
}

fn redact_headers(headers: &mut Value, names: Names<'_>) {
    let Some(map) = headers.as_object_mut() else { return };
    for (name, value) in map.iter_mut() {
        if names.matches(name) && !value.is_null() {
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

/// The URI with the values of credential query parameters redacted; `None` when nothing changes.
fn redact_uri_query(uri: &str, names: Names<'_>) -> Option<String> {
    let (base, query) = uri.split_once('?')?;
    let redacted = redact_query_string(query, names)?;
    Some(format!("{base}?{redacted}"))
}

/// `a=1&token=[REDACTED]`: pairs whose (decoded) name matches keep the name, lose the value; everything
/// else stays byte for byte. `None` when nothing matched.
fn redact_query_string(query: &str, names: Names<'_>) -> Option<String> {
    let mut changed = false;
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() && names.matches(&decode_query_name(name)) => {
                changed = true;
                format!("{name}={REDACTED}")
            }
            _ => pair.to_owned(),
        })
        .collect();
    changed.then(|| pairs.join("&"))
}

fn decode_query_name(name: &str) -> String {
    let spaced = name.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

/// Redacts credential fields, header maps, `cookies` arrays, query parameter maps, `rawQueryString`s
/// and nested `body` strings that hold JSON inside a JSON body: a handler that echoes its event carries
/// all of them.
fn redact_json(body: &mut Value, rules: &Rules<'_>) {
    // Each value with whether its keys are query parameter names (inside a `…queryStringParameters` map).
    let mut stack = vec![(body, false)];
    while let Some((value, in_query_map)) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    if rules.fields.matches(key) || (in_query_map && rules.query.matches(key)) {
                        if !child.is_null() {
                            *child = Value::String(REDACTED.to_owned());
                        }
                    } else if key.eq_ignore_ascii_case("cookies") && child.is_array() {
                        if rules.cookies {
                            redact_cookies(child);
                        }
                    } else if let Value::String(text) = child {
                        if let Some(redacted) = redact_json_string(key, text, rules) {
                            *text = redacted;
                        }
                    } else {
                        let query_map = key
                            .to_ascii_lowercase()
                            .replace('_', "")
                            .ends_with("querystringparameters");
                        stack.push((child, query_map));
                    }
                }
            }
            Value::Array(items) => stack.extend(items.iter_mut().map(|item| (item, in_query_map))),
            _ => {}
        }
    }
}

/// A string inside a JSON body that can hold credentials of its own: a raw query string, or a nested
/// `body` holding JSON (an echoed event's). The redacted text, when anything changed.
fn redact_json_string(key: &str, text: &str, rules: &Rules<'_>) -> Option<String> {
    if key.eq_ignore_ascii_case("rawQueryString") {
        return redact_query_string(text, rules.query);
    }
    let nested_json = key.eq_ignore_ascii_case("body") && text.trim_start().starts_with(['{', '[']);
    let mut nested: Value = serde_json::from_str(text).ok().filter(|_| nested_json)?;
    let before = nested.clone();
    redact_json(&mut nested, rules);
    (nested != before).then(|| nested.to_string())
}

/// `["sid=abc; Path=/", "x"]` becomes `["sid=[REDACTED]", "[REDACTED]"]`.
fn redact_cookies(cookies: &mut Value) {
    let Value::Array(items) = cookies else { return };
    for item in items {
        let name = item
            .as_str()
            .and_then(|cookie| cookie.split_once('='))
            .map(|(name, _)| name.trim().to_owned());
        *item = Value::String(match name {
            Some(name) => format!("{name}={REDACTED}"),
            None => REDACTED.to_owned(),
        });
    }
}

/// A base64 body whose content type is `application/x-www-form-urlencoded`: credential fields redacted.
fn redact_form_body(headers: &Value, body: &mut Value, names: Names<'_>) {
    let is_form = header(headers, "content-type").is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let Some(encoded) = body.as_str().filter(|_| is_form) else {
        return;
    };
    let Some(text) = STANDARD
        .decode(encoded)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
    else {
        return;
    };
    if let Some(redacted) = redact_query_string(&text, names) {
        *body = Value::String(STANDARD.encode(redacted));
    }
}

/// Redacts every field named (without regard to case) like one of `names`, at any depth, in the JSON
/// request and response bodies of `event`. Base64 bodies are left alone.
///
/// ```
/// use moesif_lambda::{redact, EventModel};
/// let mut event = EventModel::default();
/// event.request.body = Some(serde_json::json!({"user": {"Ssn": "078-05-1120", "name": "a"}}));
/// redact::fields(&mut event, &["ssn"]);
/// assert_eq!(event.request.body.unwrap()["user"]["Ssn"], "[REDACTED]");
/// ```
pub fn fields(event: &mut EventModel, names: &[&str]) {
    let rules = Rules {
        headers: Names([&[], &[], &[]]),
        query: Names([&[], &[], &[]]),
        fields: Names([names, &[], &[]]),
        form: Names([&[], &[], &[]]),
        cookies: false,
    };
    let bodies = [
        (event.request.transfer_encoding.as_deref(), &mut event.request.body),
        (event.response.transfer_encoding.as_deref(), &mut event.response.body),
    ];
    for (encoding, body) in bodies {
        if let (Some("json") | None, Some(body)) = (encoding, body) {
            redact_json(body, &rules);
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> EventModel {
        let mut event = EventModel::default();
        event.request.uri = "https://h/p?a=1&Access_Token=s1&X-Amz-Signature=s2&token=&flag".into();
        event.request.headers = json!({"Authorization": "Bearer x", "COOKIE": "a=1", "Host": "h", "X-Secret": "s"});
        event.response.headers = json!({"Set-Cookie": "b=2", "Content-Type": "application/json"});
        event.request.body = Some(json!({
            "password": "p", "nested": [{"Token": "t"}], "name": "n",
            "headers": {"x-api-key": "k"}, "cookies": ["sid=abc; Path=/", "bare"],
            "rawQueryString": "id_token=j&x=1",
            "multiValueQueryStringParameters": {"X-Amz-Signature": ["q"], "page": ["1"]},
            "body": "{\"client_secret\": \"cs\", \"n\": 1}"
        }));
        event.request.transfer_encoding = Some("json".into());
        event
    }

    #[test]
    fn defaults_redact_every_category_and_keep_names() {
        let mut event = event();
        apply(&mut event, &Options::new());
        assert_eq!(event.request.headers["Authorization"], REDACTED);
        assert_eq!(event.request.headers["COOKIE"], REDACTED);
        assert_eq!(event.request.headers["Host"], "h");
        assert_eq!(event.request.headers["X-Secret"], "s");
        assert_eq!(event.response.headers["Set-Cookie"], REDACTED);
        assert_eq!(
            event.request.uri,
            "https://h/p?a=1&Access_Token=[REDACTED]&X-Amz-Signature=[REDACTED]&token=&flag"
        );
        assert_eq!(
            event.request.body,
            Some(json!({
                "password": REDACTED, "nested": [{"Token": REDACTED}], "name": "n",
                "headers": {"x-api-key": REDACTED}, "cookies": ["sid=[REDACTED]", REDACTED],
                "rawQueryString": "id_token=[REDACTED]&x=1",
                "multiValueQueryStringParameters": {"X-Amz-Signature": REDACTED, "page": ["1"]},
                "body": "{\"client_secret\":\"[REDACTED]\",\"n\":1}"
            }))
        );
    }

    #[test]
    fn each_category_can_be_turned_off_and_names_added() {
        let mut event = event();
        let options = Options::new()
            .redact_default_headers(false)
            .redact_default_query_params(false)
            .redact_default_body_fields(false)
            .redact_cookies(false)
            .redact(&["x-secret", "name", "a"]);
        apply(&mut event, &options);
        assert_eq!(event.request.headers["Authorization"], "Bearer x");
        assert_eq!(event.request.headers["X-Secret"], REDACTED);
        assert_eq!(
            event.request.uri,
            "https://h/p?a=[REDACTED]&Access_Token=s1&X-Amz-Signature=s2&token=&flag"
        );
        let body = event.request.body.unwrap_or_default();
        assert_eq!((&body["password"], &body["name"]), (&json!("p"), &json!(REDACTED)));
        assert_eq!(body["headers"]["x-api-key"], "k");
        assert_eq!(body["cookies"], json!(["sid=abc; Path=/", "bare"]));
    }

    #[test]
    fn form_bodies_are_redacted_and_other_base64_left_alone() {
        let mut event = EventModel::default();
        event.request.headers = json!({"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"});
        event.request.body = Some(json!(STANDARD.encode("user=ada&password=hunter2&client_secret=cs")));
        event.request.transfer_encoding = Some("base64".into());
        event.response.body = Some(json!(STANDARD.encode("password=hunter2")));
        event.response.transfer_encoding = Some("base64".into());
        apply(&mut event, &Options::new());
        let decoded = |body: &Option<Value>| {
            let text = body.as_ref().and_then(Value::as_str).unwrap_or_default();
            String::from_utf8(STANDARD.decode(text).unwrap_or_default()).unwrap_or_default()
        };
        assert_eq!(
            decoded(&event.request.body),
            "user=ada&password=[REDACTED]&client_secret=[REDACTED]"
        );
        assert_eq!(
            decoded(&event.response.body),
            "password=hunter2",
            "not a form: untouched"
        );
    }

    #[test]
    fn encoded_query_names_are_matched() {
        let names = Names([&DEFAULT_REDACTED_QUERY_PARAMS, &[], &[]]);
        assert_eq!(
            redact_query_string("api%2Dkey=v&x=api_key", names).as_deref(),
            Some("api%2Dkey=[REDACTED]&x=api_key")
        );
        assert_eq!(redact_query_string("x=1", names), None);
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
