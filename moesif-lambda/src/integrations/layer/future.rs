//! [`ResponseFuture`]: the inner service's future, polled with the invocation current; when it resolves
//! the event goes on in the response body ([`MoesifBody`]), or is finished with the error or panic.

use super::body::{Capture, MoesifBody};
use super::Started;
use crate::integrations::macro_entry::{answer_of_error, answer_of_panic};
use http_body::Body as HttpBody;
use lambda_http::http;
use pin_project_lite::pin_project;
use std::fmt::Debug;
use std::future::Future;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

pin_project! {
    /// The future of [`MoesifService`](super::MoesifService): your service's future, unchanged but for
    /// its response body, wrapped in a [`MoesifBody`] (and the headers of the governance rules that
    /// apply); or, for a request a rule blocked, the rule's answer at once.
    pub struct ResponseFuture<F> {
        // `None`: blocked (`blocked` holds the answer until it is polled).
        #[pin]
        inner: Option<F>,
        blocked: Option<(http::response::Parts, bytes::Bytes)>,
        // `None` once the future has resolved (the event went on with the body, or was finished).
        started: Option<Started>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, started: Started) -> Self {
        ResponseFuture {
            inner: Some(inner),
            blocked: None,
            started: Some(started),
        }
    }

    /// The answer of a blocked request (its event is already finished).
    pub(super) fn blocked(parts: http::response::Parts, body: bytes::Bytes) -> Self {
        ResponseFuture {
            inner: None,
            blocked: Some((parts, body)),
            started: None,
        }
    }
}

impl<F> Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}

impl<F, B, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<http::Response<B>, E>>,
    B: HttpBody,
    E: Debug,
{
    type Output = Result<http::Response<MoesifBody<B>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Some(mut inner) = this.inner.as_pin_mut() else {
            let (parts, body) = this
                .blocked
                .take()
                .unwrap_or_else(|| (http::Response::new(()).into_parts().0, bytes::Bytes::new()));
            return Poll::Ready(Ok(http::Response::from_parts(parts, MoesifBody::blocked(body))));
        };
        let mut poll = || catch_unwind(AssertUnwindSafe(|| inner.as_mut().poll(cx)));
        let polled = match this.started.as_ref() {
            Some(started) => started.pending.in_scope(poll),
            None => poll(),
        };
        let output = match polled {
            Ok(Poll::Pending) => return Poll::Pending,
            Ok(Poll::Ready(output)) => output,
            Err(payload) => {
                // Logged, then the panic goes on.
                if let Some(started) = this.started.take() {
                    started.pending.finish_detached(answer_of_panic(&*payload));
                }
                resume_unwind(payload)
            }
        };
        let started = this.started.take();
        Poll::Ready(match output {
            Ok(response) => {
                let (mut parts, body) = response.into_parts();
                if let Some(started) = &started {
                    crate::integrations::govern::add_headers_http(&mut parts.headers, &started.governance_headers);
                }
                let capture = started.map(|started| Capture::new(started, &parts));
                Ok(http::Response::from_parts(parts, MoesifBody::new(body, capture)))
            }
            Err(error) => {
                if let Some(started) = started {
                    started
                        .pending
                        .finish_detached(answer_of_error(&error, format!("{error:?}")));
                }
                Err(error)
            }
        })
    }
}
