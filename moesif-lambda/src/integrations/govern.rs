//! Governance enforced where the library meets the user's code: the request read as the rules see it
//! (before the handler runs), and what the rules decided turned into the caller's answer: a blocked
//! answer in the event's own shape, or the rules' headers added to the handler's answer.

use crate::capture::shape::EventShape;
use crate::delivery::Governed;
use crate::governance::{Decision, Request};
use crate::options::Options;
use lambda_runtime::Context;
use serde_json::{json, Map, Value};

/// What the governance rules decided for an invocation of an annotated handler (some rule applies),
/// read before its body runs: the blocked answer, or the headers added to the handler's.
pub struct Governance {
    pub(crate) decision: Decision,
    pub(crate) shape: EventShape,
    /// The event had `multiValueHeaders` (an ALB target group with them on).
    pub(crate) multi_value: bool,
    /// The event is a `lambda_http` request (its answer is an `http::Response`, not Lambda JSON).
    pub(crate) lambda_http: bool,
}

impl Governance {
    /// Whether a rule blocks the request.
    pub fn blocks(&self) -> bool {
        self.decision.blocked.is_some()
    }

    /// The `_id` of the rule that blocks the request.
    pub(crate) fn blocked_by(&self) -> Option<&str> {
        self.decision.blocked.as_ref().map(|blocked| blocked.rule_id.as_str())
    }

    /// The blocked answer as the Lambda response JSON of the event's shape.
    pub(crate) fn blocked_json(&self) -> Option<Value> {
        blocked_json(&self.decision, self.shape, self.multi_value)
    }
}

/// What an event is governed with: the rules in force, the options and the Lambda context.
pub struct GovernWith<'a> {
    pub(crate) governed: &'a Governed,
    pub(crate) options: &'a Options,
    pub(crate) context: &'a Context,
}

/// The event of an annotated handler, as a probe lends it to governance. Each kind is its own type, so
/// a handler links only the reading of its own kind of event.
pub trait GovernEvent {
    /// What the rules decide for it.
    fn decide(self, with: GovernWith<'_>) -> Option<Governance>;
}

/// A JSON event.
pub struct JsonEvent<'a>(pub(crate) &'a Value);

impl GovernEvent for JsonEvent<'_> {
    fn decide(self, with: GovernWith<'_>) -> Option<Governance> {
        decide_event(with.governed, with.options, with.context, self.0)
    }
}

/// A typed event (`aws_lambda_events` types), seen as JSON only when there are rules.
pub struct TypedEvent<'a>(pub(crate) &'a dyn ToJson);

/// A serialisable event, behind a reference that does not name its type.
pub(crate) trait ToJson {
    fn to_json(&self) -> Option<Value>;
}

impl<T: serde::Serialize> ToJson for T {
    fn to_json(&self) -> Option<Value> {
        serde_json::to_value(self).ok()
    }
}

impl GovernEvent for TypedEvent<'_> {
    fn decide(self, with: GovernWith<'_>) -> Option<Governance> {
        decide_event(with.governed, with.options, with.context, &self.0.to_json()?)
    }
}

/// A `lambda_http` request.
#[cfg(feature = "http")]
pub struct HttpEvent<'a>(pub(crate) &'a lambda_http::Request);

#[cfg(feature = "http")]
impl GovernEvent for HttpEvent<'_> {
    fn decide(self, with: GovernWith<'_>) -> Option<Governance> {
        govern_http(with.governed, with.options, with.context, self.0)
    }
}

/// An event the attribute cannot read: not governed.
pub struct NoEvent;

impl GovernEvent for NoEvent {
    fn decide(self, _with: GovernWith<'_>) -> Option<Governance> {
        None
    }
}

#[cfg(feature = "http")]
fn govern_http(
    governed: &Governed,
    options: &Options,
    context: &Context,
    request: &lambda_http::Request,
) -> Option<Governance> {
    let body = || json_object(super::http::lambda_body_bytes(request.body())?, options.max_body_bytes);
    let decision = decide_http(governed, options, context, request, body, || {
        super::http::event_json_of(
            super::http::RequestHead::of(request),
            request,
            super::http::lambda_body_json(request.body()),
        )
    })?;
    Some(Governance {
        decision,
        shape: EventShape::Unknown,
        multi_value: false,
        lambda_http: true,
    })
}

