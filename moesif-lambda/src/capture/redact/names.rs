//! Credential names by pattern: a header, query parameter, cookie or body field name is split into
//! words (on `-`, `_`, `.`, spaces and other punctuation, and on case changes: `XCSRFToken` is
//! X CSRF Token, `oauth2Token` is oauth2 Token) and is a credential name when a word is a credential
//! word (`password`, `auth`, `token`, …) or two adjacent words are a credential pair (`api key`, …).
//! `token`/`tokens` next to a pagination or usage word (`NextToken`, `pageToken`, `token_type`,
//! `max_tokens`) is a counter, not a credential.

/// How a name matched the pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PatternMatch {
    /// Not a credential name.
    None,
    /// A credential word or pair: `password`, `X-Auth-Token`'s auth, `api key`.
    Credential,
    /// Only a `token`/`tokens` word: a credential unless its value holds no text (a count, token ids).
    Token,
}

/// What one lowercased word is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Word {
    Credential,
    Token,
    /// Makes `token(s)` a counter: `next`, `page`, `max`, `total`, …
    Counter,
    Other,
}

fn classify(lower: &[u8]) -> Word {
    match lower {
        b"authorization" | b"auth" | b"secret" | b"password" | b"passwd" | b"pwd" | b"cookie" | b"session"
        | b"sessionid" | b"credential" | b"credentials" | b"signature" | b"csrf" | b"xsrf" | b"jwt" | b"bearer"
        | b"apikey" => Word::Credential,
        b"token" | b"tokens" => Word::Token,
        b"next" | b"page" | b"continuation" | b"pagination" | b"type" | b"count" | b"max" | b"input" | b"output"
        | b"total" | b"usage" => Word::Counter,
        _ => Word::Other,
    }
}

/// Two adjacent words that are a credential together.
fn is_credential_pair(first: &[u8], second: &[u8]) -> bool {
    matches!(
        (first, second),
        (b"api" | b"access" | b"private", b"key" | b"keys") | (b"client", b"secret" | b"secrets")
    )
}

/// Longest word compared (longer ones are no credential word): `authorization` is 13 bytes.
const MAX_WORD: usize = 16;
/// The longest credential word, `authorization`.
const LONGEST_KEYWORD: usize = 13;

/// `word` lowercased into `buffer`, or `None` if it is too long to be a credential word.
fn lowercase<'b>(word: &str, buffer: &'b mut [u8; MAX_WORD]) -> Option<&'b [u8]> {
    let bytes = word.as_bytes();
    let target = buffer.get_mut(..bytes.len())?;
    for (to, from) in target.iter_mut().zip(bytes) {
        *to = from.to_ascii_lowercase();
    }
    Some(target)
}

/// Calls `each` with every word of `name`, in order.
pub(crate) fn for_each_word<'a>(name: &'a str, mut each: impl FnMut(&'a str)) {
    let bytes = name.as_bytes();
    let mut emit = |start: usize, end: usize| {
        let Some(word) = name.get(start..end) else { return };
        // A custom-header `X` glued to an acronym (`XCSRFToken`): its own word.
        let acronym = word.len() >= 3 && word.bytes().all(|b| b.is_ascii_uppercase());
        match word.strip_prefix('X').filter(|_| acronym) {
            Some(rest) => {
                each("X");
                each(rest);
            }
            None => each(word),
        }
    };
    let mut start = None;
    for (i, &byte) in bytes.iter().enumerate() {
        // Non-ASCII bytes are letters (of a lower case): only ASCII punctuation separates.
        if byte.is_ascii() && !byte.is_ascii_alphanumeric() {
            if let Some(s) = start.take() {
                emit(s, i);
            }
            continue;
        }
        let Some(s) = start else {
            start = Some(i);
            continue;
        };
        let previous = bytes[i - 1];
        let next_is_lower = bytes.get(i + 1).is_some_and(u8::is_ascii_lowercase);
        // `aB`, `2B`: a new word; `ABc`: the acronym ends before `B`.
        let boundary = byte.is_ascii_uppercase() && (!previous.is_ascii_uppercase() || next_is_lower);
        if boundary && i > s {
            emit(s, i);
            start = Some(i);
        }
    }
    if let Some(s) = start {
        emit(s, bytes.len());
    }
}

