//! The client's IP address: forwarded headers first (the reference's order, names matched without
//! regard to case), then the platform's source IP. With `trusted_source_ip_only`, the source IP alone.

use super::headers::header;
use serde_json::Value;
use std::net::IpAddr;

/// Headers that may carry the client IP, in the order the reference reads them.
const CLIENT_IP_HEADERS: [&str; 9] = [
    "x-client-ip",
    "x-forwarded-for",
    "cf-connecting-ip",
    "true-client-ip",
    "x-real-ip",
    "x-cluster-client-ip",
    "x-forwarded",
    "forwarded-for",
    "forwarded",
];

/// The client IP from `headers`, else `source_ip`.
pub(crate) fn client_ip(headers: &Value, source_ip: Option<&str>, trusted_only: bool) -> Option<String> {
    client_ip_by(|name| header(headers, name), source_ip, trusted_only)
}

/// [`client_ip`], the headers read by `header` (a lowercase name, matched in any case).
pub(crate) fn client_ip_by<'a>(
    header: impl Fn(&str) -> Option<&'a str>,
    source_ip: Option<&str>,
    trusted_only: bool,
) -> Option<String> {
    if !trusted_only {
        for name in CLIENT_IP_HEADERS {
            let Some(value) = header(name) else { continue };
            let found = if name == "x-forwarded-for" {
                first_forwarded_ip(value)
            } else {
                Some(value.trim()).filter(|v| is_ip(v))
            };
            if let Some(ip) = found {
                return Some(ip.to_owned());
            }
        }
    }
    source_ip.filter(|ip| !ip.is_empty()).map(str::to_owned)
}

/// The left-most address of an `X-Forwarded-For` chain that is an IP (skipping `unknown`); an
/// `ip:port` entry counts as its IP.
fn first_forwarded_ip(chain: &str) -> Option<&str> {
    chain.split(',').map(str::trim).find_map(|entry| {
        if is_ip(entry) {
            return Some(entry);
        }
        match entry.split_once(':') {
            Some((ip, port)) if !port.contains(':') && is_ip(ip) => Some(ip),
            _ => None,
        }
    })
}

fn is_ip(text: &str) -> bool {
    text.parse::<IpAddr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn forwarded_for_chain_skips_unknown() {
        let headers = json!({"X-Forwarded-For": "unknown, 203.0.113.7, 10.0.0.1"});
        assert_eq!(
            client_ip(&headers, Some("1.1.1.1"), false).as_deref(),
            Some("203.0.113.7")
        );
    }

    #[test]
    fn header_names_ignore_case() {
        let headers = json!({"x-forwarded-for": "123.123.123.123"});
        assert_eq!(client_ip(&headers, None, false).as_deref(), Some("123.123.123.123"));
    }

    #[test]
    fn port_is_dropped_and_ipv6_accepted() {
        assert_eq!(first_forwarded_ip("10.1.2.3:8080"), Some("10.1.2.3"));
        assert_eq!(first_forwarded_ip("2001:db8::1"), Some("2001:db8::1"));
    }

    #[test]
    fn falls_back_to_source_ip() {
        let headers = json!({"X-Real-Ip": "not an ip"});
        assert_eq!(
            client_ip(&headers, Some("192.168.0.1/32"), false).as_deref(),
            Some("192.168.0.1/32")
        );
        assert_eq!(client_ip(&headers, Some(""), false), None);
    }

    #[test]
    fn trusted_only_ignores_headers() {
        let headers = json!({"X-Forwarded-For": "6.6.6.6"});
        assert_eq!(client_ip(&headers, Some("1.2.3.4"), true).as_deref(), Some("1.2.3.4"));
    }
}
