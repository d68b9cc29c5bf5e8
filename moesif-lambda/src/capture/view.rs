//! [`RequestView`]: the HTTP request inside a Lambda event, read the same way whatever its shape, for
//! hooks (`identify_user`, `skip`, …) that receive the raw event.

use super::request::RequestParts;
use super::shape::{field, EventShape};
use percent_encoding::percent_decode_str;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The HTTP request of a Lambda event, the same for API Gateway REST (v1) and HTTP API (v2), ALB,
/// Function URLs, WebSocket and VPC Lattice: method, path, query parameters, and headers looked up
/// without regard to case (`headers` or `multiValueHeaders`).
///
/// ```
/// use moesif_lambda::{Options, RequestView};
///
/// const OPTIONS: Options = Options::new()
///     .identify_user(|event, _| RequestView::of(event)?.header("x-user-id").map(String::from))
///     .skip(|event, _| RequestView::of(event).is_some_and(|r| r.path() == "/health"));
///
/// let v1 = serde_json::json!({"httpMethod": "GET", "path": "/health",
///     "headers": {"X-User-Id": "u-1"}, "queryStringParameters": {"page": "2"}, "requestContext": {}});
/// let view = RequestView::of(&v1).unwrap();
/// assert_eq!((view.method().as_str(), view.path().as_str()), ("GET", "/health"));
/// assert_eq!(view.header("x-user-id"), Some("u-1"));
/// assert_eq!(view.query("page").as_deref(), Some("2"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    event: &'a Value,
    shape: EventShape,
    /// The event's `headers` and `multiValueHeaders` objects, found once (governance reads many
    /// headers per request).
    headers: Option<&'a Map<String, Value>>,
    multi_value_headers: Option<&'a Map<String, Value>>,
}

impl<'a> RequestView<'a> {
    /// The request of `event`; `None` when it is not an HTTP event (SQS, S3, …).
    pub fn of(event: &'a Value) -> Option<Self> {
        let shape = EventShape::detect(event);
        shape.is_http().then(|| RequestView::of_shape(event, shape))
    }

    /// The request of `event`, whose shape is known to be `shape` (an HTTP one).
    pub(crate) fn of_shape(event: &'a Value, shape: EventShape) -> Self {
        let object = |key: &str| field(event.as_object()?, key)?.as_object();
        RequestView {
            event,
            shape,
            headers: object("headers"),
            multi_value_headers: object("multiValueHeaders"),
        }
    }

    /// The HTTP method (`GET`, …); a WebSocket `CONNECT` is `GET`, its other events `POST`.
    pub fn method(&self) -> String {
        RequestParts::head(self.event, self.shape).verb
    }

    /// The path, without the query (`/` when there is none).
    pub fn path(&self) -> String {
        RequestParts::head(self.event, self.shape).path
    }

    /// A header's value, its name matched without regard to case; the first of a multi-value header.
    pub fn header(&self, name: &str) -> Option<&'a str> {
        let found = |headers: Option<&'a Map<String, Value>>| {
            headers?
                .iter()
                .find(|(header, _)| header.eq_ignore_ascii_case(name))
                .map(|(_, value)| value)
        };
        match found(self.headers) {
            Some(Value::String(value)) => Some(value),
            _ => found(self.multi_value_headers)?.get(0)?.as_str(),
        }
    }

    /// A query parameter's value (the first, if repeated), decoded.
    pub fn query(&self, name: &str) -> Option<Cow<'a, str>> {
        let lookup = |key: &str| self.event.get(key)?.as_object()?.get(name);
        let value = lookup("queryStringParameters")
            .or_else(|| lookup("multiValueQueryStringParameters"))
            .or_else(|| lookup("query_string_parameters"))?;
        let text = match value {
            Value::Array(values) => values.first()?.as_str()?,
            other => other.as_str()?,
        };
        // ALB hands query parameters over still URL-encoded.
        Some(match self.shape {
            EventShape::Alb => percent_decode_str(text).decode_utf8_lossy(),
            _ => Cow::Borrowed(text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_shape_reads_the_same() {
        let v1 = json!({"httpMethod": "POST", "path": "/orders", "headers": {"X-Tenant": "acme"},
            "queryStringParameters": {"q": "a b"}, "requestContext": {}});
        let v2 = json!({"version": "2.0", "rawPath": "/orders", "rawQueryString": "q=a%20b",
            "headers": {"x-tenant": "acme"}, "queryStringParameters": {"q": "a b"},
            "requestContext": {"http": {"method": "POST"}}});
        let url = json!({"version": "2.0", "rawPath": "/orders", "headers": {"X-TENANT": "acme"},
            "queryStringParameters": {"q": "a b"},
            "requestContext": {"domainName": "x.lambda-url.us-east-1.on.aws", "http": {"method": "POST"}}});
        let alb = json!({"httpMethod": "POST", "path": "/orders", "requestContext": {"elb": {}},
            "multiValueHeaders": {"x-tenant": ["acme", "other"]},
            "multiValueQueryStringParameters": {"q": ["a%20b"]}});
        for event in [v1, v2, url, alb] {
            let view = RequestView::of(&event);
            let read = view.map(|v| {
                (
                    v.method(),
                    v.path(),
                    v.header("X-Tenant"),
                    v.query("q").map(Cow::into_owned),
                )
            });
            let expected = (
                "POST".to_owned(),
                "/orders".to_owned(),
                Some("acme"),
                Some("a b".to_owned()),
            );
            assert_eq!(read, Some(expected), "{event}");
        }
        assert!(RequestView::of(&json!({"Records": []})).is_none());
    }
}
