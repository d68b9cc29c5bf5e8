//! A stand-in Moesif collector on loopback: records every request (gunzipped), answers like Moesif
//! (`/v1/events`, `/v1/events/batch`, `/v1/config`, `/v1/rules`, `/v1/users…`, `/v1/companies…`), and can be told to
//! fail, stall, hang or drop connections.

use crate::serve::{respond, serve, Received, Reply, Server};
use crate::watched::Watched;
use flate2::read::GzDecoder;
use serde_json::{json, Value};
use std::collections::VecDeque;
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How the collector answers a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Behaviour {
    /// Answer with this status (and no body).
    Status(u16),
    /// Answer normally after a delay.
    Delay(Duration),
    /// Answer with this status after a delay.
    DelayThen(Duration, u16),
    /// Never answer (until the collector is dropped).
    Hang,
    /// Drop the connection without answering.
    Close,
    /// Answer with this status and `Retry-After: <seconds>`.
    RetryAfter(u16, u64),
    /// Answer 400 to a request whose (gunzipped) body contains this text; others normally.
    RefuseContaining(&'static str),
}

/// One request the collector received.
#[derive(Debug, Clone)]
pub struct Recorded {
    /// HTTP method.
    pub method: String,
    /// Path and query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// Body as sent (gzip as sent).
    pub raw_body: Vec<u8>,
    /// Body, gunzipped when it was gzipped.
    pub body: Vec<u8>,
    /// The body as JSON, if it is JSON.
    pub json: Option<Value>,
    /// What the collector answered (`None`: it did not, the connection was dropped or hung).
    pub status: Option<u16>,
    /// When it arrived.
    pub received_at: Instant,
}

impl Recorded {
    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

#[derive(Default)]
struct State {
    requests: Vec<Recorded>,
    config: Value,
    etag: String,
    rules: Value,
    rules_tag: String,
    behaviours: VecDeque<Behaviour>,
    default_behaviour: Option<Behaviour>,
    required_app_id: Option<String>,
    round_trip: Duration,
}

/// The stand-in collector. Dropping it stops it.
pub struct Collector {
    shared: Arc<Watched<State>>,
    server: Server,
}

impl Collector {
    /// Starts a collector on 127.0.0.1 (a free port).
    ///
    /// # Panics
    /// If no loopback port can be bound (a broken test machine).
    pub async fn start() -> Collector {
        let shared = Arc::new(Watched::new(State {
            config: json!({"sample_rate": 100, "user_sample_rate": {}, "company_sample_rate": {}, "regex_config": []}),
            etag: "etag-1".to_owned(),
            rules: json!([]),
            rules_tag: "rules-1".to_owned(),
            ..State::default()
        }));
        let handler_shared = shared.clone();
        let (stop_tx, stop_rx) = watch::channel(false);
        let server = serve(move |request, _| answer(handler_shared.clone(), request, stop_rx.clone()))
            .await
            .expect("bind a loopback port for the collector");
        let mut stop = server.shutdown_signal();
        tokio::spawn(async move {
            let _ = stop.wait_for(|stopped| *stopped).await;
            let _ = stop_tx.send(true);
        });
        Collector { shared, server }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.server.addr)
    }

    /// A base URL where nothing listens (for "collector down" tests).
    pub fn closed_port_url() -> String {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map_or(9, |addr| addr.port());
        format!("http://127.0.0.1:{port}")
    }

    /// How many TCP connections were opened to the collector so far (keep-alive reuse shows as fewer
    /// connections than requests).
    pub fn connections(&self) -> usize {
        self.server.connections_accepted()
    }

    /// Forgets the requests received so far (a long benchmark keeps the collector's memory flat).
    pub fn forget_requests(&self) {
        self.shared.lock().requests.clear();
    }

    /// Every request received so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.lock().requests.clone()
    }

    /// Every action accepted (answered 2xx) so far, from `/v1/actions` and `/v1/actions/batch`.
    pub fn actions(&self) -> Vec<Value> {
        accepted_at(&self.shared.lock().requests, "/v1/actions")
    }

    /// Every Moesif event accepted (answered 2xx) so far, from `/v1/events` and `/v1/events/batch`.
    pub fn events(&self) -> Vec<Value> {
        events_of(&self.shared.lock().requests)
    }

    /// Waits until `n` events were accepted or `timeout` passed; returns the events there are.
    pub async fn wait_for_events(&self, n: usize, timeout: Duration) -> Vec<Value> {
        self.wait(timeout, |state| events_of(&state.requests).len() >= n).await;
        self.events()
    }

    /// Waits until `n` requests arrived or `timeout` passed; returns the requests there are.
    pub async fn wait_for_requests(&self, n: usize, timeout: Duration) -> Vec<Recorded> {
        self.wait(timeout, |state| state.requests.len() >= n).await;
        self.requests()
    }

    /// How many Moesif events were accepted so far, as [`events`](Self::events) counts them, without
    /// copying them (for runs with many thousands).
    pub fn event_count(&self) -> usize {
        count_events(&self.shared.lock().requests)
    }

    /// [`wait_for_events`](Self::wait_for_events) that returns only how many there are: cheap however
    /// many events arrived.
    pub async fn wait_for_event_count(&self, n: usize, timeout: Duration) -> usize {
        self.wait(timeout, |state| count_events(&state.requests) >= n).await;
        self.event_count()
    }

    /// How many POSTs arrived so far (events, actions, profiles), without copying them.
    pub fn post_count(&self) -> usize {
        count_posts(&self.shared.lock().requests)
    }

    /// Waits until `n` POSTs arrived or `timeout` passed; returns how many there are.
    pub async fn wait_for_posts(&self, n: usize, timeout: Duration) -> usize {
        self.wait(timeout, |state| count_posts(&state.requests) >= n).await;
        self.post_count()
    }

    /// Waits until an event of invocation `request_id` ([`event_request_id`]) arrived or `timeout`
    /// passed; returns the events of that invocation there are.
    pub async fn wait_for_events_of(&self, request_id: &str, timeout: Duration) -> Vec<Value> {
        let of = |events: Vec<Value>| -> Vec<Value> {
            events
                .into_iter()
                .filter(|event| event_request_id(event) == Some(request_id))
                .collect()
        };
        self.wait(timeout, |state| !of(events_of(&state.requests)).is_empty())
            .await;
        of(self.events())
    }

    /// Waits until `n` requests to `path` (e.g. `/v1/rules`) arrived or `timeout` passed; returns how
    /// many there are.
    pub async fn wait_for_requests_to(&self, path: &str, n: usize, timeout: Duration) -> usize {
        let count = |requests: &[Recorded]| requests.iter().filter(|r| r.path == path).count();
        self.wait(timeout, |state| count(&state.requests) >= n).await;
        count(&self.shared.lock().requests)
    }

    async fn wait(&self, timeout: Duration, done: impl Fn(&State) -> bool) {
        self.shared.wait_for(timeout, |state| done(state).then_some(())).await;
    }

    /// The request id ([`event_request_id`]) of each accepted event.
    pub fn event_request_ids(&self) -> Vec<String> {
        self.events()
            .iter()
            .filter_map(|event| event_request_id(event).map(str::to_owned))
            .collect()
    }

    /// What `GET /v1/config` answers, and the `X-Moesif-Config-ETag` of every answer.
    pub fn set_config(&self, config: Value, etag: &str) {
        let mut state = self.shared.lock();
        state.config = config;
        state.etag = etag.to_owned();
    }

    /// What `GET /v1/rules` answers (governance rules, a JSON array), and the `X-Moesif-Rules-Tag` of
    /// every answer.
    pub fn set_rules(&self, rules: Value, tag: &str) {
        let mut state = self.shared.lock();
        state.rules = rules;
        state.rules_tag = tag.to_owned();
    }

    /// Behaviours for the next requests other than `GET /v1/config` and `GET /v1/rules`, one each, in
    /// order.
    pub fn push_behaviours(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.shared.lock().behaviours.extend(behaviours);
    }

    /// The behaviour of every request once the queued ones are used (`None`: answer normally).
    pub fn set_default_behaviour(&self, behaviour: Option<Behaviour>) {
        self.shared.lock().default_behaviour = behaviour;
    }

    /// Every answer (the config's and the rules' included) comes this much after its request arrived,
    /// before any behaviour's own delay: a collector some way off, whose round trips show (default:
    /// none).
    pub fn set_round_trip(&self, round_trip: Duration) {
        self.shared.lock().round_trip = round_trip;
    }

    /// Requests without this `X-Moesif-Application-Id` get 401.
    pub fn set_required_app_id(&self, application_id: Option<&str>) {
        self.shared.lock().required_app_id = application_id.map(str::to_owned);
    }
}