/// Whether `name` holds, without regard to case, a piece every credential word, pair and joined pair
/// holds (`auth`, `tok`, `secret`, `pass`, `pwd`, `cookie`, `sess`, `cred`, `sig`, `srf`, `jwt`,
/// `bearer`, `key`): most names do not, and need no splitting.
fn has_stem(name: &str) -> bool {
    let bytes = name.as_bytes();
    let at = |i: usize, stem: &[u8]| {
        bytes
            .get(i..i + stem.len())
            .is_some_and(|piece| piece.eq_ignore_ascii_case(stem))
    };
    // Told apart by their first two letters (every stem has at least three), so that most places
    // cost no comparison at all.
    bytes.windows(2).enumerate().any(
        |(i, pair)| match (pair[0].to_ascii_lowercase(), pair[1].to_ascii_lowercase()) {
            (b'a', b'u') => at(i, b"auth"),
            (b't', b'o') => at(i, b"tok"),
            (b's', b'e') => at(i, b"secret") || at(i, b"sess"),
            (b's', b'i') => at(i, b"sig"),
            (b's', b'r') => at(i, b"srf"),
            (b'p', b'a') => at(i, b"pass"),
            (b'p', b'w') => at(i, b"pwd"),
            (b'c', b'o') => at(i, b"cookie"),
            (b'c', b'r') => at(i, b"cred"),
            (b'j', b'w') => at(i, b"jwt"),
            (b'b', b'e') => at(i, b"bearer"),
            (b'k', b'e') => at(i, b"key"),
            _ => false,
        },
    )
}

