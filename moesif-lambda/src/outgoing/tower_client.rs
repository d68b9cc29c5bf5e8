//! [`MoesifClientLayer`]: a tower layer for HTTP clients (`Service<http::Request<B>>`), handing each call
//! to the capture core, its response body wrapped in [`MoesifClientBody`].

use super::body::{MoesifClientBody, Tap};
use super::record::{Begun, Recorder};
use bytes::{Buf, Bytes};
use http_body::Body as HttpBody;
use pin_project_lite::pin_project;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

/// A tower [`Layer`](tower_layer::Layer) that logs every call an HTTP client service makes as an
/// `Outgoing` Moesif event (feature `tower-client`): any `Service<http::Request<B>>` answering
/// `http::Response<_>`, such as hyper-util's legacy `Client` or a tower-http client stack.
///
/// The event is the one [`crate::MoesifMiddleware`] makes (the same capture core): method, the URI as
/// the request carries it (without a `user:password@` part), the request headers the layer sees plus
/// `host` from the URI (never invented otherwise), the response status and headers, both bodies as
/// JSON or base64 with redaction and decoding (`gzip`, `deflate`, … as the headers say) as for
/// incoming bodies, start and end time, and `metadata.request_id` of the invocation; the
/// [`crate::OutgoingOptions`] hooks, sampling and the queue apply.
///
/// - **Request bodies** are captured when they are in memory: the body type implements
///   [`RequestBodySnapshot`] (`Full<Bytes>`, `Empty`, `String`, `Vec<u8>`, `Bytes`, static slices;
///   boxed bodies are streams and logged without their body; implement it for a body type of yours).
///   The request goes on unchanged.
/// - **Response bodies**: the response body type becomes [`MoesifClientBody<ResBody>`] (as
///   tower-http's layers wrap theirs), handing your body on frame by frame, never read ahead, with a
///   copy kept up to the cap; the call is queued when the body ends, fails, or is dropped before its
///   end (then with a `body cut` marker).
/// - An error of the service (no answer) is returned unchanged and not logged.
/// - Calls to the Moesif collector itself are never logged; without an application id nothing is.
///
/// ```no_run
/// use http_body_util::{BodyExt, Full};
/// use hyper_util::client::legacy::Client;
/// use hyper_util::rt::TokioExecutor;
/// use moesif_lambda::{MoesifClientLayer, Options};
/// use tower::{Service, ServiceBuilder, ServiceExt};
///
/// const OPTIONS: Options = Options::new();
/// # async fn example() -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
/// let client = Client::builder(TokioExecutor::new()).build_http::<Full<bytes::Bytes>>();
/// let mut client = ServiceBuilder::new().layer(MoesifClientLayer::new(OPTIONS)).service(client);
/// let request = http::Request::get("http://api.example.com/orders").body(Full::default())?;
/// let response = client.ready().await?.call(request).await?;
/// let body = response.into_body().collect().await?.to_bytes();
/// # let _ = body;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct MoesifClientLayer {
    recorder: Arc<Recorder>,
}

impl MoesifClientLayer {
    /// A layer logging with `options` (its `outgoing` part, application id, base URI, body cap,
    /// redaction and mask hook).
    ///
    /// ```
    /// let layer = moesif_lambda::MoesifClientLayer::new(moesif_lambda::Options::new());
    /// ```
    #[must_use]
    pub fn new(options: crate::Options) -> Self {
        MoesifClientLayer {
            recorder: Arc::new(Recorder::new(options)),
        }
    }

    /// A layer logging with `options` through `client`'s connection.
    ///
    /// ```
    /// use moesif_lambda::{Client, MoesifClientLayer, Options};
    ///
    /// let options = Options::new().application_id("my-app-id");
    /// let client = Client::new(&options)?;
    /// let layer = MoesifClientLayer::with_client(options, &client);
    /// # Ok::<_, moesif_lambda::Error>(())
    /// ```
    #[must_use]
    pub fn with_client(options: crate::Options, client: &crate::Client) -> Self {
        MoesifClientLayer {
            recorder: Arc::new(Recorder::with_client(options, client)),
        }
    }
}

impl<S> tower_layer::Layer<S> for MoesifClientLayer {
    type Service = MoesifClientService<S>;

