#![deny(warnings)]
use lambda_http::{service_fn, IntoResponse, Request, RequestExt, Response};
use moesif_lambda::moesif_logger;

#[moesif_logger]
async fn handler(request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, lambda_http::Error> {
    Ok(format!("hello {}", request.uri().path()))
}

#[moesif_logger]
async fn with_early_return(request: Request) -> Result<impl IntoResponse, lambda_http::Error> {
    let Some(name) = request.query_string_parameters_ref().and_then(|q| q.first("name")).map(String::from) else {
        return Ok(Response::builder().status(400).body(String::from("name?"))?);
    };
    let count: u32 = request.uri().query().unwrap_or("0").len().to_string().parse()?;
    Ok(Response::builder().status(200).body(format!("{name} {count}"))?)
}

fn main() {
    let _ = service_fn(handler);
    let _ = service_fn(with_early_return);
}
