//! Actions (`moesif_lambda::actions`, `Client::track_action`) through the real `lambda_runtime` loop
//! against the loopback emulator and a stand-in collector: queued in the handler, sent with the
//! events to `/v1/actions/batch` after the response under `run_http`, redacted, and dropped when
//! incomplete. (Under plain `lambda_runtime::run`, before the invocation ends: `tests/reliability.rs`,
//! whose process never switches to after-response delivery.)

use lambda_runtime::Error;
use moesif_lambda::actions::{ActionModel, ActionRequest};
use moesif_lambda::{Client, MoesifLayer, Options};
use moesif_lambda_testkit::{
    http_api_event, spawn_function, Behaviour, Collector, InvokeOptions, LambdaEnv, RuntimeApi,
};
use serde_json::{json, Value};
use std::time::Duration;
use tower::Layer as _;

const WAIT: Duration = Duration::from_secs(10);

fn upgrade(user: &str) -> ActionModel {
    ActionModel {
        action_name: "Clicked Upgrade".into(),
        user_id: Some(user.into()),
        request: ActionRequest {
            uri: "https://app.example/pricing?session=s3cr3t-session&plan=pro".into(),
            headers: Some(json!({"Authorization": "Bearer abc.def.ghi", "Referer": "https://app.example/"})),
            ..ActionRequest::default()
        },
        metadata: Some(json!({"api_key": "key-12345", "button": "top"})),
        ..ActionModel::default()
    }
}

async fn invoke(api: &RuntimeApi, request_id: &str) {
    let options = InvokeOptions {
        request_id: Some(request_id.to_owned()),
        ..InvokeOptions::default()
    };
    let answer = api
        .invoke_with(http_api_event("GET", "/pricing", None), options)
        .await
        .expect("the function answers");
    assert_eq!(
        answer.response_json().map(|r| r["statusCode"].clone()),
        Some(json!(200))
    );
}

/// The redaction every action here must show: no credential, the rest as given.
fn assert_redacted(action: &Value) {
    let text = action.to_string();
    for secret in ["s3cr3t-session", "abc.def.ghi", "key-12345"] {
        assert!(!text.contains(secret), "{secret} reached the collector: {text}");
    }
    assert_eq!(action["action_name"], "Clicked Upgrade");
    assert_eq!(action["metadata"]["button"], "top");
    assert_eq!(action["request"]["headers"]["Referer"], "https://app.example/");
    assert!(action["request"]["time"].is_string(), "the time is filled in: {action}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn actions_go_with_the_events_after_the_response() {
    let api = RuntimeApi::start().await;
    let collector = Collector::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let options = Options::new()
        .application_id("actions-app")
        .base_uri_owned(collector.base_url())
        .idle_threshold(Duration::from_secs(3600));
    let client = Client::new(&options).expect("a client");
    let tracker = client.clone();
    let function = MoesifLayer::with_client(options, client.clone()).layer(lambda_http::service_fn(move |_request| {
        let tracker = tracker.clone();
        async move {
            tracker.track_action(&upgrade("u-1"));
            // Incomplete: dropped with a warning, the others still go.
            tracker.track_action(&ActionModel::default());
            let answer = lambda_http::Response::builder()
                .status(200)
                .body(lambda_http::Body::from("ok"))?;
            Ok::<_, Error>(answer)
        }
    }));
    spawn_function(move || moesif_lambda::run_http(function));

    // The sandbox's first invocation sends right after its response: its event and its action.
    invoke(&api, "actions-1").await;
    assert!(api.wait_until_idle(WAIT).await);
    let actions = collector.actions();
    assert_eq!(actions.len(), 1, "{actions:?}");
    assert_redacted(&actions[0]);
    assert_eq!(collector.event_request_ids(), ["actions-1"]);
    let paths: Vec<String> = collector.requests().into_iter().map(|r| r.path).collect();
    assert_eq!(
        paths,
        ["/v1/config", "/v1/rules", "/v1/events/batch", "/v1/actions/batch"]
    );

    // Warm: the next action waits in the client's queue with its event, and goes with the flush.
    invoke(&api, "actions-2").await;
    assert!(api.wait_until_idle(WAIT).await);
    assert_eq!((collector.actions().len(), client.queued()), (1, 2));
    // The collector is down for the first attempt: the event and the action both stay queued.
    collector.push_behaviours([Behaviour::Status(503)]);
    let failed = client.flush(WAIT).await;
    assert_eq!((failed.sent, failed.requeued, client.queued()), (0, 2, 2), "{failed:?}");
    let report = client.flush(WAIT).await;
    assert_eq!((report.sent, client.queued()), (2, 0), "{report:?}");
    assert_eq!(collector.actions().len(), 2);
    assert_redacted(&collector.actions()[1]);
}
