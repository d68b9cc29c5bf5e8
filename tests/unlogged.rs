//! `moesif_lambda::run` serving a handler that neither `#[moesif_logger]` nor `MoesifLayer` logs: the
//! function serves as usual and says once that nothing logs its invocations.

use lambda_runtime::{service_fn, Error, LambdaEvent};
use moesif_lambda_testkit::{LambdaEnv, LogBuffer, RuntimeApi};
use serde_json::{json, Value};
use std::time::Duration;

async fn unannotated(event: LambdaEvent<Value>) -> Result<Value, Error> {
    Ok(json!({"statusCode": 200, "body": event.context.request_id}))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unlogged_service_serves_and_says_so_once() {
    let logs = LogBuffer::default();
    let writer = logs.clone();
    let _ = tracing_subscriber::fmt()
        .with_env_filter("moesif_lambda=warn")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .try_init();
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    let runtime = tokio::spawn(moesif_lambda::run(service_fn(unannotated)));
    for n in 0..3 {
        let invocation = api
            .invoke(json!({"httpMethod": "GET", "path": "/", "requestContext": {}}))
            .await;
        let answer = invocation.ok().and_then(|i| i.response_json());
        assert_eq!(
            answer.map(|a| a["statusCode"].clone()),
            Some(json!(200)),
            "invocation {n}"
        );
    }
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    runtime.abort();
    let text = logs.text();
    assert_eq!(text.matches("nothing logged it").count(), 1, "{text}");
}
