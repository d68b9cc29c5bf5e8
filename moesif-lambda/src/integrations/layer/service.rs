//! [`MoesifService`]: `call` reads the request by reference, starts the event and calls the inner
//! service with the request untouched; the event goes on in the [`ResponseFuture`].

use super::future::ResponseFuture;
use super::{Shared, Started};
use crate::integrations::http::{bytes_into_json, captured_event_of, lambda_body_json, RequestBodyCopy, RequestHead};
use crate::integrations::macro_entry::answer_of_panic;
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

    fn call(&mut self, mut request: http::Request<ReqBody>) -> Self::Future {
        let body = request_body_json(&mut request);
        let head = RequestHead::of(&request);
        let captured = captured_event_of(&head, &request, body);
        let head_request = request.method() == http::Method::HEAD;
        let pending = self.shared.state.begin(&self.shared.options, Some(captured));
        let request_id = crate::current::take_entered();
        // The inner `call`, with the invocation current; a panic in it is logged, then goes on from here
        // (where it would have gone without the layer).
        let inner = &mut self.inner;
        let called = crate::current::running(request_id.as_deref(), || {
            catch_unwind(AssertUnwindSafe(|| inner.call(request)))
        });
        match called {
            Ok(future) => {
                let started = Started {
                    pending,
                    request_id,
                    max_body_bytes: self.shared.options.max_body_bytes,
                    runtime: self.shared.runtime,
                    head_request,
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

/// The request body as the event carries it, read by reference: lambda_http's `Body`, else the copy
/// `run_http` made of it while the body still has its size (it is the body the Lambda event carried),
/// else none. The copy is taken out of the extensions either way: the inner service gets the request
/// it would get without the layer.
fn request_body_json<B: HttpBody + 'static>(request: &mut http::Request<B>) -> (Value, bool) {
    let copy = request.extensions_mut().remove::<RequestBodyCopy>();
    let body = request.body();
    if let Some(lambda_body) = (body as &dyn Any).downcast_ref::<lambda_http::Body>() {
        return lambda_body_json(lambda_body);
    }
    let Some(RequestBodyCopy(bytes)) = copy else {
        return (Value::Null, false);
    };
    // The body's own code; a panic in it means the size is unknown.
    let size = catch_unwind(AssertUnwindSafe(|| body.size_hint().exact()))
        .ok()
        .flatten();
    match size == u64::try_from(bytes.len()).ok() {
        true => bytes_into_json(bytes),
        false => (Value::Null, false),
    }
}