/// Whether `name` is a credential name by the pattern (see the module docs).
pub(crate) fn pattern_match(name: &str) -> PatternMatch {
    if !has_stem(name) {
        return PatternMatch::None;
    }
    let (mut credential, mut token, mut counter) = (false, false, false);
    let mut previous: Option<&str> = None;
    for_each_word(name, |word| {
        let mut buffer = [0u8; MAX_WORD];
        if let Some(lower) = lowercase(word, &mut buffer) {
            match classify(lower) {
                Word::Credential => credential = true,
                Word::Token => token = true,
                Word::Counter => counter = true,
                Word::Other => {}
            }
            if let Some(first) = previous {
                let mut first_buffer = [0u8; MAX_WORD];
                if let Some(first) = lowercase(first, &mut first_buffer) {
                    credential |= is_credential_pair(first, lower);
                    // Two words that are one credential word when joined: `X SRF`, `Pass Word`.
                    if first.len() + lower.len() > LONGEST_KEYWORD {
                        previous = Some(word);
                        return;
                    }
                    let mut joined = [0u8; 2 * MAX_WORD];
                    joined[..first.len()].copy_from_slice(first);
                    joined[first.len()..first.len() + lower.len()].copy_from_slice(lower);
                    match classify(&joined[..first.len() + lower.len()]) {
                        Word::Credential => credential = true,
                        Word::Token => token = true,
                        Word::Counter | Word::Other => {}
                    }
                }
            }
        }
        previous = Some(word);
    });
    if credential {
        PatternMatch::Credential
    } else if token && !counter {
        PatternMatch::Token
    } else {
        PatternMatch::None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(name: &str) -> Vec<&str> {
        let mut words = Vec::new();
        for_each_word(name, |word| words.push(word));
        words
    }

    #[test]
    fn names_split_on_separators_and_case_changes() {
        assert_eq!(words("XCSRFToken"), ["X", "CSRF", "Token"]);
        assert_eq!(words("oauth2Token"), ["oauth2", "Token"]);
        assert_eq!(words("X-Amz-Security-Token"), ["X", "Amz", "Security", "Token"]);
        assert_eq!(words("max_tokens"), ["max", "tokens"]);
        assert_eq!(words("accessToken"), ["access", "Token"]);
        assert_eq!(words("NextToken"), ["Next", "Token"]);
        assert_eq!(words("HTTPServer.name x"), ["HTTP", "Server", "name", "x"]);
        assert_eq!(words("X-XSRF-TOKEN"), ["X", "X", "SRF", "TOKEN"]);
        assert_eq!(words("API_KEY"), ["API", "KEY"]);
        assert_eq!(words("__a--b__"), ["a", "b"]);
        assert_eq!(words("naïveToken"), ["naïve", "Token"]);
        assert_eq!(words(""), Vec::<&str>::new());
    }

    #[test]
    fn credential_names_are_found_by_their_words() {
        let credentials = [
            "X-Auth-Token",
            "x-access-token",
            "X-CSRF-Token",
            "XCSRFToken",
            "accessToken",
            "x-session-id",
            "X-Amz-Security-Token",
            "Postman-Token",
            "oauth2Token",
            "Authorization",
            "Proxy-Authorization",
            "Cookie",
            "Set-Cookie",
            "X-Api-Key",
            "apiKey",
            "x-apikey",
            "AccessKeyId",
            "private_key",
            "client_secret",
            "clientSecret",
            "password",
            "new_passwd",
            "pwd",
            "sessionid",
            "X-Amz-Credential",
            "credentials",
            "X-Amz-Signature",
            "X-XSRF-TOKEN",
            "XSRF",
            "jwt",
            "bearer",
            "id_token",
            "refresh_token",
            "Pass_Word",
        ];
        for name in credentials {
            assert_ne!(pattern_match(name), PatternMatch::None, "{name} is a credential name");
        }
        assert_eq!(pattern_match("X-Auth-Token"), PatternMatch::Credential);
        assert_eq!(pattern_match("accessToken"), PatternMatch::Token);
        assert_eq!(pattern_match("tokens"), PatternMatch::Token);
    }

    /// What [`has_stem`] decides, the slow way.
    fn holds_a_stem(name: &str) -> bool {
        let lower = name.to_ascii_lowercase();
        let stems = [
            "auth", "tok", "secret", "pass", "pwd", "cookie", "sess", "cred", "sig", "srf", "jwt", "bearer", "key",
        ];
        stems.iter().any(|stem| lower.contains(stem))
    }

    #[test]
    fn the_stem_prefilter_agrees_with_looking_for_every_stem() {
        // Every name of up to four letters over the stems' letters (and a separator), in both cases.
        let letters = b"aeuthoksrcpwdjbyi-";
        let (mut level, mut names) = (vec![String::new()], Vec::new());
        for _ in 0..4 {
            level = level
                .iter()
                .flat_map(|name| letters.iter().map(move |&l| format!("{name}{}", char::from(l))))
                .collect();
            names.extend(level.iter().cloned());
        }
        let stems = ["secret", "cookie", "bearer", "sess", "cred", "auth", "pass"];
        for stem in stems {
            for filler in ["", "x", "x-", "ab", "upgrade-insecure-", "Set-"] {
                names.push(format!("{filler}{stem}"));
                names.push(format!("{filler}{}x", &stem[..stem.len() - 1]));
                names.push(format!("{stem}{filler}"));
            }
        }
        assert!(names.len() > 100_000);
        for name in names.iter().flat_map(|n| [n.clone(), n.to_uppercase()]) {
            assert_eq!(has_stem(&name), holds_a_stem(&name), "{name:?}");
        }
    }

    #[test]
    fn every_credential_word_and_pair_has_a_stem() {
        for word in [
            "authorization",
            "auth",
            "token",
            "tokens",
            "secret",
            "password",
            "passwd",
            "pwd",
            "cookie",
            "session",
            "sessionid",
            "credential",
            "credentials",
            "signature",
            "csrf",
            "xsrf",
            "jwt",
            "bearer",
            "apikey",
            "api key",
            "access key",
            "private key",
            "client secret",
            "X SRF",
            "Pass Word",
        ] {
            assert!(has_stem(word), "{word}");
            assert!(has_stem(&word.to_uppercase()), "{word}");
        }
        assert!(!has_stem("x-amzn-trace-id") && !has_stem("upgrade-insecure-requests") && !has_stem(""));
    }

    #[test]
    fn other_names_and_counters_are_not() {
        let others = [
            "author",
            "keyword",
            "monkey",
            "tokenizer",
            "Keep-Alive",
            "Accept",
            "Cache-Control",
            "Content-Length",
            "X-Request-Id",
            "User-Agent",
            "NextToken",
            "pageToken",
            "next_page_token",
            "continuationToken",
            "paginationToken",
            "token_type",
            "max_tokens",
            "total_tokens",
            "input_tokens",
            "output_tokens",
            "tokenCount",
            "usage_tokens",
            "key",
            "Host",
            "authority",
            "sessions",
            "x-amzn-trace-id",
            "",
            "-",
        ];
        for name in others {
            assert_eq!(
                pattern_match(name),
                PatternMatch::None,
                "{name} is not a credential name"
            );
        }
    }
}
