//! Keeping secrets out of events. By default every place a credential sits is redacted (the value
//! replaced by `"[REDACTED]"`, the name kept), each category can be turned off, and users can add names
//! ([`Options::redact`]) or keep some ([`Options::keep`]):
//!
//! | category | where | names redacted |
//! | --- | --- | --- |
//! | headers | request and response headers (multi-value ones included); header maps inside JSON bodies | credential names by pattern (see [`is_credential_name`]) and [`DEFAULT_REDACTED_HEADERS`] |
//! | query parameters | the query of `request.uri`; `rawQueryString` and `…QueryStringParameters` maps inside JSON bodies; form bodies | by pattern and [`DEFAULT_REDACTED_QUERY_PARAMS`] |
//! | body fields | JSON request and response bodies, at any depth; form bodies | by pattern and [`DEFAULT_REDACTED_BODY_FIELDS`] |
//! | cookies | `Cookie` and `Set-Cookie` headers, `cookies` arrays inside JSON bodies: `name=[REDACTED]`, `Set-Cookie` attributes kept | all |
//! | values ([`Options::redact_by_value`]) | every other string of the request and response (headers, URI, bodies at any depth, text and form bodies) | secrets by their shape: JWTs, `Bearer`/`Basic` credentials, AWS access key ids, private key blocks, GitHub/Stripe/Slack tokens, credential-named pairs of query or JSON text inside a value |
//!
//! Names are matched without regard to case. Helpers mask more inside a `mask_event_model` hook.
//! The fields hooks return (`user_id`, `company_id`, `session_token`, `metadata`, the default
//! `metadata.request_context` included) are sent as they are.

mod cookies;
mod names;
mod values;

use super::headers::header;
use crate::model::EventModel;
use crate::model::TransferEncoding;
use crate::options::Options;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cookies::Style;
use names::PatternMatch;
use serde_json::Value;

/// What replaces a redacted value.
pub const REDACTED: &str = "[REDACTED]";

/// Headers redacted by default (see [`Options::redact_default_headers`]), on top of the pattern.
pub const DEFAULT_REDACTED_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "x-amz-security-token",
];

/// Query parameters redacted by default (see [`Options::redact_default_query_params`]), on top of the
/// pattern.
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

/// JSON body fields redacted by default, at any depth (see [`Options::redact_default_body_fields`]), on
/// top of the pattern.
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

/// Whether `name` (a header, query parameter, cookie or body field name) is a credential name by the
/// pattern the default redaction uses. The name is split into words (on `-`, `_`, `.`, spaces and case
/// changes: `XCSRFToken` is X CSRF Token) and is a credential name when a word is one of
/// `authorization`, `auth`, `token(s)`, `secret`, `password`, `passwd`, `pwd`, `cookie`, `session`,
/// `sessionid`, `credential(s)`, `signature`, `csrf`, `xsrf`, `jwt`, `bearer`, `apikey`, or two words are
/// `api key`, `access key`, `private key`, `client secret`; except pagination and usage counters:
/// `token(s)` with `next`, `page`, `continuation`, `pagination`, `type`, `count`, `max`, `input`,
/// `output`, `total` or `usage`. (Under a name that matches by `token(s)` alone, a value without text,
/// such as a number, is kept: `prompt_tokens: 12` is a count.)
///
/// ```
/// use moesif_lambda::redact::is_credential_name;
/// assert!(is_credential_name("X-Auth-Token") && is_credential_name("accessToken") && is_credential_name("x-session-id"));
/// assert!(!is_credential_name("author") && !is_credential_name("tokenizer") && !is_credential_name("NextToken"));
/// assert!(!is_credential_name("max_tokens") && !is_credential_name("X-Request-Id"));
/// ```
pub fn is_credential_name(name: &str) -> bool {
    names::pattern_match(name) != PatternMatch::None
}

/// Names matched without regard to case: the lists of the categories that are on.
#[derive(Clone, Copy)]
struct Names<'a>([&'a [&'a str]; 3]);

impl Names<'_> {
    fn matches(&self, name: &str) -> bool {
        self.0.iter().any(|list| listed(list, name))
    }
}

