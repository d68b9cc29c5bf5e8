//! Autoref-specialised probes: the macro calls `(&&&Probe(&x)).__moesif_event()` (or `_response`,
//! `_error`) at a call site where `x`'s type is concrete, with every `Via*` trait in scope; method
//! resolution tries `&&&Probe`, then `&&Probe`, `&Probe`, `Probe`, so the impl on the most references
//! (the most specific type) wins: `lambda_http::Request` and `LambdaEvent<Value>` (three), then
//! `LambdaEvent<T: Serialize>` (two), then anything (none: not logged, one warning). Answers and errors
//! likewise. The generated code sees only these traits and `Option<CapturedEvent>`/`Option<CapturedJson>`.

#[cfg(feature = "http")]
use super::govern::HttpEvent;
use super::govern::{Governance, JsonEvent, NoEvent, TypedEvent};
use crate::capture::{CapturedEvent, CapturedJson, EventSource};
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde_json::Value;
use std::fmt::{Debug, Display};

/// Wraps a reference for probing.
pub struct Probe<'a, T: ?Sized>(pub &'a T);

/// `lambda_http::Request`: rebuilt as the Lambda event it came from.
pub trait ViaHttpRequest {
    /// The event and context.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
    /// The event, for governance.
    #[cfg(feature = "http")]
    fn __moesif_govern(&self) -> Option<HttpEvent<'_>>;
}
#[cfg(feature = "http")]
impl ViaHttpRequest for &&Probe<'_, lambda_http::Request> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        Some(super::http::captured_event(self.0))
    }
    fn __moesif_govern(&self) -> Option<HttpEvent<'_>> {
        Some(HttpEvent(self.0))
    }
}

/// `LambdaEvent<Value>`: lent, so only what the options need of it is copied (and a non-HTTP event
/// costs only seeing its shape).
pub trait ViaLambdaEventValue {
    /// The event and context.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
    /// The event, for governance.
    fn __moesif_govern(&self) -> Option<JsonEvent<'_>>;
}
impl ViaLambdaEventValue for &&Probe<'_, LambdaEvent<Value>> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        Some(CapturedEvent {
            event: Some(EventSource::Json(&self.0.payload)),
            context: self.0.context.clone(),
            lambda_http: false,
        })
    }
    fn __moesif_govern(&self) -> Option<JsonEvent<'_>> {
        Some(JsonEvent(&self.0.payload))
    }
}

/// `LambdaEvent<T>` with a serialisable payload (`aws_lambda_events` types): lent; its shape is read
/// after the response.
pub trait ViaLambdaEvent {
    /// The event and context.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
    /// The event, for governance.
    fn __moesif_govern(&self) -> Option<TypedEvent<'_>>;
}
impl<T: Serialize> ViaLambdaEvent for &Probe<'_, LambdaEvent<T>> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        Some(CapturedEvent {
            event: Some(EventSource::Typed(&self.0.payload)),
            context: self.0.context.clone(),
            lambda_http: false,
        })
    }
    fn __moesif_govern(&self) -> Option<TypedEvent<'_>> {
        Some(TypedEvent(&self.0.payload))
    }
}

/// Anything else: not logged.
pub trait ViaUnknownEvent {
    /// Nothing.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
    /// Nothing: not governed.
    fn __moesif_govern(&self) -> Option<NoEvent> {
        None
    }
}
impl<T: ?Sized> ViaUnknownEvent for Probe<'_, T> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        crate::hooks::warn_once("unknown-event-type", || {
            tracing::warn!(
                event_type = std::any::type_name::<T>(),
                "moesif: #[moesif_logger] cannot read this handler's event type (use LambdaEvent<T> with \
                 T: Serialize, or lambda_http::Request); its calls are not logged"
            )
        });
        None
    }
}