    fn layer(&self, inner: S) -> MoesifClientService<S> {
        MoesifClientService {
            inner,
            recorder: self.recorder.clone(),
        }
    }
}

/// The service [`MoesifClientLayer`] makes of a client.
#[derive(Debug, Clone)]
pub struct MoesifClientService<S> {
    inner: S,
    recorder: Arc<Recorder>,
}

impl<S, B, ResBody> tower_service::Service<http::Request<B>> for MoesifClientService<S>
where
    S: tower_service::Service<http::Request<B>, Response = http::Response<ResBody>>,
    B: RequestBodySnapshot,
    ResBody: HttpBody,
{
    type Response = http::Response<MoesifClientBody<ResBody>>;
    type Error = S::Error;
    type Future = MoesifClientFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let recorder = &self.recorder;
        let begun = recorder
            .begin(request.method(), request.uri(), request.headers())
            .map(|mut begun| {
                if recorder.log_body() {
                    if let Some(bytes) = request.body().snapshot() {
                        begun.request_slice(&bytes);
                    }
                }
                begun
            });
        MoesifClientFuture {
            inner: self.inner.call(request),
            begun,
            max: recorder.max_body_bytes(),
            log_body: recorder.log_body(),
        }
    }
}

pin_project! {
    /// The future of [`MoesifClientService`]: the client's, its response's body wrapped.
    pub struct MoesifClientFuture<F> {
        #[pin]
        inner: F,
        begun: Option<Begun>,
        max: usize,
        log_body: bool,
    }
}

impl<F> std::fmt::Debug for MoesifClientFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MoesifClientFuture").finish_non_exhaustive()
    }
}

impl<F, ResBody, E> Future for MoesifClientFuture<F>
where
    F: Future<Output = Result<http::Response<ResBody>, E>>,
    ResBody: HttpBody,
{
    type Output = Result<http::Response<MoesifClientBody<ResBody>>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = ready!(this.inner.poll(cx));
        // An error (no answer): not logged.
        let begun = this.begun.take();
        Poll::Ready(result.map(|response| {
            let (parts, body) = response.into_parts();
            let tap = begun.and_then(|begun| match *this.log_body {
                true => Some(Tap::new(begun, &parts, *this.max)),
                false => {
                    begun.finish(parts.status.as_u16(), &parts.headers, super::event::Seen::Nothing);
                    None
                }
            });
            http::Response::from_parts(parts, MoesifClientBody::new(body, tap))
        }))
    }
}

/// A request body type whose bytes [`MoesifClientLayer`] can capture without taking them from the
/// request: those in memory give a snapshot; a stream gives `None` (logged without its body).
///
/// Implemented for the in-memory bodies (`Full`, `Empty`, `String`, `Vec<u8>`, `Bytes`,
/// `&'static str`, `&'static [u8]`), `Either` of two such, and the boxed bodies (streams: `None`).
/// For a body type of your own: its bytes, or, for any `Clone` body, [`snapshot_by_clone`]:
///
/// ```
/// use bytes::Bytes;
/// use http_body_util::Full;
///
/// struct Json(Bytes);
///
/// impl moesif_lambda::RequestBodySnapshot for Json {
///     fn snapshot(&self) -> Option<Bytes> {
///         Some(self.0.clone())
///     }
/// }
///
/// /// A body of your own that is `Clone` (here one that wraps `Full`).
/// #[derive(Clone)]
/// struct Signed(Full<Bytes>);
/// # impl http_body::Body for Signed {
/// #     type Data = Bytes;
/// #     type Error = std::convert::Infallible;
/// #     fn poll_frame(
/// #         mut self: std::pin::Pin<&mut Self>,
/// #         cx: &mut std::task::Context<'_>,
/// #     ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
/// #         std::pin::Pin::new(&mut self.0).poll_frame(cx)
/// #     }
/// # }
///
/// impl moesif_lambda::RequestBodySnapshot for Signed {
///     fn snapshot(&self) -> Option<Bytes> {
///         moesif_lambda::snapshot_by_clone(self)
///     }
/// }
/// ```
pub trait RequestBodySnapshot {
    /// The whole body, when it is in memory (`None`: not known without reading a stream).
    fn snapshot(&self) -> Option<Bytes>;
}