fn listed(list: &[&str], name: &str) -> bool {
    list.iter().any(|n| n.eq_ignore_ascii_case(name))
}

/// The names of one category: its exact lists, and whether the pattern applies.
#[derive(Clone, Copy)]
struct NameRule<'a> {
    names: Names<'a>,
    pattern: bool,
}

/// What is done with the value under a name.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Verdict {
    /// A kept name ([`Options::keep`]): its value is sent as it is.
    Keep,
    /// Not a credential name: its value is scanned for secrets by shape.
    Plain,
    /// An exact name (a default list, [`Options::redact`]): every value but `null` is redacted.
    Listed,
    /// A credential name by the pattern: every value but `null` and booleans.
    Pattern,
    /// A name that matches by `token(s)` only: values that hold text (a count is not a token).
    Token,
}

impl Verdict {
    fn redacts(self, value: &Value) -> bool {
        match self {
            Verdict::Listed => !value.is_null(),
            Verdict::Pattern => !matches!(value, Value::Null | Value::Bool(_)),
            Verdict::Token => has_text(value),
            Verdict::Keep | Verdict::Plain => false,
        }
    }

    /// Whether a text value (a header, a query or form value) is redacted.
    fn redacts_text(self) -> bool {
        matches!(self, Verdict::Listed | Verdict::Pattern | Verdict::Token)
    }
}

/// Whether a JSON value holds a string anywhere.
fn has_text(value: &Value) -> bool {
    let mut stack = vec![value];
    while let Some(value) = stack.pop() {
        match value {
            Value::String(_) => return true,
            Value::Array(items) => stack.extend(items),
            Value::Object(map) => stack.extend(map.values()),
            _ => {}
        }
    }
    false
}

/// Where a JSON key sits: which names apply to it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Body,
    /// Inside a header map (`headers`, `multiValueHeaders`).
    Headers,
    /// Inside a query parameter map (`…queryStringParameters`).
    Query,
}

impl Place {
    /// The place of the members of an object found under `key`.
    fn under(key: &str) -> Place {
        if ends_with_ignoring(key, "headers", false) {
            Place::Headers
        } else if ends_with_ignoring(key, "querystringparameters", true) {
            Place::Query
        } else {
            Place::Body
        }
    }
}

/// Whether `text` ends with `suffix` (lowercase ASCII) without regard to case, `_`s skipped if
/// `skip_underscores`.
fn ends_with_ignoring(text: &str, suffix: &str, skip_underscores: bool) -> bool {
    let mut text = text.bytes().rev().filter(|&b| !(skip_underscores && b == b'_'));
    suffix
        .bytes()
        .rev()
        .all(|expected| text.next().is_some_and(|b| b.to_ascii_lowercase() == expected))
}

/// The names in force for each category under `options`.
struct Rules<'a> {
    headers: NameRule<'a>,
    query: NameRule<'a>,
    /// Keys of JSON bodies outside header and query maps.
    fields: NameRule<'a>,
    /// Keys of header maps inside JSON bodies.
    field_headers: NameRule<'a>,
    /// Keys of query parameter maps inside JSON bodies.
    field_query: NameRule<'a>,
    /// Form bodies, and query or JSON text embedded in values.
    form: NameRule<'a>,
    /// [`Options::redact`]: always redacted, even when kept.
    extra: &'a [&'a str],
    /// [`Options::keep`].
    keep: &'a [&'a str],
    cookies: bool,
    by_value: bool,
}