/// `http::Response<B>` (what `lambda_http` handlers answer).
pub trait ViaHttpResponse {
    /// The answer as the Lambda response JSON.
    fn __moesif_response(&self) -> Option<CapturedJson>;
}
#[cfg(feature = "http")]
impl<B: AsRef<[u8]>> ViaHttpResponse for &&Probe<'_, lambda_http::Response<B>> {
    fn __moesif_response(&self) -> Option<CapturedJson> {
        Some(CapturedJson::Value(super::http::response_json(self.0)))
    }
}

/// `http::Response<B>` with a body that cannot be read from a reference (a stream, axum's `Body`): its
/// status and headers, without a body. (Behind a [`crate::MoesifLayer`] the body is read as it streams.)
pub trait ViaHttpResponseHead {
    /// The answer's status and headers as the Lambda response JSON.
    fn __moesif_response(&self) -> Option<CapturedJson>;
}
#[cfg(feature = "http")]
impl<B> ViaHttpResponseHead for &Probe<'_, lambda_http::Response<B>> {
    fn __moesif_response(&self) -> Option<CapturedJson> {
        let answer = super::http::answer_json(self.0.status(), self.0.headers(), None);
        Some(CapturedJson::Value(answer))
    }
}

/// A serialisable answer.
pub trait ViaSerializeResponse {
    /// The answer as JSON.
    fn __moesif_response(&self) -> Option<CapturedJson>;
}
impl<T: Serialize + ?Sized> ViaSerializeResponse for &Probe<'_, T> {
    fn __moesif_response(&self) -> Option<CapturedJson> {
        serde_json::to_vec(self.0)
            .ok()
            .map(|bytes| CapturedJson::Bytes(bytes.into()))
    }
}

/// Anything else: logged without a body.
pub trait ViaUnknownResponse {
    /// Nothing.
    fn __moesif_response(&self) -> Option<CapturedJson>;
}
impl<T: ?Sized> ViaUnknownResponse for Probe<'_, T> {
    fn __moesif_response(&self) -> Option<CapturedJson> {
        None
    }
}

/// An error with `Display`.
pub trait ViaDisplayError {
    /// Its message.
    fn __moesif_error(&self) -> String;
}
impl<T: Display + ?Sized> ViaDisplayError for &&Probe<'_, T> {
    fn __moesif_error(&self) -> String {
        self.0.to_string()
    }
}

/// An error with only `Debug`.
pub trait ViaDebugError {
    /// Its debug text.
    fn __moesif_error(&self) -> String;
}
impl<T: Debug + ?Sized> ViaDebugError for &Probe<'_, T> {
    fn __moesif_error(&self) -> String {
        format!("{:?}", self.0)
    }
}

/// An error with neither.
pub trait ViaOpaqueError {
    /// A placeholder.
    fn __moesif_error(&self) -> String;
}
impl<T: ?Sized> ViaOpaqueError for Probe<'_, T> {
    fn __moesif_error(&self) -> String {
        "handler error".to_owned()
    }
}

/// The handler's answer type, probed for the blocked answer: `Result<Value, E>` (the Lambda response
/// JSON of the event's shape) and `Result<http::Response<B>, E>` first, then any `Result<T, E>` with
/// `T: DeserializeOwned` (`aws_lambda_events` responses, read from that JSON), else none.
pub struct AnswerType<T>(pub std::marker::PhantomData<T>);

/// `Result<Value, E>`.
pub trait ViaBlockedValue<T> {
    /// The blocked answer.
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<T>;
}
impl<E> ViaBlockedValue<Result<Value, E>> for &&AnswerType<Result<Value, E>> {
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<Result<Value, E>> {
        let governance = governance.as_ref().filter(|g| !g.lambda_http)?;
        governance.blocked_json().map(Ok)
    }
}

