//! Autoref-specialised probes: the macro calls `(&&&Probe(&x)).__moesif_event()` (or `_response`,
//! `_error`) at a call site where `x`'s type is concrete, with every `Via*` trait in scope; method
//! resolution tries `&&&Probe`, then `&&Probe`, `&Probe`, `Probe`, so the impl on the most references
//! (the most specific type) wins: `lambda_http::Request` and `LambdaEvent<Value>` (three), then
//! `LambdaEvent<T: Serialize>` (two), then anything (none: not logged, one warning). Answers and errors
//! likewise. The generated code sees only these traits and `Option<CapturedEvent>`/`Option<CapturedJson>`.

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
}
#[cfg(feature = "http")]
impl ViaHttpRequest for &&Probe<'_, lambda_http::Request> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        Some(super::http::captured_event(self.0))
    }
}

/// `LambdaEvent<Value>`: lent, so only what the options need of it is copied (and a non-HTTP event
/// costs only seeing its shape).
pub trait ViaLambdaEventValue {
    /// The event and context.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
}
impl ViaLambdaEventValue for &&Probe<'_, LambdaEvent<Value>> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        Some(CapturedEvent {
            event: Some(EventSource::Json(&self.0.payload)),
            context: self.0.context.clone(),
            lambda_http: false,
        })
    }
}

/// `LambdaEvent<T>` with a serialisable payload (`aws_lambda_events` types): lent; its shape is read
/// after the response.
pub trait ViaLambdaEvent {
    /// The event and context.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
}
impl<T: Serialize> ViaLambdaEvent for &Probe<'_, LambdaEvent<T>> {
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>> {
        Some(CapturedEvent {
            event: Some(EventSource::Typed(&self.0.payload)),
            context: self.0.context.clone(),
            lambda_http: false,
        })
    }
}

/// Anything else: not logged.
pub trait ViaUnknownEvent {
    /// Nothing.
    fn __moesif_event(&self) -> Option<CapturedEvent<'_>>;
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
