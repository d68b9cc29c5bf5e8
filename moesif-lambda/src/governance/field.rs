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

/// A condition's pattern, searched anywhere in the field (unanchored unless it says `^`/`$`).
///
/// `regex-lite` (a fraction of `regex`'s size) searches with no literal optimisation, so the patterns
/// rules hold most (`^/orders`, `POST`, `^10\.0\.`, `(?i)bot|crawler`, `^(GET|HEAD)$`) are matched as
/// text, with no regex engine; any other is a regex, skipped at once when its literal start (`^/v1/`
/// of `^/v1/\d+`) is not in the field.
#[derive(Debug)]
pub(crate) enum Pattern {
    /// Any of these texts.
    Texts(Vec<Text>),
    /// A regex, and a text its every match starts with (anchored) or contains.
    Regex(Regex, Option<Text>),
}

/// Plain text: found anywhere, at the start (`^`), at the end (`$`) or the whole field (`^…$`), ASCII
/// case folded with `(?i)`.
#[derive(Debug, PartialEq)]
pub(crate) struct Text {
    text: String,
    start: bool,
    end: bool,
    fold: bool,
}

impl Text {
    fn new(text: String, start: bool, end: bool, fold: bool) -> Text {
        let text = if fold { text.to_ascii_lowercase() } else { text };
        Text { text, start, end, fold }
    }

    fn is_match(&self, field: &str) -> bool {
        let (text, len) = (self.text.as_bytes(), self.text.len());
        let bytes = field.as_bytes();
        let same = |a: &[u8]| {
            if self.fold {
                a.eq_ignore_ascii_case(text)
            } else {
                a == text
            }
        };
        match (self.start, self.end) {
            (true, true) => same(bytes),
            (true, false) => bytes.len() >= len && same(&bytes[..len]),
            (false, true) => bytes.len() >= len && same(&bytes[bytes.len() - len..]),
            (false, false) if !self.fold => field.contains(self.text.as_str()),
            (false, false) => {
                // Folded: the text is stored lowercase; only where its first byte is do the rest compare.
                let Some((&first, rest)) = text.split_first() else {
                    return true;
                };
                let Some(last_start) = bytes.len().checked_sub(len) else {
                    return false;
                };
                memchr::memchr2_iter(first, first.to_ascii_uppercase(), &bytes[..=last_start])
                    .any(|at| bytes[at + 1..at + len].eq_ignore_ascii_case(rest))
            }
        }
    }
}

/// Characters with a meaning in a regex.
const META: &str = "\\.+*?()|[]{}^$";

/// The text `source` stands for, when it is plain text (punctuation escaped with `\` included).
fn unescape(source: &str) -> Option<String> {
    let mut text = String::with_capacity(source.len());
    let mut chars = source.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(escaped) if escaped.is_ascii_punctuation() => text.push(escaped),
                _ => return None,
            },
            c if META.contains(c) => return None,
            c => text.push(c),
        }
    }
    Some(text)
}

/// `source` as texts, when it is `[(?i)][^]a|b|c[$]` or `[(?i)][^](a|b|c)[$]` of plain texts.
fn texts(source: &str) -> Option<Vec<Text>> {
    let (fold, rest) = match source.strip_prefix("(?i)") {
        Some(rest) => (true, rest),
        None => (false, source),
    };
    let text = |piece: &str, start: bool, end: bool| {
        let text = unescape(piece)?;
        (!fold || text.is_ascii()).then(|| Text::new(text, start, end, fold))
    };
    let (start, inner) = rest.strip_prefix('^').map_or((false, rest), |inner| (true, inner));
    let (end, inner) = match inner.strip_suffix('$') {
        Some(inner) if !inner.ends_with('\\') => (true, inner),
        _ => (false, inner),
    };
    if let Some(group) = inner.strip_prefix('(').and_then(|g| g.strip_suffix(')')) {
        let group = group.strip_prefix("?:").unwrap_or(group);
        return group.split('|').map(|piece| text(piece, start, end)).collect();
    }
    // Unparenthesised, `^` and `$` belong to the first and last alternative.
    let pieces: Vec<&str> = rest.split('|').collect();
    let last = pieces.len() - 1;
    pieces
        .iter()
        .enumerate()
        .map(|(index, piece)| {
            let (start, piece) = piece.strip_prefix('^').map_or((false, *piece), |p| (index == 0, p));
            let (end, piece) = match piece.strip_suffix('$') {
                Some(p) if !p.ends_with('\\') && index == last => (true, p),
                _ => (false, piece),
            };
            text(piece, start, end)
        })
        .collect()
}

