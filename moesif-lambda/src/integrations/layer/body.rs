//! [`MoesifBody`]: the response body, handed on frame by frame while a copy is kept ([`Capture`]); the
//! event is finished at the body's end, when it fails, or when it is dropped (then logged as cut).

use super::{Runtime, Started};
use crate::capture::body::{omitted, omitted_because, Kept};
use crate::capture::CapturedJson;
use crate::integrations::http::answer_json;
use crate::integrations::macro_entry::{answer_of_error, answer_of_panic, CallAnswer, Pending};
use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use lambda_http::http;
use pin_project_lite::pin_project;
use std::fmt::Debug;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// What a body dropped before its end is logged as (the marker's reason).
const CUT_REASON: &str = "body cut: dropped before its end";
/// `metadata.error.type` of a body dropped before its end.
const CUT_ERROR_TYPE: &str = "body_cut";

/// What is kept of a response while its body streams.
pub(super) struct Capture {
    pending: Pending,
    status: http::StatusCode,
    headers: http::HeaderMap,
    kept: Kept,
    runtime: Runtime,
    head_request: bool,
}

impl Capture {
    /// The capture of the response whose head is `parts`, for the call `started`.
    pub(super) fn new(started: Started, parts: &http::response::Parts) -> Self {
        Capture {
            pending: started.pending,
            status: parts.status,
            headers: parts.headers.clone(),
            kept: Kept::up_to(started.max_body_bytes),
            runtime: started.runtime,
            head_request: started.head_request,
        }
    }

    /// Finishes the event: the body as read (or its marker when over the cap).
    fn finish(self) {
        let size = self.kept.size();
        let kept = self.kept.into_bytes();
        let mut answer = answer_json(self.status, &self.headers, Some(kept.as_deref().unwrap_or_default()));
        if kept.is_none() {
            set_body(&mut answer, omitted(size));
        }
        let answer = CallAnswer::Response(Some(CapturedJson::Value(answer)));
        self.pending.finish_detached(answer);
    }

    /// Finishes the event of a body that failed (`failure`: its error or panic).
    fn fail(self, failure: CallAnswer) {
        let answer = self.failed_answer(failure);
        self.pending.finish_detached(answer);
    }

    /// What a body that failed is logged as: the failure (a 500) when the runtime had not answered yet,
    /// else the status and headers the caller got, with the failure.
    fn failed_answer(&self, failure: CallAnswer) -> CallAnswer {
        match self.runtime {
            Runtime::Buffered => failure,
            Runtime::Streaming => CallAnswer::Interrupted {
                response: CapturedJson::Value(answer_json(self.status, &self.headers, None)),
                failure: Box::new(failure),
            },
        }
    }

    /// Finishes the event of a body dropped before its end: cut (the status and headers, the cut marker
    /// as the body, `metadata.error` saying so), or, for a `HEAD` request, as read (nothing).
    fn dropped(self) {
        if self.head_request {
            return self.finish();
        }
        let answer = self.cut_answer();
        self.pending.finish_detached(answer);
    }

    fn cut_answer(&self) -> CallAnswer {
        let mut response = answer_json(self.status, &self.headers, None);
        set_body(&mut response, omitted_because(CUT_REASON, self.kept.size()));
        CallAnswer::Interrupted {
            response: CapturedJson::Value(response),
            failure: Box::new(CallAnswer::Error {
                error_type: CUT_ERROR_TYPE.to_owned(),
                message: format!(
                    "the response body was dropped before its end, after {} bytes",
                    self.kept.size()
                ),
            }),
        }
    }
}

/// Puts `body` (a marker) as the body of the Lambda response JSON `answer`.
fn set_body(answer: &mut serde_json::Value, body: serde_json::Value) {
    if let Some(object) = answer.as_object_mut() {
        object.insert("body".to_owned(), body);
        object.remove("isBase64Encoded");
    }
}

