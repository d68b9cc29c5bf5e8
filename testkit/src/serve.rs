//! The HTTP plumbing both servers share: accept on 127.0.0.1, serve HTTP/1.1 with keep-alive, stop
//! every connection when the server is dropped.

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::watch;

/// A request as the servers see it: method, path with query, lower-cased headers, body bytes.
#[derive(Debug, Clone)]
pub struct Received {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body as received.
    pub body: Vec<u8>,
}

impl Received {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// How a request's body came, beyond its bytes ([`Received`] keeps those): each data frame as it
/// arrived (a chunk of a chunked body; one large chunk may come as several frames, never two chunks as
/// one), and the trailers sent after the last chunk.
#[derive(Debug, Clone, Default)]
pub(crate) struct Framing {
    /// The data frames, in order, with when each arrived.
    pub frames: Vec<(std::time::Instant, Bytes)>,
    /// The trailer fields, names lower-cased.
    pub trailers: Vec<(String, String)>,
}

/// What a handler answers: a response, or "drop the connection without answering".
pub(crate) enum Reply<B = Full<Bytes>> {
    Respond(Response<B>),
    Close,
}

/// A running server; dropping it stops the accept loop and every open connection.
pub(crate) struct Server {
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    /// TCP connections accepted so far.
    accepted: Arc<AtomicUsize>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
    }
}

impl Server {
    /// A receiver that turns `true` when the server is dropped (for handlers that hang until then).
    pub(crate) fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shutdown.subscribe()
    }

    /// How many TCP connections it accepted so far.
    pub(crate) fn connections_accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// Starts serving `handler` on 127.0.0.1 (a free port).
pub(crate) async fn serve<H, F, B>(handler: H) -> std::io::Result<Server>
where
    H: Fn(Received, Framing) -> F + Send + Sync + 'static,
    F: Future<Output = Reply<B>> + Send + 'static,
    B: hyper::body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (shutdown, mut stop) = watch::channel(false);
    let handler = Arc::new(handler);
    let connections = shutdown.subscribe();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                _ = stop.changed() => return,
            };
            let Ok((stream, _)) = accepted else { continue };
            counted.fetch_add(1, Ordering::SeqCst);
            let handler = handler.clone();
            let mut stop_connection = connections.clone();
            tokio::spawn(async move {
                let service = service_fn(move |request: Request<Incoming>| {
                    let handler = handler.clone();
                    async move {
                        let (incoming, framing) = read(request).await;
                        match handler(incoming, framing).await {
                            Reply::Respond(response) => Ok(response),
                            Reply::Close => Err("closing the connection without an answer"),
                        }
                    }
                });
                let connection = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = connection => {}
                    _ = stop_connection.wait_for(|stopped| *stopped) => {}
                }
            });
        }
    });
    Ok(Server {
        addr,
        shutdown,
        accepted,
    })
}

/// Reads a request to its end, frame by frame (a body that fails part-way keeps what came before).
async fn read(request: Request<Incoming>) -> (Received, Framing) {
    let (parts, mut incoming) = request.into_parts();
    let mut body = Vec::new();
    let mut framing = Framing::default();
    while let Some(Ok(frame)) = incoming.frame().await {
        match frame.into_data() {
            Ok(data) => {
                body.extend_from_slice(&data);
                framing.frames.push((std::time::Instant::now(), data));
            }
            Err(frame) => {
                if let Some(trailers) = frame.trailers_ref() {
                    framing.trailers.extend(trailers.iter().map(|(name, value)| {
                        (
                            name.as_str().to_owned(),
                            String::from_utf8_lossy(value.as_bytes()).into_owned(),
                        )
                    }));
                }
            }
        }
    }
    let received = Received {
        method: parts.method.to_string(),
        path: parts
            .uri
            .path_and_query()
            .map_or_else(|| parts.uri.path().to_owned(), |pq| pq.to_string()),
        headers: parts
            .headers
            .iter()
            .map(|(name, value)| {
                (
                    name.as_str().to_owned(),
                    String::from_utf8_lossy(value.as_bytes()).into_owned(),
                )
            })
            .collect(),
        body,
    };
    (received, framing)
}

/// A response with a status, headers and body.
pub(crate) fn respond(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    match builder.body(Full::new(body.into())) {
        Ok(response) => Reply::Respond(response),
        Err(_) => Reply::Close,
    }
}