/// `Result<http::Response<B>, E>`.
pub trait ViaBlockedHttp<T> {
    /// The blocked answer.
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<T>;
}
#[cfg(feature = "http")]
impl<B: From<String>, E> ViaBlockedHttp<Result<lambda_http::Response<B>, E>>
    for &&AnswerType<Result<lambda_http::Response<B>, E>>
{
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<Result<lambda_http::Response<B>, E>> {
        let (parts, body) = super::govern::blocked_http(&governance.as_ref()?.decision)?;
        let body = String::from_utf8(body.to_vec()).ok()?;
        Some(Ok(lambda_http::Response::from_parts(parts, B::from(body))))
    }
}

/// `Result<T, E>`, `T: DeserializeOwned`.
pub trait ViaBlockedTyped<T> {
    /// The blocked answer.
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<T>;
}
impl<T: serde::de::DeserializeOwned, E> ViaBlockedTyped<Result<T, E>> for &AnswerType<Result<T, E>> {
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<Result<T, E>> {
        let governance = governance.as_ref().filter(|g| !g.lambda_http)?;
        serde_json::from_value(governance.blocked_json()?).ok().map(Ok)
    }
}

/// Anything else: no blocked answer (the handler runs; said once).
pub trait ViaBlockedUnknown<T> {
    /// Nothing.
    fn __moesif_blocked(&self, governance: &Option<Governance>) -> Option<T>;
}
impl<T> ViaBlockedUnknown<T> for AnswerType<T> {
    fn __moesif_blocked(&self, _governance: &Option<Governance>) -> Option<T> {
        None
    }
}

/// The handler's answer, lent mutably to add the governance headers to it.
pub struct AnswerMut<'a, T>(pub std::cell::Cell<Option<&'a mut T>>);

/// `serde_json::Value` (a Lambda response JSON).
pub trait ViaHeadersValue {
    /// Adds the headers.
    fn __moesif_add_headers(&self, governance: &Option<Governance>);
}
impl ViaHeadersValue for &&AnswerMut<'_, Value> {
    fn __moesif_add_headers(&self, governance: &Option<Governance>) {
        if let (Some(governance), Some(answer)) = (governance, self.0.take()) {
            super::govern::add_headers_json(answer, &governance.decision.headers);
        }
    }
}

/// `http::Response<B>`.
pub trait ViaHeadersHttp {
    /// Adds the headers.
    fn __moesif_add_headers(&self, governance: &Option<Governance>);
}
#[cfg(feature = "http")]
impl<B> ViaHeadersHttp for &&AnswerMut<'_, lambda_http::Response<B>> {
    fn __moesif_add_headers(&self, governance: &Option<Governance>) {
        if let (Some(governance), Some(answer)) = (governance, self.0.take()) {
            super::govern::add_headers_http(answer.headers_mut(), &governance.decision.headers);
        }
    }
}

/// A typed answer that is JSON both ways (`aws_lambda_events` responses): read as JSON, changed, read back.
pub trait ViaHeadersTyped {
    /// Adds the headers.
    fn __moesif_add_headers(&self, governance: &Option<Governance>);
}
impl<T: Serialize + serde::de::DeserializeOwned> ViaHeadersTyped for &AnswerMut<'_, T> {
    fn __moesif_add_headers(&self, governance: &Option<Governance>) {
        let (Some(governance), Some(answer)) = (governance, self.0.take()) else {
            return;
        };
        if governance.decision.headers.is_empty() || governance.lambda_http {
            return;
        }
        let Ok(mut json) = serde_json::to_value(&*answer) else {
            return;
        };
        if super::govern::add_headers_json(&mut json, &governance.decision.headers) {
            if let Ok(changed) = serde_json::from_value(json) {
                *answer = changed;
            }
        }
    }
}

/// Anything else: left as it is.
pub trait ViaHeadersUnknown {
    /// Nothing.
    fn __moesif_add_headers(&self, governance: &Option<Governance>);
}
impl<T> ViaHeadersUnknown for AnswerMut<'_, T> {
    fn __moesif_add_headers(&self, _governance: &Option<Governance>) {}
}