pin_project! {
    /// The response body of [`MoesifService`](super::MoesifService): yours, frame by frame, unchanged;
    /// the data of each frame is handed on as [`Bytes`] (the same bytes: `Buf::copy_to_bytes`, which
    /// copies nothing when they are `Bytes` already), trailers as they are. It is `Unpin` when yours is.
    pub struct MoesifBody<B> {
        // `None`: the answer of a request a governance rule blocked (`blocked`), not your service's.
        #[pin]
        inner: Option<B>,
        blocked: Option<Bytes>,
        capture: Option<Capture>,
    }

    impl<B> PinnedDrop for MoesifBody<B> {
        fn drop(this: Pin<&mut Self>) {
            // Dropped before its end: logged as cut.
            if let Some(capture) = this.project().capture.take() {
                capture.dropped();
            }
        }
    }
}

impl<B: HttpBody> MoesifBody<B> {
    /// `inner`, capturing into `capture`; a body that is already at its end (an empty one, never to be
    /// polled) finishes the event now.
    pub(super) fn new(inner: B, mut capture: Option<Capture>) -> Self {
        // The body's own code; a panic in it means the end is not known yet.
        if catch_unwind(AssertUnwindSafe(|| inner.is_end_stream())).unwrap_or(false) {
            if let Some(capture) = capture.take() {
                capture.finish();
            }
        }
        MoesifBody {
            inner: Some(inner),
            blocked: None,
            capture,
        }
    }

    /// The body of a blocked request's answer (its event is already finished).
    pub(super) fn blocked(body: Bytes) -> Self {
        MoesifBody {
            inner: None,
            blocked: Some(body).filter(|body| !body.is_empty()),
            capture: None,
        }
    }
}

/// An empty body logging nothing, for layers outside that answer without the service (`CorsLayer`
/// answering a preflight builds its body with `Default`).
impl<B: Default> Default for MoesifBody<B> {
    fn default() -> Self {
        MoesifBody {
            inner: Some(B::default()),
            blocked: None,
            capture: None,
        }
    }
}

impl<B> Debug for MoesifBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifBody").finish_non_exhaustive()
    }
}