/// What the rules decide for a `lambda_http` request (the layer's, a lambda_http handler's). `body`: the
/// request body, when it is in memory; `event`: the Lambda event it came from, rebuilt only when a user
/// or company rule needs the identify hooks.
#[cfg(feature = "http")]
pub(crate) fn decide_http<B>(
    governed: &Governed,
    options: &Options,
    context: &Context,
    request: &lambda_http::http::Request<B>,
    body: impl FnOnce() -> Option<Map<String, Value>>,
    event: impl FnOnce() -> Value,
) -> Option<Decision> {
    use lambda_http::request::RequestContext;
    use lambda_http::RequestExt as _;
    let rules = &governed.rules;
    let headers = request.headers();
    let header = |name: &str| headers.get(name).and_then(|value| value.to_str().ok());
    let source_ip = match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV1(c)) => c.identity.source_ip.as_deref(),
        Some(RequestContext::ApiGatewayV2(c)) => c.http.source_ip.as_deref(),
        Some(RequestContext::WebSocket(c)) => c.identity.source_ip.as_deref(),
        _ => None,
    };
    let ip = rules
        .uses_ip()
        .then(|| crate::capture::client_ip::client_ip_by(header, source_ip, options.trusted_source_ip_only))
        .flatten();
    let body = rules.uses_body().then(body).flatten();
    let (user_id, company_id) = entities(rules, options, context, || std::borrow::Cow::Owned(event()));
    let raw_path = request.raw_http_path();
    let route = Some(raw_path).filter(|p| !p.is_empty()).unwrap_or(request.uri().path());
    governed.evaluate(&Request {
        verb: request.method().as_str(),
        route,
        ip: ip.as_deref(),
        header: &header,
        body: body.as_ref(),
        user_id: user_id.as_deref(),
        company_id: company_id.as_deref(),
    })
}

/// What the rules decide for a Lambda event (the attribute's JSON and typed events).
fn decide_event(governed: &Governed, options: &Options, context: &Context, event: &Value) -> Option<Governance> {
    let rules = &governed.rules;
    let hot = crate::capture::HotRequest::of(event, rules.uses_ip(), options.trusted_source_ip_only)?;
    let view = hot.view;
    let remembered = crate::governance::remembering_last(|name| view.header(name));
    let header = |name: &str| remembered(name);
    let body = rules
        .uses_body()
        .then(|| crate::capture::json_body_of(event, options.max_body_bytes))
        .flatten();
    let (user_id, company_id) = entities(rules, options, context, || std::borrow::Cow::Borrowed(event));
    let decision = governed.evaluate(&Request {
        verb: &hot.verb,
        route: &hot.route,
        ip: hot.ip.as_deref(),
        header: &header,
        body: body.as_ref(),
        user_id: user_id.as_deref(),
        company_id: company_id.as_deref(),
    })?;
    Some(Governance {
        decision,
        shape: hot.shape,
        multi_value: event.get("multiValueHeaders").is_some_and(Value::is_object),
        lambda_http: false,
    })
}

/// The top-level object of a JSON body no larger than `max_bytes`.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // used by the lambda_http integrations
pub(crate) fn json_object(bytes: &[u8], max_bytes: usize) -> Option<Map<String, Value>> {
    if bytes.len() > max_bytes {
        return None;
    }
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(object)) => Some(object),
        _ => None,
    }
}

/// The user and company ids, from the identify hooks, only when a rule of that kind exists.
fn entities<'a>(
    rules: &crate::governance::Rules,
    options: &Options,
    context: &Context,
    event: impl FnOnce() -> std::borrow::Cow<'a, Value>,
) -> (Option<String>, Option<String>) {
    let needs = (rules.uses_user(), rules.uses_company());
    if needs == (false, false) {
        return (None, None);
    }
    crate::capture::entities_of(&event(), context, options, needs)
}

/// The blocked answer as the Lambda response JSON of an event of `shape` (`multi_value`: an ALB target
/// group with multi-value headers on).
pub(crate) fn blocked_json(decision: &Decision, shape: EventShape, multi_value: bool) -> Option<Value> {
    let blocked = decision.blocked.as_ref()?;
    let headers = decision.blocked_headers()?;
    let mut answer = Map::new();
    answer.insert("statusCode".to_owned(), json!(blocked.status));
    if shape == EventShape::Alb {
        let reason = ureq::http::StatusCode::from_u16(blocked.status)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("");
        answer.insert(
            "statusDescription".to_owned(),
            json!(format!("{} {reason}", blocked.status).trim_end()),
        );
    }
    let key = if shape == EventShape::Alb && multi_value {
        "multiValueHeaders"
    } else {
        "headers"
    };
    let headers: Map<String, Value> = headers
        .into_iter()
        .map(|(name, value)| {
            (
                name,
                if multi_value && shape == EventShape::Alb {
                    json!([value])
                } else {
                    json!(value)
                },
            )
        })
        .collect();
    answer.insert(key.to_owned(), Value::Object(headers));
    answer.insert("body".to_owned(), json!(blocked.body_text()));
    answer.insert("isBase64Encoded".to_owned(), json!(false));
    if matches!(shape, EventShape::ApiGatewayV2 | EventShape::FunctionUrl) {
        // Part of the v2 answer (and required by `aws_lambda_events`' type of it).
        answer.insert("cookies".to_owned(), json!([]));
    }
    Some(Value::Object(answer))
}

