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
    /// its response body, wrapped in a [`MoesifBody`].
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        // `None` once the future has resolved (the event went on with the body, or was finished).
        started: Option<Started>,
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn new(inner: F, started: Started) -> Self {
        ResponseFuture {
            inner,
            started: Some(started),
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
        let mut inner = this.inner;
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
                let (parts, body) = response.into_parts();
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
