//! Secrets found by their shape, whatever name they sit under: JWTs, `Bearer` and `Basic` credentials,
//! AWS access key ids, private key blocks, well-known token prefixes (GitHub, Stripe, Slack), and the
//! values of credential-named pairs of query, form or JSON text embedded in a string
//! (`page=2&access_token=…`, `{"password": "…"}`). The secret part becomes `[REDACTED]`, the text
//! around it stays (`Bearer [REDACTED]`, `page=2&access_token=[REDACTED]`).
//!
//! A literal prefilter, one pass of a byte table over the string (measured cheaper here than an
//! Aho-Corasick automaton over the same literals on short header values), decides whether a string can
//! hold any of them; the shapes' regex, compiled once on first use, runs only on strings with a shape's
//! literal, and pairs are read by hand around each `=` or `":` (most `=`s are no credential's).

use super::REDACTED;
use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use regex_lite::{Captures, Regex};
use std::borrow::Cow;
use std::ops::Range;
use std::sync::LazyLock;

const NONE: u8 = 0;
const SHAPE_BYTE: u8 = 1;
const EQUALS_BYTE: u8 = 2;
const QUOTE_BYTE: u8 = 3;

/// What each byte can be part of: a shape's literal (see [`shape_literal_at`]), an embedded query
/// pair's `=`, a JSON pair's `":`.
const FIRST_BYTES: [u8; 256] = {
    let mut table = [NONE; 256];
    let shape_bytes = b"JBbA-x_";
    let mut i = 0;
    while i < shape_bytes.len() {
        table[shape_bytes[i] as usize] = SHAPE_BYTE;
        i += 1;
    }
    table[b'=' as usize] = EQUALS_BYTE;
    table[b'"' as usize] = QUOTE_BYTE;
    table
};

/// Secrets of a known shape; the group that matched says which.
const SHAPES: &str = concat!(
    r"(?P<key>-----BEGIN[A-Z0-9 ]*PRIVATE KEY-----(?s:.*?)(?:-----END[A-Z0-9 ]*PRIVATE KEY-----|\z))",
    r"|(?P<scheme>Bearer|bearer|BEARER|Basic|basic|BASIC)(?:[ \t]|\+|%20)+(?P<credential>[A-Za-z0-9\-._~+/]+=*)",
    r"|(?P<jwt>eyJ[A-Za-z0-9_-]{6,}\.[A-Za-z0-9_-]{2,}\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*){0,2})",
    r"|(?P<aws>(?:AKIA|ASIA)[A-Z0-9]{16,})",
    r"|(?P<token>(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{10,}|github_pat_[A-Za-z0-9_]{10,}",
    r"|(?:sk|rk)_live_[A-Za-z0-9]{8,}|xox[abposr]-[A-Za-z0-9-]{8,})",
);

/// [`SHAPES`], compiled once per process (a one-time cache: it never changes).
static SHAPE_REGEX: LazyLock<Option<Regex>> = LazyLock::new(|| Regex::new(SHAPES).ok());

/// Base64 with or without padding (a `Basic` credential in a URL may have lost its `=`).
const LENIENT_BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// What the prefilter saw in a string.
#[derive(Default)]
struct Triggers {
    shape: bool,
    query: bool,
    json: bool,
}

/// Whether a literal a secret of a known shape starts with (`eyJ`, `Bearer`, `bearer`, `BEARER`,
/// `Basic`, `basic`, `BASIC`, `AKIA`, `ASIA`, `-----BEGIN`, `ghp_`, `gho_`, `ghu_`, `ghs_`, `ghr_`,
/// `github_pat_`, `sk_live_`, `rk_live_`, `xox`) covers `bytes[i]`, a byte the table sent here. Each literal is
/// looked for from its rarest byte (`J` of `eyJ`, `_` of `ghp_`, `sk_live_`, …), so that common
/// letters cost nothing.
fn shape_literal_at(bytes: &[u8], i: usize) -> bool {
    let (before, rest) = bytes.split_at(i);
    let starts = |literals: &[&[u8]]| literals.iter().any(|literal| rest.starts_with(literal));
    match rest.first() {
        Some(b'J') => before.ends_with(b"ey"),
        Some(b'B') => starts(&[b"Bearer", b"BEARER", b"Basic", b"BASIC"]),
        Some(b'b') => starts(&[b"bearer", b"basic"]),
        Some(b'A') => starts(&[b"AKIA", b"ASIA"]),
        Some(b'-') => rest.starts_with(b"-----BEGIN"),
        Some(b'x') => rest.starts_with(b"xox"),
        Some(b'_') => {
            let github = [&b"ghp"[..], b"gho", b"ghu", b"ghs", b"ghr"];
            github.iter().any(|prefix| before.ends_with(prefix))
                || (before.ends_with(b"github") && rest.starts_with(b"_pat_"))
                || ((before.ends_with(b"sk") || before.ends_with(b"rk")) && rest.starts_with(b"_live_"))
        }
        _ => false,
    }
}