/// The bytes of a `Clone` body, read from a clone of it without waiting: every frame it has ready
/// (trailers left out), or `None` if it would have to wait for one (a stream) or fails. The request
/// keeps its own body. For [`RequestBodySnapshot`] implementations of in-memory body types.
///
/// ```
/// let body = http_body_util::Full::new(bytes::Bytes::from_static(b"{\"id\":7}"));
/// assert_eq!(moesif_lambda::snapshot_by_clone(&body).as_deref(), Some(&b"{\"id\":7}"[..]));
/// ```
pub fn snapshot_by_clone<B>(body: &B) -> Option<Bytes>
where
    B: HttpBody + Clone + Unpin,
{
    let mut body = body.clone();
    let mut cx = Context::from_waker(std::task::Waker::noop());
    let mut bytes = Vec::new();
    loop {
        match Pin::new(&mut body).poll_frame(&mut cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Ok(mut data) = frame.into_data() {
                    while data.has_remaining() {
                        let chunk = data.chunk();
                        bytes.extend_from_slice(chunk);
                        let n = chunk.len();
                        data.advance(n);
                    }
                }
            }
            Poll::Ready(None) => return Some(Bytes::from(bytes)),
            Poll::Ready(Some(Err(_))) | Poll::Pending => return None,
        }
    }
}

impl<D: Buf + Clone> RequestBodySnapshot for http_body_util::Full<D> {
    fn snapshot(&self) -> Option<Bytes> {
        // `Full` keeps its data to itself: a clone (cheap for `Bytes`) gives it in one ready frame.
        snapshot_by_clone(self)
    }
}

impl<D> RequestBodySnapshot for http_body_util::Empty<D> {
    fn snapshot(&self) -> Option<Bytes> {
        Some(Bytes::new())
    }
}

impl RequestBodySnapshot for String {
    fn snapshot(&self) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(self.as_bytes()))
    }
}

impl RequestBodySnapshot for Vec<u8> {
    fn snapshot(&self) -> Option<Bytes> {
        Some(Bytes::copy_from_slice(self))
    }
}

impl RequestBodySnapshot for Bytes {
    fn snapshot(&self) -> Option<Bytes> {
        Some(self.clone())
    }
}

impl RequestBodySnapshot for &'static str {
    fn snapshot(&self) -> Option<Bytes> {
        Some(Bytes::from_static(self.as_bytes()))
    }
}

impl RequestBodySnapshot for &'static [u8] {
    fn snapshot(&self) -> Option<Bytes> {
        Some(Bytes::from_static(self))
    }
}

impl<L: RequestBodySnapshot, R: RequestBodySnapshot> RequestBodySnapshot for http_body_util::Either<L, R> {
    fn snapshot(&self) -> Option<Bytes> {
        match self {
            http_body_util::Either::Left(body) => body.snapshot(),
            http_body_util::Either::Right(body) => body.snapshot(),
        }
    }
}

impl<D, E> RequestBodySnapshot for http_body_util::combinators::BoxBody<D, E> {
    fn snapshot(&self) -> Option<Bytes> {
        None
    }
}

impl<D, E> RequestBodySnapshot for http_body_util::combinators::UnsyncBoxBody<D, E> {
    fn snapshot(&self) -> Option<Bytes> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Empty, Full};

    #[test]
    fn in_memory_bodies_give_their_bytes_and_streams_none() {
        assert_eq!(
            Full::new(Bytes::from_static(b"abc")).snapshot().as_deref(),
            Some(&b"abc"[..])
        );
        assert_eq!(Full::new(&b"x"[..]).snapshot().as_deref(), Some(&b"x"[..]));
        let mut ring = std::collections::VecDeque::from(b"xcd".to_vec());
        ring.pop_front();
        ring.push_front(b'b');
        ring.push_front(b'a');
        assert_eq!(Full::new(ring).snapshot().as_deref(), Some(&b"abcd"[..]));
        assert_eq!(Empty::<Bytes>::new().snapshot().as_deref(), Some(&b""[..]));
        assert_eq!("hi".to_owned().snapshot().as_deref(), Some(&b"hi"[..]));
        let boxed = http_body_util::BodyExt::boxed(Full::new(Bytes::from_static(b"abc")));
        assert_eq!(boxed.snapshot(), None);
    }
}
