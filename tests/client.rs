//! `moesif_lambda::Client`: a connection of one's own (agent, queue, breaker, settings), given to a
//! `MoesifLayer` run through the real `lambda_runtime` loop (`run_http`, after-response delivery)
//! against the loopback emulator and a stand-in collector; flushed on the test's terms; profile calls
//! on its kept-alive connection.

use axum::routing::get;
use axum::{Json, Router};
use moesif_lambda::profiles::UserModel;
use moesif_lambda::{Client, MoesifLayer, MoesifMiddleware, Options};
use moesif_lambda_testkit::{http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi};
use serde_json::json;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(10);

/// Options that never make a send due after a response once the sandbox's first event went: large
/// batches, no age limit, traffic never seen as sparse.
fn holding(url: &'static str) -> Options {
    Options::new()
        .application_id("client-app")
        .base_uri(url)
        .batch_size(1000, usize::MAX)
        .max_batch_delay(Duration::from_secs(3600))
        .idle_threshold(Duration::from_secs(3600))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_owns_its_queue_and_flushes_it_on_demand() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let client = Client::new(&holding(url)).expect("a client");
    // Another connection to the same collector and application: a queue of its own.
    let other = Client::new(&holding(url)).expect("another client");
    let layer = MoesifLayer::with_client(holding(url), client.clone());
    spawn_function(move || {
        let app = Router::new()
            .route("/orders", get(|| async { Json(json!({"orders": []})) }))
            .layer(layer);
        moesif_lambda::run_http(app)
    });

    for n in 0..3 {
        let options = InvokeOptions {
            request_id: Some(format!("client-{n}")),
            ..InvokeOptions::default()
        };
        let answer = api
            .invoke_with(http_api_event("GET", "/orders", None), options)
            .await
            .expect("the function answers");
        assert_eq!(
            answer.response_json().map(|r| r["statusCode"].clone()),
            Some(json!(200))
        );
        assert!(api.wait_until_idle(WAIT).await);
    }
    // The sandbox's first event went at once (the loop went on once it was written); the other two
    // wait in the client's queue.
    collector.wait_for_event_count(1, WAIT).await;
    assert_eq!(collector.event_request_ids(), ["client-0"]);
    assert_eq!(client.queued(), 2);

    let untouched = other.flush(Duration::from_secs(5)).await;
    assert_eq!(
        (untouched.sent, client.queued()),
        (0, 2),
        "another client's flush leaves this queue alone"
    );
    let report = client.flush(Duration::from_secs(5)).await;
    assert_eq!((report.sent, report.requeued, client.queued()), (2, 0, 0));
    let mut ids = collector.event_request_ids();
    ids.sort();
    assert_eq!(ids, ["client-0", "client-1", "client-2"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profile_calls_through_a_client_reuse_its_connection() {
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let client = Client::new(&holding(url)).expect("a client");
    let calls = tokio::task::spawn_blocking(move || {
        (0..3)
            .map(|n| {
                let user = UserModel {
                    user_id: format!("u-{n}"),
                    ..Default::default()
                };
                client.update_user(&user)
            })
            .collect::<Vec<_>>()
    })
    .await
    .expect("the blocking calls ran");
    assert!(calls.iter().all(Result::is_ok), "{calls:?}");
    let posts: Vec<_> = collector
        .requests()
        .into_iter()
        .filter(|r| r.path == "/v1/users")
        .collect();
    assert_eq!(posts.len(), 3);
    assert_eq!(
        collector.connections(),
        1,
        "one kept-alive connection, one TLS set-up on Lambda"
    );
}

#[test]
fn a_client_needs_an_application_id_and_an_http_collector() {
    if std::env::var("MOESIF_APPLICATION_ID").is_err() {
        assert!(matches!(
            Client::new(&Options::new()),
            Err(moesif_lambda::Error::MissingApplicationId)
        ));
    }
    let bad = Options::new().application_id("a").base_uri("ftp://collector");
    assert!(matches!(
        Client::new(&bad),
        Err(moesif_lambda::Error::InvalidBaseUri(_))
    ));
}

/// Everything our crates log in this binary.
fn logs() -> moesif_lambda_testkit::LogBuffer {
    static LOGS: std::sync::OnceLock<moesif_lambda_testkit::LogBuffer> = std::sync::OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = moesif_lambda_testkit::LogBuffer::default();
        let writer = buffer.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("moesif_lambda=warn")
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        buffer
    })
    .clone()
}

/// A blocking GET through an agent with `middleware`, off the async workers.
async fn get_through(middleware: MoesifMiddleware, url: String) -> Option<u16> {
    tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder().middleware(middleware).build().into();
        agent.get(url).call().ok().map(|response| response.status().as_u16())
    })
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_middleware_given_a_client_logs_through_its_connection() {
    let named = Collector::start().await;
    let owned = Collector::start().await;
    let downstream = Collector::start().await;
    let named_url: &'static str = Box::leak(named.base_url().into_boxed_str());
    let owned_url: &'static str = Box::leak(owned.base_url().into_boxed_str());
    let client = Client::new(&Options::new().application_id("client-app").base_uri(owned_url)).expect("a client");
    // The options name one collector; the client's connection goes to another: the client wins.
    let middleware =
        MoesifMiddleware::with_client(Options::new().application_id("client-app").base_uri(named_url), &client);
    let status = get_through(middleware, format!("{}/v1/config", downstream.base_url())).await;
    assert_eq!(status, Some(200));
    // A call outside any invocation is sent at once in synchronous mode, and with the next invocation's
    // send after `run_http` (another test of this binary) switched the process to after-response
    // delivery: flushed here so that either mode delivers it.
    client.flush(WAIT).await;
    let events = owned.wait_for_events(1, WAIT).await;
    assert_eq!(
        events.len(),
        1,
        "the outgoing call went through the client's connection"
    );
    assert_eq!(events[0]["direction"], "Outgoing");
    assert!(named.events().is_empty(), "nothing to the collector the options named");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shared_connections_with_different_settings_say_so_once() {
    let logs = logs();
    let collector = Collector::start().await;
    let url: &'static str = Box::leak(collector.base_url().into_boxed_str());
    let first = Options::new()
        .application_id("shared-app")
        .base_uri(url)
        .batch_size(1, usize::MAX);
    let second = Options::new()
        .application_id("shared-app")
        .base_uri(url)
        .batch_size(50, usize::MAX);
    // A call to the collector itself is not logged, but resolves the middleware's connection.
    for options in [first, second.clone(), second] {
        get_through(MoesifMiddleware::new(options), format!("{url}/health")).await;
    }
    let warned = logs.text().matches("different delivery settings").count();
    assert_eq!(warned, 1, "one warning: {}", logs.text());
}
