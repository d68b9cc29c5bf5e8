//! Which kind of Lambda event an invocation carries, and the reads every shape shares.
//!
//! Detection order (first match wins):
//! 1. not a JSON object: [`EventShape::Unknown`];
//! 2. `version` absent or `"1.0"`: `httpMethod` with `requestContext.elb` is [`EventShape::Alb`], with
//!    anything else [`EventShape::ApiGatewayV1`]; `requestContext.connectionId` + `eventType` is
//!    [`EventShape::WebSocket`]; `raw_path` + `method` is [`EventShape::VpcLatticeV1`];
//! 3. any other `version`: `requestContext.http.method` is [`EventShape::ApiGatewayV2`] (a Function URL
//!    when the domain is `*.lambda-url.*`), `method` + `path` is [`EventShape::VpcLatticeV2`];
//! 4. anything else (SQS, S3, a custom payload …) is [`EventShape::Unknown`] and is not logged.

use serde_json::Value;

/// The shape of a Lambda event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EventShape {
    /// API Gateway REST API (payload format 1.0).
    ApiGatewayV1,
    /// API Gateway HTTP API (payload format 2.0).
    ApiGatewayV2,
    /// Lambda Function URL (payload format 2.0).
    FunctionUrl,
    /// Application Load Balancer target.
    Alb,
    /// API Gateway WebSocket API.
    WebSocket,
    /// VPC Lattice, payload version 1.
    VpcLatticeV1,
    /// VPC Lattice, payload version 2.
    VpcLatticeV2,
    /// Not an HTTP event: passed through, nothing logged.
    Unknown,
}

impl EventShape {
    /// Detects the shape of `event` (see the module docs for the order).
    pub fn detect(event: &Value) -> EventShape {
        let Some(object) = event.as_object() else {
            return EventShape::Unknown;
        };
        let context = field(object, "requestContext");
        let version = field(object, "version").and_then(Value::as_str).unwrap_or("1.0");
        let has_str = |key: &str| field(object, key).is_some_and(Value::is_string);
        if version == "1.0" {
            if has_str("httpMethod") {
                if context.and_then(|c| at(c, &["elb"])).is_some() {
                    EventShape::Alb
                } else {
                    EventShape::ApiGatewayV1
                }
            } else if str_at(event, &["requestContext", "connectionId"]).is_some()
                && str_at(event, &["requestContext", "eventType"]).is_some()
            {
                EventShape::WebSocket
            } else if has_str("raw_path") && has_str("method") {
                EventShape::VpcLatticeV1
            } else {
                EventShape::Unknown
            }
        } else if str_at(event, &["requestContext", "http", "method"]).is_some() {
            if str_at(event, &["requestContext", "domainName"]).is_some_and(|d| d.contains(".lambda-url.")) {
                EventShape::FunctionUrl
            } else {
                EventShape::ApiGatewayV2
            }
        } else if has_str("method") && has_str("path") {
            EventShape::VpcLatticeV2
        } else {
            EventShape::Unknown
        }
    }

    /// Whether this shape is an HTTP call that gets logged.
    pub fn is_http(self) -> bool {
        self != EventShape::Unknown
    }
}

/// The value at a path of object keys (`&["requestContext", "http", "method"]`), if there is one.
/// Unlike [`Value::pointer`], it allocates nothing: these lookups run for every event.
pub(crate) fn at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(value, |value, key| field(value.as_object()?, key))
}

/// A JSON object of `fields`, moved in (`json!` would copy each value through its serialiser).
pub(crate) fn object<'a>(fields: impl IntoIterator<Item = (&'a str, Value)>) -> Value {
    Value::Object(fields.into_iter().map(|(key, value)| (key.to_owned(), value)).collect())
}

/// `object[key]`: a scan of a small object (most of an event's are) costs less than hashing the key.
pub(crate) fn field<'a>(object: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    match object.len() {
        0..=16 => object.iter().find(|(name, _)| *name == key).map(|(_, value)| value),
        _ => object.get(key),
    }
}

/// The string at a path of object keys ([`at`]), if there is one.
pub(crate) fn str_at<'a>(value: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(value, path).and_then(Value::as_str)
}

/// A non-empty string at a path of object keys (the reference treats `""` like a missing value).
pub(crate) fn non_empty_str_at(value: &Value, path: &[&str]) -> Option<String> {
    str_at(value, path).filter(|s| !s.is_empty()).map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn detects_every_shape() {
        let cases = [
            (
                json!({"httpMethod": "GET", "requestContext": {"elb": {}}}),
                EventShape::Alb,
            ),
            (json!({"version": "1.0", "httpMethod": "GET"}), EventShape::ApiGatewayV1),
            (
                json!({"requestContext": {"connectionId": "c", "eventType": "MESSAGE"}}),
                EventShape::WebSocket,
            ),
            (json!({"raw_path": "/", "method": "GET"}), EventShape::VpcLatticeV1),
            (
                json!({"version": "2.0", "path": "/", "method": "GET"}),
                EventShape::VpcLatticeV2,
            ),
            (
                json!({"version": "2.0", "requestContext": {"http": {"method": "GET"}, "domainName": "x.lambda-url.us-east-1.on.aws"}}),
                EventShape::FunctionUrl,
            ),
            (json!({"Records": []}), EventShape::Unknown),
            (json!("text"), EventShape::Unknown),
            (json!({"httpMethod": 5}), EventShape::Unknown),
        ];
        for (event, shape) in cases {
            assert_eq!(EventShape::detect(&event), shape, "{event}");
        }
    }
}
