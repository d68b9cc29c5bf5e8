//! Only what the capture reads of an event: the hot path copies (and the delivery path parses) the
//! fields the Moesif event is built from, not the whole Lambda event.
//!
//! What is read depends on the options and the context ([`Keep::of`]): a user hook that receives the
//! event (`skip`, `identify_user`, `metadata`, …) may read any field, so then the whole event is kept;
//! the default metadata carries the whole `requestContext`, kept when that metadata is built. Otherwise
//! only the fields below: the request line, headers, query, cookies, body, and the few request-context
//! fields that say the shape, the time, the client and the default identity. A field added to the
//! capture's reads must be added here (the conformance tests fail otherwise).

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use std::fmt;

/// How much of an event to keep.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Keep {
    /// Every field (a hook reads the event).
    Whole,
    /// The fields the capture reads; `request_context`: the whole `requestContext` (default metadata).
    Needed { request_context: bool },
}

impl Keep {
    /// What invocations under `options` need of their events; `default_metadata`: whether the default
    /// metadata (which carries the request context) is built for them.
    pub(crate) fn of(options: &crate::options::Options, default_metadata: bool) -> Keep {
        let hook_reads_event = options.skip.is_set()
            || options.identify_user.is_set()
            || options.identify_company.is_set()
            || options.session_token.is_set()
            || options.api_version.is_set()
            || options.metadata.is_set();
        match hook_reads_event {
            true => Keep::Whole,
            false => Keep::Needed {
                request_context: default_metadata,
            },
        }
    }

    fn fields(self) -> Option<&'static Fields> {
        match self {
            Keep::Whole => None,
            Keep::Needed { request_context: true } => Some(&EVENT_WITH_CONTEXT),
            Keep::Needed { request_context: false } => Some(&EVENT),
        }
    }

    /// A copy of `event` with what is kept (the order of its fields as they are).
    pub(crate) fn copy(self, event: &Value) -> Value {
        match self.fields() {
            Some(fields) => copy(event, fields),
            None => event.clone(),
        }
    }

    /// `bytes` parsed as JSON, only what is kept (the rest is skipped over, never built).
    pub(crate) fn parse(self, bytes: &[u8]) -> serde_json::Result<Value> {
        match self.fields() {
            Some(fields) => {
                let mut deserializer = serde_json::Deserializer::from_slice(bytes);
                let value = Only(fields).deserialize(&mut deserializer)?;
                deserializer.end()?;
                Ok(value)
            }
            None => serde_json::from_slice(bytes),
        }
    }
}

/// The fields kept of an object, each whole or only some of its own fields.
struct Fields(&'static [(&'static str, Field)]);

