//! [`MoesifClientBody`]: the response body of a call the reqwest middleware or the tower client layer
//! logs, handed on frame by frame while a copy is kept up to the cap; the call is logged when the body
//! ends, fails, or is dropped.

use super::event::Seen;
use super::record::{content_encoding, Begun};
use crate::capture::body::Kept;
use bytes::{Buf, Bytes};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

/// What is kept of a response while its body streams.
pub(super) struct Tap {
    begun: Begun,
    status: u16,
    headers: http::HeaderMap,
    encoding: String,
    kept: Kept,
}

impl Tap {
    /// The capture of the body of the response whose head is `parts`, for the call `begun`.
    pub(super) fn new(begun: Begun, parts: &http::response::Parts, max: usize) -> Tap {
        Tap {
            begun,
            status: parts.status.as_u16(),
            headers: parts.headers.clone(),
            // The client undid what it decodes and removed the header: what is left is what to undo.
            encoding: content_encoding(&parts.headers),
            kept: Kept::up_to(max),
        }
    }

    /// The body ended: logged with it (or its size, over the cap).
    fn finish(self) {
        let size = self.kept.size();
        tracing::trace!(size, "outgoing response body ended; call logged");
        let body = match self.kept.into_bytes() {
            Some(bytes) => self.begun.seen(bytes, self.encoding),
            None => Seen::Omitted(size),
        };
        self.begun.finish(self.status, &self.headers, body);
    }

    /// The body failed, or was dropped before its end: logged as cut.
    fn cut(self, why: &str) {
        tracing::debug!(
            size = self.kept.size(),
            "outgoing response body {why} before its end; call logged as cut"
        );
        self.begun
            .finish(self.status, &self.headers, Seen::Cut(self.kept.size()));
    }
}

pin_project! {
    /// The response body of a call logged by [`MoesifReqwest`](crate::MoesifReqwest) or
    /// [`MoesifClientLayer`](crate::MoesifClientLayer): yours, frame by frame, unchanged (the data of
    /// each frame handed on as [`Bytes`]: `Buf::copy_to_bytes`, which copies nothing when they are
    /// `Bytes` already; trailers as they are; its size hint and end as yours). A copy is kept up to the
    /// body cap; the call is logged when the body ends, when it fails, or when it is dropped before its
    /// end (then with a `body cut` marker as its body). It is `Unpin` when yours is.
    pub struct MoesifClientBody<B> {
        #[pin]
        inner: B,
        tap: Option<Tap>,
    }

    impl<B> PinnedDrop for MoesifClientBody<B> {
        fn drop(this: Pin<&mut Self>) {
            if let Some(tap) = this.project().tap.take() {
                tap.cut("dropped");
            }
        }
    }
}

impl<B: HttpBody> MoesifClientBody<B> {
    /// `inner`, capturing into `tap`; a body already at its end (empty: never polled) logs the call now.
    pub(super) fn new(inner: B, mut tap: Option<Tap>) -> Self {
        if inner.is_end_stream() {
            if let Some(tap) = tap.take() {
                tap.finish();
            }
        }
        MoesifClientBody { inner, tap }
    }
}

impl<B> std::fmt::Debug for MoesifClientBody<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifClientBody").finish_non_exhaustive()
    }
}

impl<B: HttpBody> HttpBody for MoesifClientBody<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.project();
        let mut inner = this.inner;
        let frame = ready!(inner.as_mut().poll_frame(cx))
            .map(|frame| frame.map(|frame| frame.map_data(|mut data| data.copy_to_bytes(data.remaining()))));
        match &frame {
            Some(Ok(frame)) => {
                if let (Some(data), Some(tap)) = (frame.data_ref(), this.tap.as_mut()) {
                    tap.kept.record(data);
                }
                // Trailers are the last frame; else the body says whether that was its last.
                if frame.is_trailers() || inner.is_end_stream() {
                    if let Some(tap) = this.tap.take() {
                        tap.finish();
                    }
                }
            }
            Some(Err(_)) => {
                if let Some(tap) = this.tap.take() {
                    tap.cut("failed");
                }
            }
            None => {
                if let Some(tap) = this.tap.take() {
                    tap.finish();
                }
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
