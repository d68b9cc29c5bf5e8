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
    let scenarios = [
        ("reqwest", "rq-1"),
        ("hyper", "hy-1"),
        ("by-hand", "bh-1"),
        ("hooks", "hk-1"),
        ("capped", "cp-1"),
    ];
    let (mut results, upstream) = run_scenarios(&scenarios).await;
    let (capped_views, capped_events) = results.pop().unwrap_or_default();
    let (hooked_views, hooked_events) = results.pop().unwrap_or_default();
    let (_, by_hand_events) = results.pop().unwrap_or_default();
    let (hyper_views, hyper_events) = results.pop().unwrap_or_default();
    let (views, events) = results.pop().unwrap_or_default();
    assert!(views.len() > PATHS.len() && hyper_views.len() > PATHS.len());
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

    // By hand: the same event, from the bytes given (gzip decoded, redacted), at the times given; the
    // call to the collector is left out.
    assert_eq!(by_hand_events.len(), 1, "{by_hand_events:#?}");
    let event = &by_hand_events[0];
    assert_eq!(event["request"]["uri"], upstream.url("/by-hand?api_key=[REDACTED]"));
    assert_eq!(event["request"]["verb"], "POST");
    assert_eq!(event["request"]["time"], "2023-11-14T22:13:20.123");
    assert_eq!(event["response"]["time"], "2023-11-14T22:13:20.373");
    assert_eq!(event["request"]["headers"]["authorization"], "[REDACTED]");
    assert_eq!(event["request"]["body"], json!({"sku": "A-1"}));
    assert_eq!(event["response"]["status"], 201);
    assert_eq!(event["response"]["body"], json!({"id": 7, "password": "[REDACTED]"}));

    // The outgoing options apply to both clients; the caller's answer is unchanged.
    assert_same_views(&hooked_views);
    assert_eq!(
        hooked_events.len(),
        2,
        "the skipped call is not logged: {hooked_events:#?}"
    );
    for event in &hooked_events {
        assert_eq!(event["user_id"], "u-9");
        assert_eq!(event["metadata"]["status_seen"], 200);
        assert!(event["request"].get("body").is_none() && event["response"].get("body").is_none());
    }

    // Over the cap: the caller gets every byte, streamed; the event has the size. A response dropped
    // unread is logged as cut.
    assert_same_views(&capped_views);
    assert_eq!(capped_events.len(), 4, "{capped_events:#?}");
    let body_of = |path: &str| event_of(&capped_events, &upstream, path)["response"]["body"].clone();
    let streamed = body_of("/stream?capped=reqwest");
    assert_eq!(streamed["moesif_body_omitted"], "body larger than the capture limit");
    assert_eq!(streamed["original_size"], UPSTREAM_CHUNKS.concat().len());
    assert_eq!(body_of("/json?capped=hyper")["original_size"], UPSTREAM_JSON.len());
    for path in ["/stream?dropped=reqwest", "/text?dropped=hyper"] {
        let event = event_of(&capped_events, &upstream, path);
        assert_eq!(event["response"]["status"], 200);
        assert_eq!(
            event["response"]["body"]["moesif_body_omitted"],
            "body cut: not read to its end"
        );
    }
}
