//! [`MoesifService`]: `call` reads the request by reference, starts the event and calls the inner
//! service with the request untouched; the event goes on in the [`ResponseFuture`].

use super::future::ResponseFuture;
use super::{Shared, Started};
use crate::capture::json_body_of;
use crate::capture::CapturedJson;
use crate::integrations::govern::{blocked_http, decide_http, json_object};
use crate::integrations::http::{
    answer_json, bytes_json, captured_event_of, event_json_of, lambda_body_bytes, RequestHead,
};
use crate::integrations::macro_entry::{answer_of_panic, CallAnswer};
use http_body::Body as HttpBody;
use lambda_http::http;
use lambda_runtime::Service;
use serde_json::Value;
use std::any::Any;
use std::fmt::Debug;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::task::{Context, Poll};

/// The service [`MoesifLayer`](super::MoesifLayer) wraps around yours.
#[derive(Clone)]
pub struct MoesifService<S> {
    inner: S,
    shared: Arc<Shared>,
}

impl<S> MoesifService<S> {
    pub(super) fn new(inner: S, shared: Arc<Shared>) -> Self {
        MoesifService { inner, shared }
    }
}

impl<S> Debug for MoesifService<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifService").finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<http::Request<ReqBody>> for MoesifService<S>
where
    S: Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Error: Debug,
    ReqBody: HttpBody + 'static,
    ResBody: HttpBody,
{
    type Response = http::Response<super::MoesifBody<ResBody>>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<ReqBody>) -> Self::Future {
        let head_request = request.method() == http::Method::HEAD;
        let captured = captured_event_of(RequestHead::of(&request), &request, || request_body_json(&request));
        let mut pending = self.shared.state.begin(&self.shared.options, Some(captured));
        let decision = pending.governance().and_then(|(governed, options, context)| {
            // The body as lambda_http gave it, else (another body type) from the raw Lambda event.
            let body = || match request_body_bytes(&request) {
                Some(bytes) => json_object(bytes, options.max_body_bytes),
                None => pending
                    .raw_event_json()
                    .and_then(|event| json_body_of(&event, options.max_body_bytes)),
            };
            decide_http(&governed, options, context, &request, body, || {
                event_json_of(RequestHead::of(&request), &request, request_body_json(&request))
            })
        });
        if let Some((parts, body)) = decision.as_ref().and_then(blocked_http) {
            // The inner service is not called: the rule's answer is the caller's, and the event's.
            if let Some(blocked) = decision.as_ref().and_then(|d| d.blocked.as_ref()) {
                pending.set_blocked(&blocked.rule_id);
            }
            let answer = answer_json(parts.status, &parts.headers, Some(&body));
            pending.finish_detached(CallAnswer::Response(Some(CapturedJson::Value(answer))));
            return ResponseFuture::blocked(parts, body);
        }
        let governance_headers = decision.map(|decision| decision.headers).unwrap_or_default();
        // The inner `call`, with the invocation current; a panic in it is logged, then goes on from here
        // (where it would have gone without the layer).
        let inner = &mut self.inner;
        let called = pending.in_scope(|| catch_unwind(AssertUnwindSafe(|| inner.call(request))));
        match called {
            Ok(future) => {
                let started = Started {
                    pending,
                    max_body_bytes: self.shared.options.max_body_bytes,
                    runtime: self.shared.runtime,
                    head_request,
                    governance_headers,
                };
                ResponseFuture::new(future, started)
            }
            Err(payload) => {
                pending.finish_detached(answer_of_panic(&*payload));
                resume_unwind(payload)
            }
        }
    }
}

/// The request body as the event carries it, when the event must be rebuilt from the request (under
/// plain `lambda_http::run`; `run_http` gives the layer the raw event): lambda_http's `Body`, read by
/// reference; any other body type (axum's, inside a `Router`) is not read, and the event has no body.
fn request_body_json<B: HttpBody + 'static>(request: &http::Request<B>) -> (Value, bool) {
    request_body_bytes(request).map_or((Value::Null, false), bytes_json)
}

/// The request body's bytes, when it is lambda_http's `Body` (in memory).
fn request_body_bytes<B: HttpBody + 'static>(request: &http::Request<B>) -> Option<&[u8]> {
    lambda_body_bytes((request.body() as &dyn Any).downcast_ref::<lambda_http::Body>()?)
}
