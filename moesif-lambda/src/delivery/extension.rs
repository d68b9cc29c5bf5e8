//! The internal extension that makes Lambda send `SIGTERM` before it ends the sandbox: registered for
//! no events (Lambda never waits for it during an invocation), it only has to ask for its next event
//! once, to end its part of init, and then keeps that long poll open.
//!
//! Two requests of the Extensions API, each a few lines of HTTP/1.1 over a TCP connection to the
//! Runtime API (answers read by `httparse`, which hyper already links in; no extension framework, no
//! server for the Logs or Telemetry APIs). Registering blocks the thread that runs init: it is on the
//! cold start's path (the runtime may ask for its first event only once it is done), and a blocking
//! round trip to the local Runtime API spares the hand-offs between that thread and Tokio's reactor
//! and the hyper client an async one took (0.25–0.5 ms of init, `benches/size.sh`). The long poll is
//! async, on a connection of its own.

use std::io::{Read as _, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::time::Duration;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const REGISTER: &str = "/2020-01-01/extension/register";
const NEXT_EVENT: &str = "/2020-01-01/extension/event/next";
const NAME_HEADER: &str = "Lambda-Extension-Name";
const ID_HEADER: &str = "Lambda-Extension-Identifier";
/// The longest registering may take (the Runtime API is local and answers at once; an emulator that
/// runs on the very thread this blocks cannot answer, and registering then fails after this long).
const REGISTER_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read (the Runtime API's are a few hundred bytes).
const MAX_ANSWER_BYTES: usize = 64 * 1024;

/// Registers the extension `name` for no events and spawns the task that asks for its next event (on
/// the current Tokio runtime). One round trip to the Runtime API, blocking (see the module docs); an
/// `Err` says why it did not register.
pub(crate) async fn register(name: &'static str) -> Result<(), String> {
    let endpoint =
        std::env::var("AWS_LAMBDA_RUNTIME_API").map_err(|_| "AWS_LAMBDA_RUNTIME_API is not set".to_owned())?;
    let register = || register_blocking(&endpoint, name);
    let id = match tokio::runtime::Handle::try_current().map(|handle| handle.runtime_flavor()) {
        // Other tasks of this worker move to another thread meanwhile.
        Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(register),
        _ => register(),
    }?;
    tokio::spawn(async move {
        if let Err(error) = wait_for_events(&endpoint, &id).await {
            tracing::debug!(%error, "moesif: the shutdown extension stopped");
        }
    });
    Ok(())
}

/// `POST …/extension/register` for no events: the extension's identifier.
fn register_blocking(endpoint: &str, name: &str) -> Result<String, String> {
    let mut stream = connect(endpoint)?;
    stream
        .set_read_timeout(Some(REGISTER_TIMEOUT))
        .and_then(|()| stream.set_write_timeout(Some(REGISTER_TIMEOUT)))
        .map_err(|error| error.to_string())?;
    let body = r#"{"events":[]}"#;
    let request = format!(
        "POST {REGISTER} HTTP/1.1\r\nHost: {endpoint}\r\n{NAME_HEADER}: {name}\r\nContent-Type: application/json\r\n\
         Content-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|error| error.to_string())?;
    let mut answer = Answer::default();
    let head = loop {
        if let Some(head) = answer.complete()? {
            break head;
        }
        let read = stream.read(answer.space()).map_err(|error| error.to_string())?;
        answer.filled(read)?;
    };
    match (head.status, head.id) {
        (200..=299, Some(id)) => Ok(id),
        (200..=299, None) => Err("the Runtime API gave no extension identifier".to_owned()),
        (status, _) => Err(format!("unable to register the extension: {status}")),
    }
}

/// A connection to the first address of `endpoint` (`host:port`) that takes one (a name such as
/// `localhost` may give an IPv6 address the Runtime API does not listen on before an IPv4 one).
fn connect(endpoint: &str) -> Result<TcpStream, String> {
    let addresses = endpoint
        .to_socket_addrs()
        .map_err(|error| format!("AWS_LAMBDA_RUNTIME_API is not host:port: {error}"))?;
    let mut last_error = "AWS_LAMBDA_RUNTIME_API names no address".to_owned();
    for address in addresses {
        match TcpStream::connect_timeout(&address, REGISTER_TIMEOUT) {
            Ok(stream) => return Ok(stream),
            Err(error) => last_error = format!("{address}: {error}"),
        }
    }
    Err(last_error)
}

/// Asks for the next event, again each time one comes (none is expected: the extension subscribed to
/// none, and the process ends with `SIGTERM`); stops at the first failure or refusal.
async fn wait_for_events(endpoint: &str, id: &str) -> Result<(), String> {
    let mut stream = tokio::net::TcpStream::connect(endpoint)
        .await
        .map_err(|error| error.to_string())?;
    let request = format!("GET {NEXT_EVENT} HTTP/1.1\r\nHost: {endpoint}\r\n{ID_HEADER}: {id}\r\n\r\n");
    loop {
        stream
            .write_all(request.as_bytes())
            .await
            .map_err(|error| error.to_string())?;
        let mut answer = Answer::default();
        let head = loop {
            if let Some(head) = answer.complete()? {
                break head;
            }
            let read = stream.read(answer.space()).await.map_err(|error| error.to_string())?;
            answer.filled(read)?;
        };
        if !(200..=299).contains(&head.status) {
            return Err(format!("the Runtime API answered {}", head.status));
        }
    }
}

/// One HTTP answer as it is read, with its body (sized by `Content-Length`; the Runtime API sends no
/// other kind).
#[derive(Default)]
struct Answer {
    bytes: Vec<u8>,
    filled: usize,
}

/// What the extension reads of an answer.
struct Head {
    status: u16,
    id: Option<String>,
}

impl Answer {
    /// Room for the next read.
    fn space(&mut self) -> &mut [u8] {
        if self.bytes.len() - self.filled < 1024 {
            self.bytes.resize(self.filled + 4096, 0);
        }
        &mut self.bytes[self.filled..]
    }

    /// Notes a read of `read` bytes into [`Self::space`] (`0`: the connection closed).
    fn filled(&mut self, read: usize) -> Result<(), String> {
        if read == 0 {
            return Err("the Runtime API closed the connection".to_owned());
        }
        self.filled += read;
        if self.filled > MAX_ANSWER_BYTES {
            return Err("the Runtime API's answer is too long".to_owned());
        }
        Ok(())
    }

    /// The answer's head once it and its whole body are in.
    fn complete(&self) -> Result<Option<Head>, String> {
        let mut headers = [httparse::EMPTY_HEADER; 32];
        let mut response = httparse::Response::new(&mut headers);
        let head_length = match response.parse(&self.bytes[..self.filled]) {
            Ok(httparse::Status::Complete(length)) => length,
            Ok(httparse::Status::Partial) => return Ok(None),
            Err(error) => return Err(format!("the Runtime API's answer cannot be read: {error}")),
        };
        let header = |name: &str| {
            response
                .headers
                .iter()
                .find(|header| header.name.eq_ignore_ascii_case(name))
                .and_then(|header| std::str::from_utf8(header.value).ok())
        };
        let body_length = header("content-length").map_or(Ok(0), |length| {
            length
                .trim()
                .parse::<usize>()
                .map_err(|_| "the Runtime API's answer has a bad Content-Length".to_owned())
        })?;
        if self.filled < head_length.saturating_add(body_length) {
            return Ok(None);
        }
        Ok(Some(Head {
            status: response.code.unwrap_or(0),
            id: header(ID_HEADER).map(str::to_owned),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer_of(text: &str) -> Answer {
        let mut answer = Answer::default();
        let space = answer.space();
        space[..text.len()].copy_from_slice(text.as_bytes());
        answer.filled = text.len();
        answer
    }

    #[test]
    fn an_answer_is_complete_once_its_head_and_body_are_in() {
        let whole = "HTTP/1.1 200 OK\r\nLambda-Extension-Identifier: abc-1\r\nContent-Length: 4\r\n\r\n{..}";
        for cut in 0..whole.len() {
            assert!(matches!(answer_of(&whole[..cut]).complete(), Ok(None)), "{cut}");
        }
        let head = answer_of(whole).complete().ok().flatten();
        assert_eq!(head.as_ref().map(|head| head.status), Some(200));
        assert_eq!(head.and_then(|head| head.id).as_deref(), Some("abc-1"));
    }

    #[test]
    fn a_name_connects_through_whichever_of_its_addresses_listens() {
        // Listening on IPv4 loopback only; `localhost` may give `::1` first.
        let Ok(listener) = std::net::TcpListener::bind("127.0.0.1:0") else {
            return; // no loopback to test with
        };
        let port = listener.local_addr().map(|address| address.port()).unwrap_or(0);
        assert!(connect(&format!("localhost:{port}")).is_ok());
        assert!(connect(&format!("127.0.0.1:{port}")).is_ok());
        drop(listener);
        assert!(
            connect(&format!("127.0.0.1:{port}")).is_err(),
            "nothing listens any more"
        );
        assert!(connect("no port").is_err());
    }

    #[test]
    fn refusals_and_bad_answers_are_told_apart() {
        let refused = answer_of("HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n").complete();
        assert_eq!(
            refused.ok().flatten().map(|head| (head.status, head.id)),
            Some((403, None))
        );
        assert!(answer_of("garbage\r\n\r\n").complete().is_err());
        assert!(answer_of("HTTP/1.1 200 OK\r\nContent-Length: many\r\n\r\n")
            .complete()
            .is_err());
        let mut closed = Answer::default();
        assert!(closed.filled(0).is_err());
    }
}