/// One pass over `text`: a byte table sends the few bytes a trigger holds to a check of the literals
/// around them.
fn triggers(text: &str) -> Triggers {
    let bytes = text.as_bytes();
    let mut seen = Triggers::default();
    for (i, &byte) in bytes.iter().enumerate() {
        match FIRST_BYTES[usize::from(byte)] {
            NONE => continue,
            EQUALS_BYTE => seen.query = true,
            QUOTE_BYTE => seen.json |= bytes.get(i + 1) == Some(&b':'),
            _ => seen.shape |= !seen.shape && shape_literal_at(bytes, i),
        }
        if seen.shape && seen.query && seen.json {
            break;
        }
    }
    seen
}

/// `text` with every secret of a known shape, and the value of every pair whose name
/// `is_credential_name` of embedded query, form or JSON text, replaced by `[REDACTED]`; `None` when
/// nothing was found (the common case costs one pass of the prefilter).
pub(crate) fn scan(text: &str, is_credential_name: &dyn Fn(&str) -> bool) -> Option<String> {
    let seen = triggers(text);
    let mut current = Cow::Borrowed(text);
    if seen.shape {
        if let Some(redacted) = replace(&SHAPE_REGEX, &current, shape_secret) {
            current = Cow::Owned(redacted);
        }
    }
    if seen.query {
        if let Some(redacted) = redact_pairs(&current, query_pair, is_credential_name) {
            current = Cow::Owned(redacted);
        }
    }
    if seen.json {
        if let Some(redacted) = redact_pairs(&current, json_pair, is_credential_name) {
            current = Cow::Owned(redacted);
        }
    }
    match current {
        Cow::Owned(redacted) => Some(redacted),
        Cow::Borrowed(_) => None,
    }
}

/// Runs `regex` over `text`; `secret` gives, for a match, the byte range of `text` that is secret (the
/// rest of the match is kept, the range becomes `[REDACTED]`), or `None` to keep the match as it is.
/// `None` when nothing changed.
fn replace(
    regex: &LazyLock<Option<Regex>>,
    text: &str,
    secret: impl Fn(&Captures<'_>, &str) -> Option<Range<usize>>,
) -> Option<String> {
    let Some(regex) = regex.as_ref() else {
        // Cannot happen (the patterns are fixed and tested); fail closed.
        return Some(REDACTED.to_owned());
    };
    let mut changed = false;
    let replaced = regex.replace_all(text, |caps: &Captures<'_>| {
        let Some(whole) = caps.get(0) else {
            return String::new();
        };
        let parts = secret(caps, text)
            .and_then(|range| Some((text.get(whole.start()..range.start)?, text.get(range.end..whole.end())?)));
        match parts {
            Some((before, after)) => {
                changed = true;
                format!("{before}{REDACTED}{after}")
            }
            None => whole.as_str().to_owned(),
        }
    });
    changed.then(|| replaced.into_owned())
}

/// The secret of a shape match, if it is one.
fn shape_secret(caps: &Captures<'_>, text: &str) -> Option<Range<usize>> {
    let whole = caps.get(0)?;
    if let Some(credential) = caps.name("credential") {
        let scheme = caps.name("scheme")?.as_str();
        let is_secret = if scheme.eq_ignore_ascii_case("basic") {
            is_user_password(credential.as_str())
        } else {
            credential.as_str().trim_end_matches('=').len() >= 8
        };
        return is_secret.then(|| credential.range());
    }
    if caps.name("aws").is_some() {
        // Exactly 20 characters, not the tail of a longer word.
        let before = text.as_bytes().get(whole.start().wrapping_sub(1));
        let starts_word = !before.is_some_and(u8::is_ascii_alphanumeric);
        return (whole.len() == 20 && starts_word).then(|| whole.range());
    }
    Some(whole.range())
}