impl<'a> Rules<'a> {
    fn of(options: &'a Options) -> Self {
        let on = |enabled: bool, defaults: &'static [&'static str]| if enabled { defaults } else { &[] };
        let (headers_on, query_on, fields_on) = (
            options.redact_default_headers,
            options.redact_default_query_params,
            options.redact_default_body_fields,
        );
        let headers = on(headers_on, &DEFAULT_REDACTED_HEADERS);
        let query = on(query_on, &DEFAULT_REDACTED_QUERY_PARAMS);
        let fields = on(fields_on, &DEFAULT_REDACTED_BODY_FIELDS);
        let rule = |names: [&'a [&'a str]; 3], pattern: bool| NameRule {
            names: Names(names),
            pattern,
        };
        Rules {
            headers: rule([headers, &[], &[]], headers_on),
            query: rule([query, &[], &[]], query_on),
            fields: rule([fields, headers, &[]], fields_on),
            field_headers: rule([fields, headers, &[]], fields_on || headers_on),
            field_query: rule([fields, headers, query], fields_on || query_on),
            form: rule([query, fields, &[]], fields_on || query_on),
            extra: options.redact_names,
            keep: options.keep_names,
            cookies: options.redact_cookies,
            by_value: options.redact_by_value,
        }
    }

    fn judge(&self, name: &str, rule: NameRule<'_>) -> Verdict {
        if listed(self.extra, name) {
            Verdict::Listed
        } else if listed(self.keep, name) {
            Verdict::Keep
        } else if rule.names.matches(name) {
            Verdict::Listed
        } else if !rule.pattern {
            Verdict::Plain
        } else {
            match names::pattern_match(name) {
                PatternMatch::Credential => Verdict::Pattern,
                PatternMatch::Token => Verdict::Token,
                PatternMatch::None => Verdict::Plain,
            }
        }
    }

    fn json_rule(&self, place: Place) -> NameRule<'a> {
        match place {
            Place::Body => self.fields,
            Place::Headers => self.field_headers,
            Place::Query => self.field_query,
        }
    }

    /// `text` with the secrets found by their shape redacted (if values are scanned); `None` when
    /// nothing changed.
    fn scan(&self, text: &str) -> Option<String> {
        if !self.by_value {
            return None;
        }
        values::scan(text, &|name| self.judge(name, self.form).redacts_text())
    }

    /// `text`, a cookie header value or item, with every value redacted but kept cookies'.
    fn redact_cookies(&self, text: &str, style: Style) -> String {
        cookies::redact(text, style, &|name| {
            listed(self.keep, name) && !listed(self.extra, name)
        })
    }
}

/// Applies the options' redaction and the header caps to a captured event.
pub(crate) fn apply(event: &mut EventModel, options: &Options) {
    let rules = Rules::of(options);
    for headers in [&mut event.request.headers, &mut event.response.headers] {
        cap_headers(headers);
        redact_headers(headers, &rules);
    }
    if let Some(redacted) = redact_uri(&event.request.uri, &rules) {
        event.request.uri = redacted;
    }
    let halves = [
        (
            &event.request.headers,
            event.request.transfer_encoding,
            &mut event.request.body,
        ),
        (
            &event.response.headers,
            event.response.transfer_encoding,
            &mut event.response.body,
        ),
    ];
    for (headers, encoding, body) in halves {
        let Some(body) = body else { continue };
        match encoding {
            Some(TransferEncoding::Base64) => redact_base64_body(headers, body, &rules),
            _ => {
                redact_json(body, &rules);
            }
        }
    }
}

/// Applies the options' redaction to the parts of an action (the `actions` module) that may carry a
/// credential: its URI, its headers (capped as an event's) and its metadata (as a JSON body).
pub(crate) fn apply_to_action(
    uri: &mut String,
    headers: Option<&mut Value>,
    metadata: Option<&mut Value>,
    options: &Options,
) {
    let rules = Rules::of(options);
    if let Some(redacted) = redact_uri(uri, &rules) {
        *uri = redacted;
    }
    if let Some(headers) = headers {
        cap_headers(headers);
        redact_headers(headers, &rules);
    }
    if let Some(metadata) = metadata {
        redact_json(metadata, &rules);
    }
}

/// The cookie layout of a header (or JSON key) of that name, if it holds cookies.
fn cookie_style(name: &str) -> Option<Style> {
    if name.eq_ignore_ascii_case("cookie") {
        Some(Style::Cookie)
    } else if name.eq_ignore_ascii_case("set-cookie") || name.eq_ignore_ascii_case("cookies") {
        Some(Style::SetCookie)
    } else {
        None
    }
}