/// Adds the rules' headers to a Lambda response JSON (replacing the answer's of the same name, in
/// `headers` and `multiValueHeaders`); an answer that is not a response object (its own body) is left as
/// it is. Whether it was changed.
pub(crate) fn add_headers_json(answer: &mut Value, headers: &[(String, String)]) -> bool {
    let Some(object) = answer.as_object_mut().filter(|o| o.contains_key("statusCode")) else {
        return false;
    };
    if headers.is_empty() {
        return false;
    }
    let multi = object.get("multiValueHeaders").is_some_and(Value::is_object);
    for (key, multi_key) in [("headers", false), ("multiValueHeaders", true)] {
        if multi_key && !multi {
            continue;
        }
        if !multi_key && multi && !object.contains_key("headers") {
            continue;
        }
        let entry = object.entry(key).or_insert_with(|| json!({}));
        if !entry.is_object() {
            *entry = json!({});
        }
        if let Some(map) = entry.as_object_mut() {
            for (name, value) in headers {
                map.retain(|existing, _| !existing.eq_ignore_ascii_case(name));
                map.insert(name.clone(), if multi_key { json!([value]) } else { json!(value) });
            }
        }
    }
    true
}

/// The blocked answer as an `http::Response` head and body (header values that cannot be sent are left
/// out).
#[cfg(feature = "http")]
pub(crate) fn blocked_http(decision: &Decision) -> Option<(lambda_http::http::response::Parts, bytes::Bytes)> {
    use lambda_http::http;
    let blocked = decision.blocked.as_ref()?;
    let mut response = http::Response::new(());
    *response.status_mut() = http::StatusCode::from_u16(blocked.status).unwrap_or(http::StatusCode::BAD_GATEWAY);
    add_headers_http(response.headers_mut(), &decision.blocked_headers()?);
    Some((response.into_parts().0, bytes::Bytes::from(blocked.body_text())))
}

/// Adds the rules' headers to an `http` header map, replacing those of the same name.
#[cfg(feature = "http")]
pub(crate) fn add_headers_http(map: &mut lambda_http::http::HeaderMap, headers: &[(String, String)]) {
    use lambda_http::http::{HeaderName, HeaderValue};
    for (name, value) in headers {
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(name), Ok(value)) => {
                map.insert(name, value);
            }
            _ => tracing::debug!(header = %name, "moesif: a governance header that cannot be sent is left out"),
        }
    }
}

/// The answer of an annotated lambda_http handler declared `Result<impl IntoResponse, E>`: the rule's
/// response for a blocked request, else the handler's own, with the rules' headers added (replacing the
/// handler's of the same name) once it is a response. Not a public API.
#[cfg(feature = "http")]
pub enum GovernedResponse<T> {
    /// The blocked answer.
    Blocked(lambda_http::Response<lambda_http::Body>),
    /// The handler's answer and the headers to add.
    Handler(T, Vec<(String, String)>),
}

#[cfg(feature = "http")]
impl<T: lambda_http::IntoResponse> lambda_http::IntoResponse for GovernedResponse<T> {
    fn into_response(
        self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = lambda_http::Response<lambda_http::Body>> + Send>> {
        match self {
            GovernedResponse::Blocked(response) => Box::pin(std::future::ready(response)),
            GovernedResponse::Handler(answer, headers) => {
                let response = answer.into_response();
                Box::pin(async move {
                    let mut response = response.await;
                    add_headers_http(response.headers_mut(), &headers);
                    response
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::governance::Blocked;

    fn decision() -> Decision {
        Decision {
            headers: vec![("X-Plan".into(), "free".into())],
            blocked: Some(Blocked {
                rule_id: "r1".into(),
                status: 429,
                body: Some(json!({"error": "quota"})),
            }),
        }
    }

    #[test]
    fn blocked_answers_in_each_shape() {
        let rest = blocked_json(&decision(), EventShape::ApiGatewayV1, false);
        assert_eq!(
            rest,
            Some(
                json!({"statusCode": 429, "headers": {"X-Plan": "free", "Content-Type": "application/json",
                "X-Moesif-Blocked-By": "r1"}, "body": "{\"error\":\"quota\"}", "isBase64Encoded": false})
            )
        );
        let alb = blocked_json(&decision(), EventShape::Alb, true).unwrap_or_default();
        assert_eq!(alb["statusDescription"], "429 Too Many Requests");
        assert_eq!(alb["multiValueHeaders"]["X-Moesif-Blocked-By"], json!(["r1"]));
        assert!(alb.get("headers").is_none());
        let single = blocked_json(&decision(), EventShape::Alb, false).unwrap_or_default();
        assert_eq!(single["headers"]["X-Plan"], "free");
    }

    #[test]
    fn headers_are_added_replacing_the_same_name() {
        let mut answer = json!({"statusCode": 200, "headers": {"x-plan": "old", "a": "1"}, "body": "x"});
        assert!(add_headers_json(&mut answer, &[("X-Plan".into(), "free".into())]));
        assert_eq!(answer["headers"], json!({"a": "1", "X-Plan": "free"}));
        let mut multi = json!({"statusCode": 200, "multiValueHeaders": {"X-PLAN": ["a", "b"]}});
        assert!(add_headers_json(&mut multi, &[("X-Plan".into(), "free".into())]));
        assert_eq!(
            multi,
            json!({"statusCode": 200, "multiValueHeaders": {"X-Plan": ["free"]}})
        );
        let mut bare = json!({"hello": "world"});
        assert!(!add_headers_json(&mut bare, &[("X-Plan".into(), "free".into())]));
    }
}