/// Whether a `Basic` credential is base64 of `user:password`.
fn is_user_password(credential: &str) -> bool {
    let Ok(bytes) = LENIENT_BASE64.decode(credential) else {
        return false;
    };
    std::str::from_utf8(&bytes).is_ok_and(|text| text.contains(':') && !text.chars().any(char::is_control))
}

/// A pair found in a text: the byte ranges of its name and its value, and where to look for the next.
struct Pair {
    name: Range<usize>,
    value: Range<usize>,
    next: usize,
}

/// `text` with the value of every pair (found by `find`, from an offset) whose name is a credential name
/// replaced by `[REDACTED]`; `None` when there was none.
fn redact_pairs(
    text: &str,
    find: fn(&str, usize) -> Option<Pair>,
    is_credential_name: &dyn Fn(&str) -> bool,
) -> Option<String> {
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut from = 0;
    while let Some(pair) = find(text, from) {
        from = pair.next;
        let (Some(name), Some(value)) = (text.get(pair.name.clone()), text.get(pair.value.clone())) else {
            continue;
        };
        if name.is_empty() || value.is_empty() || value == REDACTED || !is_credential_name(&decode_name(name)) {
            continue;
        }
        let out = out.get_or_insert_with(|| String::with_capacity(text.len()));
        out.push_str(text.get(copied..pair.value.start).unwrap_or_default());
        out.push_str(REDACTED);
        copied = pair.value.end;
    }
    out.map(|mut out| {
        out.push_str(text.get(copied..).unwrap_or_default());
        out
    })
}

/// A byte of a query or form name.
fn is_query_name_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_.-[]%+".contains(&byte)
}

/// A byte that ends a query or form value.
fn ends_query_value(byte: u8) -> bool {
    byte.is_ascii_whitespace() || b"&#;\"'<>".contains(&byte)
}

/// The next `name=value` of query or form text at or after `from`: the name is the run of name bytes
/// before an `=`, the value runs to `&`, `#`, `;`, a quote, `<`, `>` or white space.
fn query_pair(text: &str, from: usize) -> Option<Pair> {
    let bytes = text.as_bytes();
    let equals = from + bytes.get(from..)?.iter().position(|&b| b == b'=')?;
    let start = bytes[..equals]
        .iter()
        .rposition(|&b| !is_query_name_byte(b))
        .map_or(0, |p| p + 1);
    let end = bytes[equals + 1..]
        .iter()
        .position(|&b| ends_query_value(b))
        .map_or(bytes.len(), |p| equals + 1 + p);
    Some(Pair {
        name: start..equals,
        value: equals + 1..end,
        next: end.max(equals + 1),
    })
}

/// Longest JSON member name looked at.
const MAX_JSON_NAME: usize = 128;

/// The next `"name": "value"` of JSON text at or after `from` (a string member; others are skipped).
fn json_pair(text: &str, from: usize) -> Option<Pair> {
    let bytes = text.as_bytes();
    let mut at = from;
    loop {
        let quote = at + text.get(at..)?.find("\":")?;
        at = quote + 2;
        // The name: back to its opening quote, with no escape or line break in it.
        let floor = quote.saturating_sub(MAX_JSON_NAME + 1);
        let Some(open) = bytes[floor..quote]
            .iter()
            .rposition(|&b| matches!(b, b'"' | b'\\' | b'\n'))
        else {
            continue;
        };
        let open = floor + open;
        if bytes[open] != b'"' {
            continue;
        }
        // The value: a string after optional white space.
        let mut value_start = at;
        while bytes.get(value_start).is_some_and(u8::is_ascii_whitespace) {
            value_start += 1;
        }
        if bytes.get(value_start) != Some(&b'"') {
            continue;
        }
        value_start += 1;
        let mut end = value_start;
        while let Some(&byte) = bytes.get(end) {
            match byte {
                b'"' => break,
                b'\\' => end += 2,
                _ => end += 1,
            }
        }
        if end >= bytes.len() {
            // An unterminated string: nothing after it is JSON we can read.
            return None;
        }
        return Some(Pair {
            name: open + 1..quote,
            value: value_start..end,
            next: end + 1,
        });
    }
}