fn redact_headers(headers: &mut Value, rules: &Rules<'_>) {
    let Some(map) = headers.as_object_mut() else { return };
    for (name, value) in map.iter_mut() {
        let verdict = rules.judge(name, rules.headers);
        if verdict == Verdict::Keep {
            continue;
        }
        // A cookie header keeps its cookies' names, unless `redact` names it (then it goes whole).
        let style = cookie_style(name)
            .filter(|_| rules.cookies && !name.eq_ignore_ascii_case("cookies") && !listed(rules.extra, name));
        if let (Some(style), Value::String(text)) = (style, &mut *value) {
            *text = rules.redact_cookies(text, style);
        } else if verdict.redacts(value) {
            *value = Value::String(REDACTED.to_owned());
        } else if let Value::String(text) = value {
            if let Some(redacted) = rules.scan(text) {
                *text = redacted;
            }
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

/// The URI with the values of credential query parameters and the secrets found by shape redacted;
/// `None` when nothing changes.
fn redact_uri(uri: &str, rules: &Rules<'_>) -> Option<String> {
    let Some((base, query)) = uri.split_once('?') else {
        return rules.scan(uri);
    };
    let redacted_base = rules.scan(base);
    let redacted_query = redact_query_string(query, rules.query, rules);
    if redacted_base.is_none() && redacted_query.is_none() {
        return None;
    }
    let base = redacted_base.as_deref().unwrap_or(base);
    let query = redacted_query.as_deref().unwrap_or(query);
    Some(format!("{base}?{query}"))
}

/// `a=1&token=[REDACTED]`: pairs whose (decoded) name is a credential name under `rule` keep the name,
/// lose the value; the values of the others are scanned for secrets; everything else stays byte for
/// byte. `None` when nothing changed.
fn redact_query_string(query: &str, rule: NameRule<'_>, rules: &Rules<'_>) -> Option<String> {
    // Nothing is allocated until a pair changes; then the pairs before it are copied as they are.
    let mut redacted_query: Option<String> = None;
    let mut offset = 0;
    for pair in query.split('&') {
        let redacted = match pair.split_once('=') {
            Some((name, value)) if !value.is_empty() => match rules.judge(&values::decode_name(name), rule) {
                Verdict::Keep => None,
                verdict if verdict.redacts_text() => Some(format!("{name}={REDACTED}")),
                _ => rules.scan(value).map(|value| format!("{name}={value}")),
            },
            _ => rules.scan(pair),
        };
        match (&mut redacted_query, redacted) {
            (Some(out), redacted) => {
                out.push('&');
                out.push_str(redacted.as_deref().unwrap_or(pair));
            }
            (None, Some(redacted)) => {
                let mut out = String::with_capacity(query.len() + REDACTED.len());
                out.push_str(&query[..offset]);
                out.push_str(&redacted);
                redacted_query = Some(out);
            }
            (None, None) => {}
        }
        offset += pair.len() + 1;
    }
    redacted_query
}

/// Redacts, inside a JSON body: credential fields, header maps, cookies, query parameter maps,
/// `rawQueryString`s, nested `body` strings that hold JSON (a handler that echoes its event carries all
/// of them), and secrets by shape in every other string. Whether anything changed.
fn redact_json(body: &mut Value, rules: &Rules<'_>) -> bool {
    let mut changed = false;
    // Each value with its place, and whether it sits under a kept name (its strings are not scanned).
    let mut stack = vec![(body, Place::Body, false)];
    while let Some((value, place, kept)) = stack.pop() {
        match value {
            Value::Object(map) => {
                for (key, child) in map.iter_mut() {
                    let verdict = rules.judge(key, rules.json_rule(place));
                    let cookies = rules.cookies && verdict != Verdict::Keep && !listed(rules.extra, key);
                    if cookies && redact_json_cookies(key, child, rules) {
                        changed = true;
                    } else if verdict.redacts(child) {
                        *child = Value::String(REDACTED.to_owned());
                        changed = true;
                    } else if let Value::String(text) = child {
                        if verdict == Verdict::Keep {
                            continue;
                        }
                        if let Some(redacted) = redact_json_string(key, text, rules) {
                            *text = redacted;
                            changed = true;
                        }
                    } else if child.is_object() || child.is_array() {
                        stack.push((child, Place::under(key), verdict == Verdict::Keep));
                    }
                }
            }
            Value::Array(items) => {
                for item in items {
                    if let Value::String(text) = item {
                        if let Some(redacted) = rules.scan(text).filter(|_| !kept) {
                            *text = redacted;
                            changed = true;
                        }
                    } else if item.is_object() || item.is_array() {
                        let kept = kept && item.is_array();
                        stack.push((item, place, kept));
                    }
                }
            }
            Value::String(text) if !kept => {
                if let Some(redacted) = rules.scan(text) {
                    *text = redacted;
                    changed = true;
                }
            }
            _ => {}
        }
    }
    changed
}

/// A `cookie`, `set-cookie` or `cookies` member of a JSON body (a string or an array of them): each
/// cookie's value redacted. Whether it was one.
fn redact_json_cookies(key: &str, child: &mut Value, rules: &Rules<'_>) -> bool {
    let Some(style) = cookie_style(key) else {
        return false;
    };
    match child {
        Value::String(text) => *text = rules.redact_cookies(text, style),
        Value::Array(items) => {
            for item in items {
                *item = Value::String(match item.as_str() {
                    Some(text) => rules.redact_cookies(text, style),
                    None => REDACTED.to_owned(),
                });
            }
        }
        _ => return false,
    }
    true
}

/// A string inside a JSON body: a raw query string, a nested `body` holding JSON (an echoed event's), or
/// any other (scanned for secrets by shape). The redacted text, when anything changed.
fn redact_json_string(key: &str, text: &str, rules: &Rules<'_>) -> Option<String> {
    if key.eq_ignore_ascii_case("rawQueryString") {
        return redact_query_string(text, rules.query, rules);
    }
    if key.eq_ignore_ascii_case("body") && text.trim_start().starts_with(['{', '[']) {
        if let Ok(mut nested) = serde_json::from_str::<Value>(text) {
            return redact_json(&mut nested, rules).then(|| nested.to_string());
        }
    }
    rules.scan(text)
}

/// How much of a base64 body is decoded first to tell text from binary.
const TEXT_PROBE_BASE64: usize = 1024;

/// A base64 body: a form body (`application/x-www-form-urlencoded`) has its credential fields
/// redacted; any UTF-8 text body is scanned for secrets by shape; then it is encoded again.
fn redact_base64_body(headers: &Value, body: &mut Value, rules: &Rules<'_>) {
    let is_form = header(headers, "content-type").is_some_and(|t| {
        t.trim_start()
            .to_ascii_lowercase()
            .starts_with("application/x-www-form-urlencoded")
    });
    let Some(encoded) = body.as_str().filter(|_| is_form || rules.by_value) else {
        return;
    };
    // Binary (an image, gzip) is told by its first bytes, without decoding all of it.
    let probe = encoded.get(..encoded.len().min(TEXT_PROBE_BASE64)).unwrap_or_default();
    let Ok(head) = STANDARD.decode(probe) else { return };
    let whole = probe.len() == encoded.len();
    let text_start = match std::str::from_utf8(&head) {
        Ok(_) => true,
        // A character cut at the end of the probe.
        Err(error) => error.error_len().is_none() && !whole,
    };
    if !text_start {
        return;
    }
    let bytes = if whole { Ok(head) } else { STANDARD.decode(encoded) };
    let Some(text) = bytes.ok().and_then(|bytes| String::from_utf8(bytes).ok()) else {
        return;
    };
    let redacted = if is_form {
        redact_query_string(&text, rules.form, rules)
    } else {
        rules.scan(&text)
    };
    if let Some(redacted) = redacted {
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
    let none = NameRule {
        names: Names([&[], &[], &[]]),
        pattern: false,
    };
    let named = NameRule {
        names: Names([names, &[], &[]]),
        ..none
    };
    let rules = Rules {
        headers: none,
        query: none,
        fields: named,
        field_headers: named,
        field_query: named,
        form: none,
        extra: &[],
        keep: &[],
        cookies: false,
        by_value: false,
    };
    let bodies = [
        (event.request.transfer_encoding, &mut event.request.body),
        (event.response.transfer_encoding, &mut event.response.body),
    ];
    for (encoding, body) in bodies {
        if let (Some(TransferEncoding::Json) | None, Some(body)) = (encoding, body) {
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
mod tests;
