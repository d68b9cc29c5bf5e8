//! [`Upstream`]: a loopback "third-party API" for outgoing-call tests, with fixed routes for the kinds of
//! answers a client gets (JSON, text, binary, gzip, error statuses, a streamed body, a body that breaks
//! off, a redirect, an echo of the request).

use crate::serve::{serve, Received, Reply, Server};
use bytes::Bytes;
use http_body_util::{channel::Channel, BodyExt, Full};
use hyper::Response;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

type Body = http_body_util::combinators::BoxBody<Bytes, std::io::Error>;

/// The JSON `/json` answers.
pub const UPSTREAM_JSON: &str = r#"{"orders":[1,2,3],"token":"t-secret"}"#;
/// The text `/text` answers.
pub const UPSTREAM_TEXT: &str = "plain words, not JSON";
/// The bytes `/binary` answers (not UTF-8).
pub const UPSTREAM_BINARY: [u8; 6] = [0x00, 0x9f, 0x92, 0x96, 0xff, 0x10];
/// The JSON `/gzip` answers, gzip-compressed.
pub const UPSTREAM_GZIP_JSON: &str = r#"{"zipped":true}"#;
/// The chunks `/stream` answers, one after the other.
pub const UPSTREAM_CHUNKS: [&str; 3] = ["chunk-1;", "chunk-2;", "chunk-3;"];

/// A loopback API server on 127.0.0.1; dropping it stops it and every connection. Routes (the path,
/// any query ignored):
///
/// - `/json`: `200`, [`UPSTREAM_JSON`] as `application/json`
/// - `/text`: `200`, [`UPSTREAM_TEXT`] as `text/plain; charset=utf-8`
/// - `/binary`: `200`, [`UPSTREAM_BINARY`] as `application/octet-stream`
/// - `/gzip`: `200`, [`UPSTREAM_GZIP_JSON`] gzip-compressed, `Content-Encoding: gzip`
/// - `/status/N`: status `N`, `{"error":"status N"}` as JSON
/// - `/stream`: `200`, [`UPSTREAM_CHUNKS`] as a chunked `text/plain` body, a few milliseconds apart
/// - `/broken`: `200`, one chunk of a chunked body, then the connection is cut
/// - `/redirect`: `302` to `/json`
/// - `/echo`: `200`, the request's body with its `Content-Type`
/// - `/empty`: `204`
/// - anything else: `404`
pub struct Upstream {
    server: Server,
    received: Arc<Mutex<Vec<Received>>>,
}

impl Upstream {
    /// Starts one on a free loopback port.
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start() -> Upstream {
        let received = Arc::new(Mutex::new(Vec::new()));
        let log = received.clone();
        let server = serve(move |incoming: Received, _| {
            let log = log.clone();
            async move {
                let response = answer(&incoming);
                log.lock().unwrap_or_else(|p| p.into_inner()).push(incoming);
                Reply::Respond(response)
            }
        })
        .await
        .expect("bind a loopback port for the upstream");
        Upstream { server, received }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.server.addr)
    }

    /// Every request received so far, in order.
    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn full(status: u16, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Response<Body> {
    let mut builder = Response::builder().status(status);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(Full::new(body.into()).map_err(|never| match never {}).boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed()))
}

fn gzip(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let _ = encoder.write_all(text.as_bytes());
    encoder.finish().unwrap_or_default()
}

/// A chunked body: `chunks` a few milliseconds apart, then its end, or a cut connection if `cut`.
fn streamed(chunks: Vec<&'static str>, cut: bool) -> Response<Body> {
    let (mut sender, body) = Channel::<Bytes, std::io::Error>::new(1);
    tokio::spawn(async move {
        for chunk in chunks {
            if sender.send_data(Bytes::from_static(chunk.as_bytes())).await.is_err() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        if cut {
            sender.abort(std::io::Error::other("the upstream cut the body"));
        }
    });
    Response::builder()
        .status(200)
        .header("content-type", "text/plain")
        .body(body.boxed())
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new()).map_err(|never| match never {}).boxed()))
}

fn answer(request: &Received) -> Response<Body> {
    let path = request.path.split('?').next().unwrap_or_default();
    match path {
        "/json" => full(200, &[("content-type", "application/json")], UPSTREAM_JSON),
        "/text" => full(200, &[("content-type", "text/plain; charset=utf-8")], UPSTREAM_TEXT),
        "/binary" => full(
            200,
            &[("content-type", "application/octet-stream")],
            UPSTREAM_BINARY.to_vec(),
        ),
        "/gzip" => full(
            200,
            &[("content-type", "application/json"), ("content-encoding", "gzip")],
            gzip(UPSTREAM_GZIP_JSON),
        ),
        "/stream" => streamed(UPSTREAM_CHUNKS.to_vec(), false),
        "/broken" => streamed(vec!["partial"], true),
        "/redirect" => full(302, &[("location", "/json")], Bytes::new()),
        "/echo" => {
            let content_type = request.header("content-type").unwrap_or("application/octet-stream");
            full(200, &[("content-type", content_type)], request.body.clone())
        }
        "/empty" => full(204, &[], Bytes::new()),
        _ => match path.strip_prefix("/status/").and_then(|code| code.parse::<u16>().ok()) {
            Some(status) => full(
                status,
                &[("content-type", "application/json")],
                format!(r#"{{"error":"status {status}"}}"#),
            ),
            None => full(404, &[("content-type", "text/plain")], "no such route"),
        },
    }
}