impl<B> HttpBody for MoesifBody<B>
where
    B: HttpBody,
    B::Error: Debug,
{
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let Some(mut inner) = this.inner.as_pin_mut() else {
            return Poll::Ready(this.blocked.take().map(|body| Ok(Frame::data(body))));
        };
        // Everything that runs the body's code (its poll, its `Buf`, `is_end_stream`), a panic caught.
        let polled = catch_unwind(AssertUnwindSafe(|| {
            let frame = ready!(inner.as_mut().poll_frame(cx))
                .map(|frame| frame.map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))));
            // Trailers are the last frame; else the body says whether that was its last.
            let last = match &frame {
                Some(Ok(frame)) => frame.is_trailers() || inner.is_end_stream(),
                _ => false,
            };
            Poll::Ready((frame, last))
        }));
        let (frame, last) = match polled {
            Ok(polled) => ready!(polled),
            Err(payload) => {
                if let Some(capture) = this.capture.take() {
                    capture.fail(answer_of_panic(&*payload));
                }
                resume_unwind(payload)
            }
        };
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(capture)) = (frame.data_ref(), this.capture.as_mut()) {
                    capture.kept.record(data);
                }
                if last {
                    if let Some(capture) = this.capture.take() {
                        capture.finish();
                    }
                }
            }
            Some(Err(error)) => {
                // lambda_http reports this error (`{error:?}`) as the invocation's: logged the same way.
                if let Some(capture) = this.capture.take() {
                    capture.fail(answer_of_error(error, format!("{error:?}")));
                }
            }
            None => {
                if let Some(capture) = this.capture.take() {
                    capture.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Some(inner) => inner.is_end_stream(),
            None => self.blocked.is_none(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Some(inner) => inner.size_hint(),
            None => SizeHint::with_exact(self.blocked.as_ref().map_or(0, |body| body.len() as u64)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::VecDeque;

    /// A body of a `201` with one header, 4 bytes read, for `runtime`.
    fn capture_of(runtime: Runtime) -> Capture {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-a", http::HeaderValue::from_static("1"));
        Capture {
            pending: Pending::default(),
            status: http::StatusCode::CREATED,
            headers,
            kept: {
                let mut kept = Kept::up_to(512 * 1024);
                kept.record(b"part");
                kept
            },
            runtime,
            head_request: false,
        }
    }

    fn panic_answer() -> CallAnswer {
        CallAnswer::Panic {
            message: "body broke".into(),
        }
    }

    #[test]
    fn by_default_a_failed_body_is_the_failure_a_500() {
        let answer = capture_of(Runtime::Buffered).failed_answer(panic_answer());
        assert!(
            matches!(&answer, CallAnswer::Panic { message } if message == "body broke"),
            "{answer:?}"
        );
    }

    #[test]
    fn under_a_streaming_runtime_a_failed_body_keeps_the_status_and_headers_sent() {
        let answer = capture_of(Runtime::Streaming).failed_answer(panic_answer());
        let CallAnswer::Interrupted { response, failure } = answer else {
            panic!("the sent status is kept: {answer:?}");
        };
        assert_eq!(
            response.into_value(),
            json!({"statusCode": 201, "headers": {"x-a": "1"}}),
            "status and headers, no body (it broke off)"
        );
        assert!(matches!(*failure, CallAnswer::Panic { .. }));
    }

    #[test]
    fn a_cut_body_is_the_marker_with_what_was_read_and_the_error_says_cut() {
        let CallAnswer::Interrupted { response, failure } = capture_of(Runtime::Buffered).cut_answer() else {
            panic!("a cut body keeps the status and headers");
        };
        assert_eq!(
            response.into_value(),
            json!({"statusCode": 201, "headers": {"x-a": "1"},
                   "body": {"moesif_body_omitted": CUT_REASON, "original_size": 4}}),
            "never the 4 bytes as if they were the whole body"
        );
        let CallAnswer::Error { error_type, message } = *failure else {
            panic!("an error: {failure:?}");
        };
        assert_eq!(error_type, CUT_ERROR_TYPE);
        assert!(message.contains("after 4 bytes"), "{message}");
    }

    /// A body of the given frames, then its end.
    struct Frames(VecDeque<Frame<bytes::buf::Chain<Bytes, Bytes>>>);

    impl HttpBody for Frames {
        type Data = bytes::buf::Chain<Bytes, Bytes>;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
            Poll::Ready(self.0.pop_front().map(Ok))
        }
    }

    #[test]
    fn every_byte_of_a_chained_buf_is_handed_on_and_trailers_pass() {
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-checksum", http::HeaderValue::from_static("abc"));
        let frames = Frames(VecDeque::from([
            Frame::data(Bytes::from_static(b"hello ").chain(Bytes::from_static(b"world"))),
            Frame::trailers(trailers.clone()),
        ]));
        let mut body = std::pin::pin!(MoesifBody::new(frames, Some(capture_of(Runtime::Buffered))));
        let waker = std::task::Waker::noop();
        let mut cx = Context::from_waker(waker);
        let Poll::Ready(Some(Ok(first))) = body.as_mut().poll_frame(&mut cx) else {
            panic!("a data frame");
        };
        assert_eq!(first.into_data().ok(), Some(Bytes::from_static(b"hello world")));
        assert_eq!(
            body.capture.as_ref().map(|c| c.kept.bytes().to_vec()),
            Some(b"parthello world".to_vec())
        );
        let Poll::Ready(Some(Ok(second))) = body.as_mut().poll_frame(&mut cx) else {
            panic!("the trailers");
        };
        assert_eq!(second.into_trailers().ok(), Some(trailers));
        assert!(body.capture.is_none(), "trailers are the end: the event is finished");
        assert!(matches!(body.as_mut().poll_frame(&mut cx), Poll::Ready(None)));
    }
}