#[derive(Clone, Copy)]
enum Field {
    Whole,
    Only(&'static Fields),
    /// Whole, unless the named sibling is a non-empty object (which is read instead).
    UnlessGiven(&'static str),
}

impl Fields {
    fn get(&self, key: &str) -> Option<Field> {
        self.0.iter().find(|(name, _)| *name == key).map(|(_, field)| *field)
    }
}

/// The request context fields the capture reads (shape, time, client address, default identity).
const REQUEST_CONTEXT: Fields = Fields(&[
    ("http", Field::Whole),
    ("identity", Field::Only(&IDENTITY)),
    ("domainName", Field::Whole),
    ("requestTimeEpoch", Field::Whole),
    ("timeEpoch", Field::Whole),
    ("elb", Field::Whole),
    ("connectionId", Field::Whole),
    ("eventType", Field::Whole),
    ("stage", Field::Whole),
    ("routeKey", Field::Whole),
]);

const IDENTITY: Fields = Fields(&[
    ("sourceIp", Field::Whole),
    ("cognitoIdentityId", Field::Whole),
    ("apiKey", Field::Whole),
]);

/// The top-level fields of every HTTP shape (REST, HTTP API, ALB, WebSocket, VPC Lattice v1 and v2).
macro_rules! event_fields {
    ($request_context:expr) => {
        Fields(&[
            ("version", Field::Whole),
            ("httpMethod", Field::Whole),
            ("path", Field::Whole),
            ("rawPath", Field::Whole),
            ("rawQueryString", Field::Whole),
            ("headers", Field::Whole),
            ("multiValueHeaders", Field::Whole),
            // REST and ALB read the multi-value parameters when there are any.
            (
                "queryStringParameters",
                Field::UnlessGiven("multiValueQueryStringParameters"),
            ),
            ("multiValueQueryStringParameters", Field::Whole),
            ("cookies", Field::Whole),
            ("body", Field::Whole),
            ("isBase64Encoded", Field::Whole),
            ("requestContext", $request_context),
            ("method", Field::Whole),
            ("raw_path", Field::Whole),
            ("query_string_parameters", Field::Whole),
            ("is_base64_encoded", Field::Whole),
        ])
    };
}

const EVENT: Fields = event_fields!(Field::Only(&REQUEST_CONTEXT));
const EVENT_WITH_CONTEXT: Fields = event_fields!(Field::Whole);

fn copy(value: &Value, fields: &'static Fields) -> Value {
    let Value::Object(object) = value else {
        return value.clone();
    };
    let mut kept = Map::with_capacity(object.len().min(fields.0.len()));
    for (key, value) in object {
        match fields.get(key) {
            Some(Field::Only(fields)) => {
                kept.insert(key.clone(), copy(value, fields));
            }
            Some(Field::UnlessGiven(sibling)) if is_given(super::shape::field(object, sibling)) => {}
            Some(Field::Whole | Field::UnlessGiven(_)) => {
                kept.insert(key.clone(), value.clone());
            }
            None => {}
        }
    }
    Value::Object(kept)
}

fn is_given(value: Option<&Value>) -> bool {
    value
        .and_then(Value::as_object)
        .is_some_and(|object| !object.is_empty())
}

/// Deserialises a JSON value keeping, if it is an object, only `Fields`.
struct Only(&'static Fields);

impl<'de> DeserializeSeed<'de> for Only {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Only {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut kept = Map::new();
        while let Some(key) = map.next_key::<KeyText<'de>>()? {
            match self.0.get(key.as_str()) {
                Some(Field::Whole) => {
                    kept.insert(key.into_owned(), map.next_value::<Value>()?);
                }
                Some(Field::Only(fields)) => {
                    kept.insert(key.into_owned(), map.next_value_seed(Only(fields))?);
                }
                // Kept: its sibling may come later (a parse reads each field once, in order).
                Some(Field::UnlessGiven(_)) => {
                    kept.insert(key.into_owned(), map.next_value::<Value>()?);
                }
                None => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(Value::Object(kept))
    }

    // Not an object: the value as it is.
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Value>()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
}

/// An object key, borrowed from the input when it has no escapes (most keys: nothing allocated for the
/// keys that are skipped).
enum KeyText<'de> {
    Borrowed(&'de str),
    Owned(String),
}

impl KeyText<'_> {
    fn as_str(&self) -> &str {
        match self {
            KeyText::Borrowed(text) => text,
            KeyText::Owned(text) => text,
        }
    }

    fn into_owned(self) -> String {
        match self {
            KeyText::Borrowed(text) => text.to_owned(),
            KeyText::Owned(text) => text,
        }
    }
}

impl<'de> serde::Deserialize<'de> for KeyText<'de> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = KeyText<'de>;

            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object key")
            }

            fn visit_borrowed_str<E>(self, key: &'de str) -> Result<KeyText<'de>, E> {
                Ok(KeyText::Borrowed(key))
            }

            fn visit_str<E>(self, key: &str) -> Result<KeyText<'de>, E> {
                Ok(KeyText::Owned(key.to_owned()))
            }
        }
        deserializer.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event() -> Value {
        json!({
            "resource": "/p", "path": "/p", "httpMethod": "GET",
            "headers": {"Host": "h", "X-A": "1"}, "queryStringParameters": {"b": "2", "a": "1"},
            "pathParameters": {"id": "7"}, "stageVariables": {"s": "v"},
            "requestContext": {"accountId": "1", "domainName": "d", "requestTimeEpoch": 5,
                "identity": {"sourceIp": "1.2.3.4", "apiKey": "k", "userAgent": "ua"},
                "authorizer": {"claims": {"sub": "u"}}},
            "body": "{\"x\": [1, 2]}", "isBase64Encoded": false
        })
    }