/// How many of `requests` are POSTs.
fn count_posts(requests: &[Recorded]) -> usize {
    requests.iter().filter(|r| r.method == "POST").count()
}

/// The number of events [`events_of`] would return.
fn count_events(requests: &[Recorded]) -> usize {
    requests
        .iter()
        .filter(|r| r.method == "POST" && r.status.is_some_and(|s| (200..300).contains(&s)))
        .map(|r| match (r.path.as_str(), &r.json) {
            ("/v1/events", Some(_)) => 1,
            ("/v1/events/batch", Some(Value::Array(batch))) => batch.len(),
            _ => 0,
        })
        .sum()
}

fn events_of(requests: &[Recorded]) -> Vec<Value> {
    accepted_at(requests, "/v1/events")
}

/// Every item accepted (answered 2xx) at `path` or `{path}/batch`.
fn accepted_at(requests: &[Recorded], path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for request in requests {
        let accepted = request.status.is_some_and(|s| (200..300).contains(&s));
        if !accepted || request.method != "POST" {
            continue;
        }
        let batch = request.path.strip_prefix(path).map(|rest| rest == "/batch");
        match (batch, &request.json) {
            (Some(false), Some(item)) if request.path == path => items.push(item.clone()),
            (Some(true), Some(Value::Array(batch))) => items.extend(batch.iter().cloned()),
            _ => {}
        }
    }
    items
}

