//! [`MoesifReqwest`]: a `reqwest-middleware` middleware handing each call a `reqwest` 0.13 client makes
//! to the capture core, its response body wrapped in [`MoesifClientBody`].

use super::body::{MoesifClientBody, Tap};
use super::event::Seen;
use super::record::Recorder;
use reqwest::ResponseBuilderExt;
use reqwest_middleware::{Middleware, Next};

/// A [`reqwest-middleware`](https://docs.rs/reqwest-middleware) 0.5 middleware that logs every call a
/// `reqwest` 0.13 client makes as an `Outgoing` Moesif event (feature `reqwest`).
///
/// The event is the one [`crate::MoesifMiddleware`] makes (the same capture core): method, the URI
/// (without a `user:password@` part), the request headers the middleware sees (those the request was
/// built with, plus `host` from the URI; what reqwest adds after the middleware, such as its default
/// headers, is not invented), the response status and headers, both bodies as JSON or base64 with
/// redaction and decoding as for incoming bodies, start and end time, and `metadata.request_id` of
/// the invocation; the [`crate::OutgoingOptions`] hooks, sampling and the queue apply.
///
/// The caller's code sees what it would without it: the same status, version, headers, extensions,
/// `url()`, `content_length()` and complete body; errors where they happened.
///
/// - **Response bodies** are handed on as they stream, never read ahead: a copy is kept up to
///   `max_body_bytes` (over it, the event records the size). The call is queued when the body ends,
///   fails, or is dropped before its end (then its body is a `body cut` marker): read the body, or
///   drop the response, for it to be logged. A body error reaches the caller where it happened, as a
///   `reqwest::Error` of the same kind (its source chain holds the original).
/// - **Request bodies** in memory (`.body(bytes)`, `.json(…)`) are copied up to the cap; a streamed
///   one (`Body::wrap_stream`) is logged without its body, never buffered.
/// - **Redirects** are followed inside reqwest, below the middleware: the call is logged once, as the
///   original request (method, URI, headers) with the final response (`response.url()` is the final
///   URL, as without the middleware).
/// - A call that gets no answer (refused, timed out) is not logged; its error is returned unchanged.
/// - Calls to the Moesif collector itself are never logged; without an application id nothing is.
/// - `OutgoingOptions::log_body(false)` leaves the response untouched (not wrapped).
///
/// For reqwest 0.13 with reqwest-middleware 0.5; reqwest 0.12 is not supported (use
/// [`crate::OutgoingRecorder`] there).
///
/// ```no_run
/// use moesif_lambda::{MoesifReqwest, Options};
///
/// const OPTIONS: Options = Options::new();
/// # async fn example() -> Result<(), reqwest_middleware::Error> {
/// let client = reqwest_middleware::ClientBuilder::new(reqwest::Client::new())
///     .with(MoesifReqwest::new(OPTIONS))
///     .build();
/// let orders = client.get("https://api.example.com/orders").send().await?.text().await?;
/// # let _ = orders;
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct MoesifReqwest {
    recorder: Recorder,
}

impl MoesifReqwest {
    /// A middleware logging with `options` (its `outgoing` part, application id, base URI, body cap,
    /// redaction and mask hook).
    ///
    /// ```
    /// let middleware = moesif_lambda::MoesifReqwest::new(moesif_lambda::Options::new());
    /// ```
    #[must_use]
    pub fn new(options: crate::Options) -> Self {
        MoesifReqwest {
            recorder: Recorder::new(options),
        }
    }

    /// A middleware logging with `options` through `client`'s connection.
    ///
    /// ```
    /// use moesif_lambda::{Client, MoesifReqwest, Options};
    ///
    /// let options = Options::new().application_id("my-app-id");
    /// let client = Client::new(&options)?;
    /// let middleware = MoesifReqwest::with_client(options, &client);
    /// # Ok::<_, moesif_lambda::Error>(())
    /// ```
    #[must_use]
    pub fn with_client(options: crate::Options, client: &crate::Client) -> Self {
        MoesifReqwest {
            recorder: Recorder::with_client(options, client),
        }
    }
}

#[async_trait::async_trait]
impl Middleware for MoesifReqwest {
    async fn handle(
        &self,
        request: reqwest::Request,
        extensions: &mut http::Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<reqwest::Response> {
        let begun = match request.url().as_str().parse::<http::Uri>() {
            Ok(uri) => self.recorder.begin(request.method(), &uri, request.headers()),
            Err(_) => None,
        };
        let Some(mut begun) = begun else {
            return next.run(request, extensions).await;
        };
        let log_body = self.recorder.log_body();
        if log_body {
            // In memory: copied (up to the cap); a stream: logged without its body.
            if let Some(bytes) = request.body().and_then(reqwest::Body::as_bytes) {
                begun.request_slice(bytes);
            }
        }
        // An error (no answer): not logged, returned as it is.
        let response = next.run(request, extensions).await?;
        if !log_body {
            begun.finish(response.status().as_u16(), response.headers(), Seen::Nothing);
            return Ok(response);
        }
        let url = response.url().clone();
        let (mut parts, body) = http::Response::<reqwest::Body>::from(response).into_parts();
        // `url()` comes back through the extension reqwest reads it from.
        if let Ok(marked) = http::Response::builder().url(url).body(()) {
            parts.extensions.extend(marked.into_parts().0.extensions);
        }
        let tap = Tap::new(begun, &parts, self.recorder.max_body_bytes());
        let body = reqwest::Body::wrap(MoesifClientBody::new(body, Some(tap)));
        Ok(reqwest::Response::from(http::Response::from_parts(parts, body)))
    }
}
