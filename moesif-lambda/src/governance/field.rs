//! What a condition looks at (its `path`) and how its value is matched: the one field map and pattern
//! matcher of both governance rules and sampling's `regex_config`.

use regex_lite::Regex;
use serde_json::Value;

/// A condition's `path`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Field {
    /// `request.verb`: the HTTP method.
    Verb,
    /// `request.route`: the path of the URI (no query), `/` when it has none.
    Route,
    /// `request.ip_address` or `request.ip`: the logged client IP.
    IpAddress,
    /// `response.status`: the status as text (`503`); sampling only (no request has one).
    Status,
    /// `request.headers.<name>`: a request header, its name (kept lowercase) matched in any case.
    Header(String),
    /// `request.body.<key>`: a top-level key of a JSON request body.
    Body(String),
}

impl Field {
    /// The field of `path`; `None` for a path no request or event has.
    pub(crate) fn of(path: &str) -> Option<Field> {
        match path {
            "request.verb" => Some(Field::Verb),
            "request.route" => Some(Field::Route),
            "request.ip_address" | "request.ip" => Some(Field::IpAddress),
            "response.status" => Some(Field::Status),
            _ => {
                if let Some(name) = path.strip_prefix("request.headers.").filter(|n| !n.is_empty()) {
                    Some(Field::Header(name.to_ascii_lowercase()))
                } else {
                    let key = path.strip_prefix("request.body.").filter(|k| !k.is_empty())?;
                    Some(Field::Body(key.to_owned()))
                }
            }
        }
    }
}

/// A condition's pattern, searched anywhere in the field (unanchored unless it says `^`/`$`). A pattern
/// that is plain text (the most common kind: `^/orders`, `POST`, `10.0.0.1`) is matched as text, with
/// no regex engine at all; any other is a `regex-lite` regex.
#[derive(Debug)]
pub(crate) enum Pattern {
    /// Plain text: found anywhere, at the start (`^`), at the end (`$`) or the whole field (`^…$`).
    Text {
        text: String,
        start: bool,
        end: bool,
    },
    Regex(Regex),
}

impl Pattern {
    /// The pattern of a condition's `value`: a string as it is, any other JSON as its text (`200`);
    /// `None` when it does not compile.
    pub(crate) fn compile(value: &Value) -> Option<Pattern> {
        let source = match value {
            Value::String(text) => std::borrow::Cow::Borrowed(text.as_str()),
            other => std::borrow::Cow::Owned(other.to_string()),
        };
        Pattern::of(&source)
    }

    fn of(source: &str) -> Option<Pattern> {
        let (start, rest) = match source.strip_prefix('^') {
            Some(rest) => (true, rest),
            None => (false, source),
        };
        let (end, text) = match rest.strip_suffix('$') {
            Some(text) if !text.ends_with('\\') => (true, text),
            _ => (false, rest),
        };
        if text.chars().any(|c| "\\.+*?()|[]{}^$".contains(c)) {
            return Regex::new(source).ok().map(Pattern::Regex);
        }
        Some(Pattern::Text {
            text: text.to_owned(),
            start,
            end,
        })
    }

    /// Whether the pattern is found in `field`.
    pub(crate) fn is_match(&self, field: &str) -> bool {
        match self {
            Pattern::Text { text, start, end } => match (start, end) {
                (true, true) => field == text,
                (true, false) => field.starts_with(text.as_str()),
                (false, true) => field.ends_with(text.as_str()),
                (false, false) => field.contains(text.as_str()),
            },
            Pattern::Regex(regex) => regex.is_match(field),
        }
    }
}

/// The path of a URI (`/` when it has none), as `request.route`.
pub(crate) fn route(uri: &str) -> &str {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |start| &after_scheme[start..]);
    match path.split('?').next() {
        Some(path) if !path.is_empty() => path,
        _ => "/",
    }
}

/// A JSON value as a condition sees it: a string as it is, anything else as its JSON text.
pub(crate) fn text_of(value: &Value) -> std::borrow::Cow<'_, str> {
    match value {
        Value::String(text) => std::borrow::Cow::Borrowed(text),
        other => std::borrow::Cow::Owned(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn matches(pattern: &str, field: &str) -> bool {
        Pattern::compile(&json!(pattern)).is_some_and(|p| p.is_match(field))
    }

    #[test]
    fn paths() {
        assert_eq!(Field::of("request.ip"), Some(Field::IpAddress));
        assert_eq!(Field::of("request.ip_address"), Some(Field::IpAddress));
        assert_eq!(
            Field::of("request.headers.X-Plan"),
            Some(Field::Header("x-plan".into()))
        );
        assert_eq!(Field::of("request.body.plan"), Some(Field::Body("plan".into())));
        assert_eq!(Field::of("request.headers."), None);
        assert_eq!(Field::of("request.host"), None);
    }

    #[test]
    fn text_patterns_match_as_regexes_would() {
        for (pattern, field, expected) in [
            ("^/orders", "/orders/1", true),
            ("^/orders", "/v1/orders", false),
            ("orders", "/v1/orders", true),
            ("^POST$", "POST", true),
            ("^POST$", "POSTS", false),
            ("json$", "application/json", true),
            ("", "anything", true),
            ("^$", "", true),
            ("^10\\.0\\.", "10.0.0.1", true),
            ("^10\\.0\\.", "1000.1", false),
            ("^(GET|POST)$", "POST", true),
            ("a\\$", "a$", true),
        ] {
            assert_eq!(matches(pattern, field), expected, "{pattern} on {field}");
        }
        assert!(Pattern::compile(&json!("(")).is_none());
        assert!(Pattern::compile(&json!(404)).is_some_and(|p| p.is_match("404")));
    }

    #[test]
    fn routes() {
        assert_eq!(route("https://h.example/a/b?x=1"), "/a/b");
        assert_eq!(route("http://h"), "/");
        assert_eq!(route("/a?b"), "/a");
        assert_eq!(route("wss://h/prod/$default"), "/prod/$default");
    }
}
