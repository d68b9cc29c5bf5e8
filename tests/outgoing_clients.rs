//! Outgoing calls made with reqwest (`MoesifReqwest`) and hyper-util's legacy client (`MoesifClientLayer`)
//! inside an annotated handler, run by the real lambda_runtime loop against a loopback upstream
//! (`testkit::Upstream`): every kind of answer is logged as an `Outgoing` event of its invocation (JSON,
//! text, binary, gzip, 4xx/5xx, streamed, redirected, cut), redacted; a call without an answer is not
//! logged; and what the caller gets is compared byte for byte with the same call made without the
//! middleware. Concurrent calls (joined, spawned with `InvocationHandle`) and several invocations in
//! flight under `run_concurrent` are each tied to their own request id.

#[path = "support/clients.rs"]
mod clients;

use clients::{assert_common_events, assert_same_views, event_of, run_scenarios, PATHS};
use moesif_lambda_testkit::{UPSTREAM_CHUNKS, UPSTREAM_JSON};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reqwest_and_hyper_client_calls_are_logged_and_the_caller_sees_the_same() {
    let (mut results, upstream) = run_scenarios(&[("reqwest", "rq-1"), ("hyper", "hy-1")]).await;
    let (hyper_views, hyper_events) = results.pop().unwrap_or_default();
    let (views, events) = results.pop().unwrap_or_default();
    assert_same_views(&views);
    let view = |path: &str| {
        views
            .iter()
            .find(|(p, _, _)| p == path)
            .map(|(_, _, with)| with.clone())
    };
    let streamed = view("/stream").unwrap_or_default();
    assert_eq!(
        streamed["first_chunk"], UPSTREAM_CHUNKS[0],
        "still streamed: {streamed}"
    );
    assert_eq!(streamed["content_length"], Value::Null);
    assert_eq!(
        view("/json?page=1&api_key=k-secret").unwrap_or_default()["content_length"],
        UPSTREAM_JSON.len()
    );
    let redirected = view("/redirect").unwrap_or_default();
    assert_eq!(redirected["url"], upstream.url("/json"), "url() is the final URL");
    assert!(view("refused").unwrap_or_default()["connect"] == true);
    assert!(view("/broken").unwrap_or_default()["failure"]["decode"] == true);

    assert_common_events(&events, &upstream, "rq-1");
    // A redirect: the original request with the final answer.
    let redirect = event_of(&events, &upstream, "/redirect");
    assert_eq!(redirect["response"]["status"], 200);
    assert_eq!(redirect["response"]["body"]["orders"], json!([1, 2, 3]));
    // reqwest (its `gzip` feature on) undid the gzip itself: the event has the JSON, no encoding left.
    let gzip = event_of(&events, &upstream, "/gzip");
    assert!(gzip["response"]["headers"].get("content-encoding").is_none());
    assert_eq!(events.len(), PATHS.len() + 2, "every answered call once: {events:#?}");

    let (views, events) = (hyper_views, hyper_events);
    assert_same_views(&views);
    assert_common_events(&events, &upstream, "hy-1");
    // hyper follows no redirect: the 302 itself is the call.
    let redirect = event_of(&events, &upstream, "/redirect");
    assert_eq!(redirect["response"]["status"], 302);
    assert_eq!(redirect["response"]["headers"]["location"], "/json");
    // hyper leaves the gzip in place: the event's body is decoded, the header kept as received.
    let gzip = event_of(&events, &upstream, "/gzip");
    assert_eq!(gzip["response"]["headers"]["content-encoding"], "gzip");
    assert_eq!(events.len(), PATHS.len() + 2, "every answered call once: {events:#?}");
}