async fn answer(shared: Arc<Watched<State>>, request: Received, mut stop: watch::Receiver<bool>) -> Reply {
    let gzipped = request
        .header("content-encoding")
        .is_some_and(|e| e.eq_ignore_ascii_case("gzip"));
    let body = if gzipped {
        let mut out = Vec::new();
        match GzDecoder::new(&request.body[..]).read_to_end(&mut out) {
            Ok(_) => out,
            Err(_) => return respond(400, &[], "bad gzip"),
        }
    } else {
        request.body.clone()
    };
    let is_config =
        request.method == "GET" && (request.path.starts_with("/v1/config") || request.path.starts_with("/v1/rules"));
    let (behaviour, etag, config, authorised, index, rules, rules_tag, round_trip) = {
        let mut state = shared.lock();
        let authorised = state
            .required_app_id
            .as_deref()
            .is_none_or(|id| request.header("x-moesif-application-id") == Some(id));
        let behaviour = if is_config {
            None
        } else {
            state.behaviours.pop_front().or(state.default_behaviour)
        };
        state.requests.push(Recorded {
            method: request.method.clone(),
            path: request.path.clone(),
            headers: request.headers.clone(),
            raw_body: request.body.clone(),
            json: serde_json::from_slice(&body).ok(),
            body,
            status: None,
            received_at: Instant::now(),
        });
        (
            behaviour,
            state.etag.clone(),
            state.config.clone(),
            authorised,
            state.requests.len() - 1,
            state.rules.clone(),
            state.rules_tag.clone(),
            state.round_trip,
        )
    };
    shared.notify();
    if !round_trip.is_zero() {
        tokio::time::sleep(round_trip).await;
    }

    let status = match behaviour {
        Some(Behaviour::Hang) => {
            let _ = stop.wait_for(|stopped| *stopped).await;
            return Reply::Close;
        }
        Some(Behaviour::Close) => return Reply::Close,
        Some(Behaviour::Delay(delay)) => {
            tokio::time::sleep(delay).await;
            None
        }
        Some(Behaviour::DelayThen(delay, status)) => {
            tokio::time::sleep(delay).await;
            Some(status)
        }
        Some(Behaviour::Status(status)) => Some(status),
        Some(Behaviour::RetryAfter(status, _)) => Some(status),
        Some(Behaviour::RefuseContaining(needle)) => {
            let recorded = shared
                .lock()
                .requests
                .get(index)
                .map(|r| r.body.clone())
                .unwrap_or_default();
            let refused = recorded.windows(needle.len()).any(|window| window == needle.as_bytes());
            refused.then_some(400)
        }
        None => None,
    };
    let (status, body) = match (authorised, status) {
        (false, _) => (401, String::new()),
        (true, Some(status)) => (status, String::new()),
        (true, None) => default_answer(&request, &config, &rules),
    };
    {
        let mut state = shared.lock();
        if let Some(recorded) = state.requests.get_mut(index) {
            recorded.status = Some(status);
        }
    }
    shared.notify();
    let retry_after = match behaviour {
        Some(Behaviour::RetryAfter(_, seconds)) => seconds.to_string(),
        _ => String::new(),
    };
    let mut headers = vec![
        ("x-moesif-config-etag", etag.as_str()),
        ("x-moesif-rules-tag", rules_tag.as_str()),
        ("content-type", "application/json"),
    ];
    if !retry_after.is_empty() {
        headers.push(("retry-after", &retry_after));
    }
    respond(status, &headers, body)
}

fn default_answer(request: &Received, config: &Value, rules: &Value) -> (u16, String) {
    let path = request.path.split('?').next().unwrap_or_default();
    match (request.method.as_str(), path) {
        ("GET", "/v1/config") => (200, config.to_string()),
        ("GET", "/v1/rules") => (200, rules.to_string()),
        (
            "POST",
            "/v1/events"
            | "/v1/events/batch"
            | "/v1/users"
            | "/v1/users/batch"
            | "/v1/companies"
            | "/v1/companies/batch"
            | "/v1/subscriptions"
            | "/v1/subscriptions/batch"
            | "/v1/actions"
            | "/v1/actions/batch",
        ) => (201, String::new()),
        _ => (404, String::new()),
    }
}

/// The request id an event carries (`metadata.trace_id`, where the default metadata puts it).
pub fn event_request_id(event: &Value) -> Option<&str> {
    event.pointer("/metadata/trace_id").and_then(Value::as_str)
}

/// The event of the invocation `request_id` among `events`; panics, listing them, when there is none.
///
/// ```
/// let events = vec![serde_json::json!({"metadata": {"trace_id": "req-1"}})];
/// assert_eq!(moesif_lambda_testkit::event_for(&events, "req-1"), &events[0]);
/// ```
pub fn event_for<'a>(events: &'a [Value], request_id: &str) -> &'a Value {
    events
        .iter()
        .find(|event| event_request_id(event) == Some(request_id))
        .unwrap_or_else(|| panic!("an event for {request_id}: {events:?}"))
}
