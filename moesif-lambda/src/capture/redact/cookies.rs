//! Cookies with their values redacted and their names kept: a `Cookie` header (`sid=[REDACTED];
//! theme=[REDACTED]`), a `Set-Cookie` header, attributes kept (`a=[REDACTED]; Path=/; HttpOnly`; several
//! joined by `, ` are told apart from the comma inside `Expires=Wed, 21 Oct 2026 …`), and the items of
//! a `cookies` array.

use super::REDACTED;

/// How a cookie string is laid out.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Style {
    /// `a=1; b=2`: every pair is a cookie.
    Cookie,
    /// `a=1; Path=/; HttpOnly`: the first pair is the cookie, the rest its attributes.
    SetCookie,
}

/// `value` (one header value, possibly several cookies joined by `, `) with every cookie's value
/// redacted, except cookies whose name `keep` says to keep.
pub(crate) fn redact(value: &str, style: Style, keep: &dyn Fn(&str) -> bool) -> String {
    let mut out = String::with_capacity(value.len());
    let mut rest = value;
    loop {
        let end = next_cookie_start(rest);
        let (cookie, tail) = rest.split_at(end.unwrap_or(rest.len()));
        redact_one(cookie, style, keep, &mut out);
        match end {
            Some(_) => {
                // The `,` and the spaces after it.
                let separator = tail.len() - tail[1..].trim_start_matches(' ').len();
                out.push_str(&tail[..separator]);
                rest = &tail[separator..];
            }
            None => return out,
        }
    }
}

/// The offset of the first `,` in `text` that starts another cookie: one followed (after spaces) by a
/// cookie name and `=`; not the comma of an `Expires` date.
fn next_cookie_start(text: &str) -> Option<usize> {
    let bytes = text.as_bytes();
    (0..bytes.len()).find(|&i| {
        bytes[i] == b','
            && text.get(i + 1..).is_some_and(|after| {
                let after = after.trim_start_matches(' ');
                let name = after.bytes().take_while(|&b| is_name_byte(b)).count();
                name > 0 && after.as_bytes().get(name) == Some(&b'=')
            })
    })
}

/// A byte of a cookie name (an RFC 6265 token).
fn is_name_byte(byte: u8) -> bool {
    byte.is_ascii_graphic() && !b"()<>@,;:\\\"/[]?={}".contains(&byte)
}

fn redact_one(cookie: &str, style: Style, keep: &dyn Fn(&str) -> bool, out: &mut String) {
    for (index, part) in cookie.split(';').enumerate() {
        if index > 0 {
            out.push(';');
        }
        if index > 0 && style == Style::SetCookie {
            out.push_str(part);
            continue;
        }
        match part.split_once('=') {
            Some((name, value)) if value.trim().is_empty() || keep(name.trim()) => out.push_str(part),
            Some((name, _)) => {
                out.push_str(name);
                out.push('=');
                out.push_str(REDACTED);
            }
            None if part.trim().is_empty() => out.push_str(part),
            None => {
                let leading = part.len() - part.trim_start().len();
                out.push_str(&part[..leading]);
                out.push_str(REDACTED);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> bool {
        false
    }

    #[test]
    fn cookie_headers_keep_names() {
        assert_eq!(
            redact("sid=abc; theme=dark", Style::Cookie, &none),
            "sid=[REDACTED]; theme=[REDACTED]"
        );
        assert_eq!(redact("a=1, b=2", Style::Cookie, &none), "a=[REDACTED], b=[REDACTED]");
        assert_eq!(redact("bare; x=", Style::Cookie, &none), "[REDACTED]; x=");
        assert_eq!(
            redact("sid=abc; theme=dark", Style::Cookie, &|n| n == "theme"),
            "sid=[REDACTED]; theme=dark"
        );
    }

    #[test]
    fn set_cookie_headers_keep_attributes_and_split_on_cookie_commas_only() {
        assert_eq!(
            redact("a=1; Path=/; HttpOnly", Style::SetCookie, &none),
            "a=[REDACTED]; Path=/; HttpOnly"
        );
        assert_eq!(
            redact(
                "a=1; Path=/, b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT, c=3",
                Style::SetCookie,
                &none
            ),
            "a=[REDACTED]; Path=/, b=[REDACTED]; Expires=Wed, 21 Oct 2026 07:28:00 GMT, c=[REDACTED]"
        );
        assert_eq!(
            redact("sid=S3CRET; HttpOnly", Style::SetCookie, &none),
            "sid=[REDACTED]; HttpOnly"
        );
        assert_eq!(redact("", Style::SetCookie, &none), "");
    }
}
