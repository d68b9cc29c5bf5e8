use aws_lambda_events::apigw::{ApiGatewayProxyRequest, ApiGatewayProxyResponse};
use lambda_http::{IntoResponse, Request};
use lambda_runtime::{Error, LambdaEvent};
use moesif_lambda::{moesif_logger, Options};
use serde_json::Value;

const OPTS: Options = Options::new().log_body(true);
fn my_opts() -> Options {
    Options::new().identify_user(|_, _| Some("u".into()))
}

#[moesif_logger(options = OPTS)]
async fn value_handler(event: LambdaEvent<Value>) -> Result<Value, Error> {
    let n: i32 = "5".parse()?;
    Ok(serde_json::json!({ "n": n, "payload": event.payload }))
}

#[moesif_logger(options = my_opts)]
async fn typed(event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
    let _ = event;
    Ok(ApiGatewayProxyResponse::default())
}

#[moesif_logger]
async fn http(request: Request) -> Result<impl IntoResponse, Error> {
    Ok(format!("hi {}", request.uri()))
}

#[moesif_logger]
fn sync_handler(LambdaEvent { payload, .. }: LambdaEvent<Value>) -> Result<Value, Error> {
    if payload.is_null() {
        return Err("null".into());
    }
    Ok(payload)
}

#[tokio::test]
async fn smoke() {
    let ctx = lambda_runtime::Context::default();
    let r = value_handler(LambdaEvent::new(Value::Null, ctx.clone())).await;
    assert!(r.is_ok());
    let _ = typed(LambdaEvent::new(ApiGatewayProxyRequest::default(), ctx.clone())).await;
    let _ = http(Request::default()).await;
    assert!(sync_handler(LambdaEvent::new(Value::Null, ctx)).is_err());
}