/// A text every match of the regex `source` starts with (`^`) or contains: its literal beginning, when
/// it has no alternation.
fn prefilter(source: &str) -> Option<Text> {
    if source.contains('|') {
        return None;
    }
    let (fold, rest) = source.strip_prefix("(?i)").map_or((false, source), |rest| (true, rest));
    let (start, rest) = rest.strip_prefix('^').map_or((false, rest), |rest| (true, rest));
    let mut text = String::new();
    let mut chars = rest.chars().peekable();
    while let Some(c) = chars.next() {
        let literal = match c {
            '\\' => match chars.peek() {
                Some(escaped) if escaped.is_ascii_punctuation() => chars.next(),
                _ => None,
            },
            c if META.contains(c) => None,
            c => Some(c),
        };
        let Some(literal) = literal else { break };
        // A quantifier after it makes it optional.
        if matches!(chars.peek(), Some('?' | '*' | '{')) {
            break;
        }
        text.push(literal);
    }
    (!text.is_empty() && (!fold || text.is_ascii())).then(|| Text::new(text, start, false, fold))
}

impl Pattern {
    /// The pattern of a condition's `value`: a string as it is, any other JSON as its text (`200`);
    /// `None` when it does not compile.
    pub(crate) fn compile(value: &Value) -> Option<Pattern> {
        let source = text_of(value);
        if let Some(texts) = texts(&source) {
            return Some(Pattern::Texts(texts));
        }
        let regex = Regex::new(&source).ok()?;
        Some(Pattern::Regex(regex, prefilter(&source)))
    }

    /// Whether the pattern is found in `field`.
    pub(crate) fn is_match(&self, field: &str) -> bool {
        match self {
            Pattern::Texts(texts) => texts.iter().any(|text| text.is_match(field)),
            Pattern::Regex(regex, prefilter) => {
                prefilter.as_ref().is_none_or(|text| text.is_match(field)) && regex.is_match(field)
            }
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
            ("(?i)bot|crawler", "Mozilla BOT/1", true),
            ("(?i)bot|crawler", "Mozilla", false),
            ("^(GET|HEAD)$", "HEAD", true),
            ("^(GET|HEAD)$", "HEADS", false),
            ("^(?:GET|HEAD)$", "GET", true),
            ("^GET|POST$", "GETS", true),
            ("^GET|POST$", "APOST", true),
            ("^GET|POST$", "APOSTS", false),
            ("^/v1/\\d+$", "/v1/42", true),
            ("^/v1/\\d+$", "/v2/42", false),
            ("^10\\.3\\.\\d+\\.\\d+$", "10.3.0.1", true),
            ("^10\\.3\\.\\d+\\.\\d+$", "10.30.0.1", false),
            ("^/ab?c", "/ac", true),
            ("(?i)^/ADMIN/\\w+", "/admin/x", true),
            ("colou?r", "color", true),
            ("(?i)é", "É", false),
        ] {
            assert_eq!(matches(pattern, field), expected, "{pattern} on {field}");
        }
        assert!(Pattern::compile(&json!("(")).is_none());
        assert!(matches!(
            Pattern::compile(&json!("^10\\.0\\.")),
            Some(Pattern::Texts(_))
        ));
        assert!(matches!(
            Pattern::compile(&json!("(?i)bot|crawler")),
            Some(Pattern::Texts(_))
        ));
        assert!(matches!(
            Pattern::compile(&json!("^/v1/\\d+")),
            Some(Pattern::Regex(_, Some(_)))
        ));
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