/// A query or form name as its user wrote it: `+` is a space, `%XX` a byte.
pub(crate) fn decode_name(name: &str) -> Cow<'_, str> {
    if !name.contains(['+', '%']) {
        return Cow::Borrowed(name);
    }
    let spaced = name.replace('+', " ");
    Cow::Owned(
        percent_encoding::percent_decode_str(&spaced)
            .decode_utf8_lossy()
            .into_owned(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn credential(name: &str) -> bool {
        super::super::names::pattern_match(name) != super::super::names::PatternMatch::None
    }

    fn redacted(text: &str) -> String {
        scan(text, &credential).unwrap_or_else(|| text.to_owned())
    }

    /// The literals a secret of a known shape starts with (see `shape_literal_at`).
    const SHAPE_LITERALS: [&str; 19] = [
        "eyJ",
        "Bearer",
        "bearer",
        "BEARER",
        "Basic",
        "basic",
        "BASIC",
        "AKIA",
        "ASIA",
        "-----BEGIN",
        "ghp_",
        "gho_",
        "ghu_",
        "ghs_",
        "ghr_",
        "github_pat_",
        "sk_live_",
        "rk_live_",
        "xox",
    ];

    #[test]
    fn the_patterns_compile() {
        assert!(SHAPE_REGEX.is_some());
    }

    #[test]
    fn the_prefilter_sees_every_literal() {
        for literal in SHAPE_LITERALS {
            for text in [literal.to_owned(), format!("x {literal} y")] {
                let seen = triggers(&text);
                assert!(seen.shape && !seen.query && !seen.json, "{text}");
            }
        }
        let seen = triggers("a=1 {\"b\":2}");
        assert!(!seen.shape && seen.query && seen.json);
        let seen = triggers("the best basket of sky, gh, -- xo AK");
        assert!(!seen.shape && !seen.query && !seen.json);
    }

    #[test]
    fn strings_without_triggers_are_left_alone() {
        for text in [
            "",
            "hello world",
            "application/json",
            "Mozilla/5.0 (X11; Linux)",
            "/orders/42",
        ] {
            assert_eq!(scan(text, &credential), None, "{text}");
        }
    }

    #[test]
    fn jwts_are_redacted_anywhere() {
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        assert_eq!(redacted(jwt), REDACTED);
        assert_eq!(redacted(&format!("/verify/{jwt}/x")), "/verify/[REDACTED]/x");
        assert_eq!(redacted("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0."), REDACTED, "unsigned");
        assert_eq!(
            redacted("eyJ is how JSON starts in base64"),
            "eyJ is how JSON starts in base64"
        );
        assert_eq!(redacted("eyJhbGci.x"), "eyJhbGci.x", "not three parts");
    }

    #[test]
    fn bearer_credentials_need_eight_token_characters() {
        assert_eq!(redacted("Bearer abcdefgh12345"), "Bearer [REDACTED]");
        assert_eq!(redacted("token: bearer a.b-c_d~e+f/g=="), "token: bearer [REDACTED]");
        assert_eq!(redacted("Bearer%20abcdefgh12345&x=1"), "Bearer%20[REDACTED]&x=1");
        assert_eq!(redacted("Bearer short"), "Bearer short");
        assert_eq!(redacted("Bearer abc"), "Bearer abc");
        assert_eq!(redacted("Bearer [REDACTED]"), "Bearer [REDACTED]", "idempotent");
        assert_eq!(redacted("Bearers"), "Bearers");
    }

    #[test]
    fn basic_credentials_only_when_they_decode_to_user_password() {
        use base64::engine::general_purpose::STANDARD;
        let credential = STANDARD.encode("ada:hunter2");
        assert_eq!(redacted(&format!("Basic {credential}")), "Basic [REDACTED]");
        let unpadded = STANDARD.encode("ada:pw").trim_end_matches('=').to_owned();
        assert_eq!(redacted(&format!("basic+{unpadded}")), "basic+[REDACTED]");
        let plain = format!("Basic {}", STANDARD.encode("hello world"));
        assert_eq!(redacted(&plain), plain, "base64 that is no user:password");
        assert_eq!(redacted("Basic plan includes"), "Basic plan includes");
        assert_eq!(redacted("Basic auth"), "Basic auth");
    }

    #[test]
    fn aws_access_key_ids_are_exactly_twenty_characters() {
        assert_eq!(redacted("AKIAIOSFODNN7EXAMPLE"), REDACTED);
        assert_eq!(redacted("id ASIAY34FZKBOKMUTVV7A, next"), "id [REDACTED], next");
        assert_eq!(redacted("AKIAIOSFODNN7EXAMPL"), "AKIAIOSFODNN7EXAMPL", "AKIA + 15");
        assert_eq!(redacted("AKIAIOSFODNN7EXAMPLEX"), "AKIAIOSFODNN7EXAMPLEX", "AKIA + 17");
        assert_eq!(
            redacted("xAKIAIOSFODNN7EXAMPLE"),
            "xAKIAIOSFODNN7EXAMPLE",
            "inside a word"
        );
    }

    #[test]
    fn private_key_blocks_are_redacted_whole() {
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----";
        assert_eq!(redacted(&format!("key:\n{pem}\nend")), "key:\n[REDACTED]\nend");
        let cut = "-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC";
        assert_eq!(redacted(cut), REDACTED, "a block cut short");
        let cert = "-----BEGIN CERTIFICATE-----\nMIIEZTCCAk0CAQEwDQ";
        assert_eq!(redacted(cert), cert, "a certificate is public");
    }

    #[test]
    fn well_known_token_prefixes_are_redacted() {
        for token in [
            "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789",
            "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz",
            "sk_live_4eC39HqLyjWDarjtT1zdp7dc",
            "rk_live_51H0abcdefghijklmnop",
            "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx",
            "xoxp-123456789012-abcdefgh",
        ] {
            assert_eq!(redacted(&format!("t {token} t")), "t [REDACTED] t", "{token}");
        }
        assert_eq!(
            redacted("sk_test_4eC39HqLyjWDarjtT1zdp7dc"),
            "sk_test_4eC39HqLyjWDarjtT1zdp7dc"
        );
        assert_eq!(redacted("ghp_short"), "ghp_short");
    }

    #[test]
    fn embedded_query_form_and_json_pairs_are_redacted_by_name() {
        assert_eq!(redacted("page=2&access_token=abc"), "page=2&access_token=[REDACTED]");
        assert_eq!(
            redacted("https://h/cb?code=1&id_token=x#state=s&refresh_token=y"),
            "https://h/cb?code=1&id_token=[REDACTED]#state=s&refresh_token=[REDACTED]"
        );
        assert_eq!(
            redacted("login with password=hunter2 ok"),
            "login with password=[REDACTED] ok"
        );
        assert_eq!(
            redacted("user%5Bpassword%5D=p&a=1"),
            "user%5Bpassword%5D=[REDACTED]&a=1"
        );
        assert_eq!(
            redacted("next_token=abc&max_tokens=5&author=me"),
            "next_token=abc&max_tokens=5&author=me"
        );
        assert_eq!(redacted("token=&x=1"), "token=&x=1", "no value, nothing to hide");
        assert_eq!(redacted("dGVzdA=="), "dGVzdA==");
        assert_eq!(
            redacted(r#"{"user": "ada", "password": "hu\"nter2", "tokenizer": "bpe"}"#),
            r#"{"user": "ada", "password": "[REDACTED]", "tokenizer": "bpe"}"#
        );
        assert_eq!(redacted("a=b=c&secret=x=y;z"), "a=b=c&secret=[REDACTED];z");
        assert_eq!(redacted("é=1&pwd=2"), "é=1&pwd=[REDACTED]");
        assert_eq!(
            redacted(r#"{"password": "unterminated"#),
            r#"{"password": "unterminated"#
        );
        assert_eq!(
            redacted(r#"{"password":12, "secret":"s"}"#),
            r#"{"password":12, "secret":"[REDACTED]"}"#
        );
        assert_eq!(
            redacted(r#"{"note": "a\":b", "token": "t\"u"}"#),
            r#"{"note": "a\":b", "token": "[REDACTED]"}"#
        );
        assert_eq!(
            redacted("Authorization=Bearer abcdefgh12345"),
            "Authorization=[REDACTED] [REDACTED]",
            "the shape first, then the name"
        );
    }
}