    fn needed() -> Value {
        json!({
            "path": "/p", "httpMethod": "GET",
            "headers": {"Host": "h", "X-A": "1"}, "queryStringParameters": {"b": "2", "a": "1"},
            "requestContext": {"domainName": "d", "requestTimeEpoch": 5,
                "identity": {"sourceIp": "1.2.3.4", "apiKey": "k"}},
            "body": "{\"x\": [1, 2]}", "isBase64Encoded": false
        })
    }

    #[test]
    fn copy_and_parse_keep_the_same_fields_in_their_order() {
        let event = event();
        let bytes = serde_json::to_vec(&event).unwrap_or_default();
        let keep = Keep::Needed { request_context: false };
        for kept in [keep.copy(&event), keep.parse(&bytes).unwrap_or_default()] {
            assert_eq!(kept, needed());
            let query: Vec<&String> = kept["queryStringParameters"]
                .as_object()
                .map(|q| q.keys().collect())
                .unwrap_or_default();
            assert_eq!(query, ["b", "a"], "the event's order");
        }
    }

    #[test]
    fn the_whole_request_context_or_the_whole_event_when_asked() {
        let event = event();
        let bytes = serde_json::to_vec(&event).unwrap_or_default();
        let with_context = Keep::Needed { request_context: true };
        assert_eq!(with_context.copy(&event)["requestContext"], event["requestContext"]);
        assert_eq!(
            with_context.parse(&bytes).ok().map(|v| v["requestContext"].clone()),
            Some(event["requestContext"].clone())
        );
        assert_eq!(Keep::Whole.copy(&event), event);
        assert_eq!(Keep::Whole.parse(&bytes).ok(), Some(event));
    }

    #[test]
    fn single_value_parameters_are_left_out_when_multi_value_ones_are_given() {
        let keep = Keep::Needed { request_context: false };
        let both = json!({"queryStringParameters": {"a": "2"}, "multiValueQueryStringParameters": {"a": ["1", "2"]}});
        assert_eq!(
            keep.copy(&both),
            json!({"multiValueQueryStringParameters": {"a": ["1", "2"]}})
        );
        let empty_multi = json!({"queryStringParameters": {"a": "2"}, "multiValueQueryStringParameters": {}});
        assert_eq!(keep.copy(&empty_multi), empty_multi);
    }

    #[test]
    fn odd_values_are_kept_as_they_are_and_bad_json_fails() {
        let keep = Keep::Needed { request_context: false };
        let odd = json!({"requestContext": null, "headers": [1, "a"], "path": "/\u{e9}\"", "version": 2.5});
        let bytes = serde_json::to_vec(&odd).unwrap_or_default();
        assert_eq!(keep.parse(&bytes).ok(), Some(odd.clone()));
        assert_eq!(keep.copy(&odd), odd);
        assert_eq!(
            keep.parse(br#"["x", {"path": 1}]"#).ok(),
            Some(json!(["x", {"path": 1}]))
        );
        assert_eq!(keep.parse(br#"{"pa\u0074h": "/e"}"#).ok(), Some(json!({"path": "/e"})));
        assert!(keep.parse(b"{\"path\": ").is_err());
        assert!(keep.parse(b"{} x").is_err());
    }
}
