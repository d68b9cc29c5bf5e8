//! Governance rules through the real loop: the stand-in collector serves `/v1/rules` (with its
//! `X-Moesif-Rules-Tag`) and the config's cohorts; a blocked request never reaches the handler and the
//! caller gets the rule's answer; the headers of the rules that apply are added to the handler's; the
//! event of a blocked request carries `blocked_by`.

use axum::routing::{get, post};
use axum::Router;
use moesif_lambda::{MoesifLayer, Options, RequestView};
use moesif_lambda_testkit::{
    answer_header, event_for, http_api_event, spawn_function, Collector, InvokeOptions, LambdaEnv, RuntimeApi,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// How many times the handler ran (a blocked request must not count).
static HANDLED: AtomicUsize = AtomicUsize::new(0);

fn app() -> Router {
    Router::new()
        .route(
            "/orders",
            post(|| async {
                HANDLED.fetch_add(1, Ordering::SeqCst);
                ([("x-plan", "handler's"), ("x-own", "1")], "created")
            }),
        )
        .route(
            "/hello",
            get(|| async {
                HANDLED.fetch_add(1, Ordering::SeqCst);
                "hello"
            }),
        )
}

fn rules() -> Value {
    json!([
        {"_id": "quota", "type": "user", "block": true, "applied_to": "matching",
         "regex_config": [{"conditions": [{"path": "request.verb", "value": "POST"}]}],
         "response": {"status": 429, "headers": {"X-Quota": "{{limit|10}}"},
                      "body": {"error": "Quota of {{limit|10}} calls exceeded on plan {{plan}}"}}},
        {"_id": "plan-header", "type": "user", "applied_to": "not_matching", "applied_to_unidentified": true,
         "response": {"headers": {"X-Plan": "free"}}},
        {"_id": "bots", "type": "regex", "block": true,
         "regex_config": [{"conditions": [{"path": "request.headers.user-agent", "value": "(?i)badbot"}]}],
         "response": {"status": 403, "body": {"error": "no bots"}}}
    ])
}

fn config() -> Value {
    json!({"sample_rate": 100,
           "user_rules": {"u-over": [{"rules": "quota", "values": {"limit": "1000", "plan": "gold"}}]}})
}

fn event(method: &str, path: &str, user: Option<&str>) -> Value {
    let mut event = http_api_event(method, path, (method == "POST").then_some("{}"));
    if let Some(user) = user {
        event["headers"]["x-user-id"] = json!(user);
    }
    event
}

/// Starts `run_http` with the layer, invokes each `(request id, event)`, and returns the answers.
async fn invoke(api: &RuntimeApi, requests: Vec<(&str, Value)>) -> Vec<Value> {
    let mut answers = Vec::new();
    for (id, event) in requests {
        let options = InvokeOptions {
            request_id: Some(id.to_owned()),
            timeout: Duration::from_secs(20),
            ..InvokeOptions::default()
        };
        let invocation = api.invoke_with(event, options).await.expect("the function answers");
        answers.push(invocation.response_json().unwrap_or_default());
    }
    answers
}

fn options(url: String) -> Options {
    Options::new()
        .application_id("governance-app")
        .base_uri_owned(url)
        .identify_user_with(|event, _| RequestView::of(event)?.header("x-user-id").map(String::from))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_layer_blocks_by_the_rules_and_adds_their_headers_and_the_event_says_blocked_by() {
    let collector = Collector::start().await;
    collector.set_rules(rules(), "rules-1");
    collector.set_config(config(), "etag-1");
    let url = collector.base_url();
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    spawn_function(move || {
        let options = options(url).wait_for_governance(Duration::from_secs(10));
        moesif_lambda::run_http(app().layer(MoesifLayer::new(options)))
    });
    let mut bot = event("GET", "/hello", None);
    bot["headers"]["user-agent"] = json!("Mozilla BadBot/1.0");
    let answers = invoke(
        &api,
        vec![
            ("gov-over", event("POST", "/orders", Some("u-over"))),
            ("gov-other", event("POST", "/orders", Some("u-other"))),
            ("gov-bot", bot),
            ("gov-anonymous", event("GET", "/hello", None)),
        ],
    )
    .await;
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);

    // Blocked: the rule's status, headers and templated body, and the handler never ran for it.
    let over = &answers[0];
    assert_eq!(over["statusCode"], 429, "{over}");
    assert_eq!(answer_header(over, "x-moesif-blocked-by"), Some("quota"));
    assert_eq!(answer_header(over, "content-type"), Some("application/json"));
    assert_eq!(answer_header(over, "x-quota"), Some("1000"));
    assert_eq!(
        answer_header(over, "x-plan"),
        Some("free"),
        "u-over is not in plan-header's cohort: merged in"
    );
    assert_eq!(over["body"], r#"{"error":"Quota of 1000 calls exceeded on plan gold"}"#);
    // Not blocked: the handler's answer, the rule's header replacing the handler's of the same name.
    let other = &answers[1];
    assert_eq!(other["statusCode"], 200, "{other}");
    assert_eq!(other["body"], "created");
    assert_eq!(answer_header(other, "x-plan"), Some("free"));
    assert_eq!(answer_header(other, "x-own"), Some("1"));
    assert_eq!(answer_header(other, "x-moesif-blocked-by"), None);
    let bot = &answers[2];
    assert_eq!(
        (bot["statusCode"].clone(), bot["body"].clone()),
        (json!(403), json!(r#"{"error":"no bots"}"#))
    );
    assert_eq!(answer_header(bot, "x-moesif-blocked-by"), Some("bots"));
    assert_eq!(
        answer_header(&answers[3], "x-plan"),
        Some("free"),
        "unidentified: applied_to_unidentified"
    );
    assert_eq!(answers[3]["body"], "hello");
    assert_eq!(
        HANDLED.load(Ordering::SeqCst),
        2,
        "the two blocked requests never reached the handler"
    );

    moesif_lambda::flush(Duration::from_secs(10)).await;
    let events = collector.wait_for_events(4, Duration::from_secs(10)).await;
    let by_id = |id: &str| event_for(&events, id).clone();
    let over = by_id("gov-over");
    assert_eq!(over["blocked_by"], "quota");
    assert_eq!(over["response"]["status"], 429);
    assert_eq!(
        over["response"]["body"],
        json!({"error": "Quota of 1000 calls exceeded on plan gold"})
    );
    assert_eq!(over["user_id"], "u-over");
    assert_eq!(by_id("gov-bot")["blocked_by"], "bots");
    let other = by_id("gov-other");
    assert!(other.get("blocked_by").is_none(), "absent when not blocked: {other}");
    assert_eq!(
        other["response"]["headers"]["x-plan"], "free",
        "the event has the answer the caller got"
    );
}

/// Handler calls of [`conditions_app`].
static CONDITIONS_HANDLED: AtomicUsize = AtomicUsize::new(0);

fn conditions_app() -> Router {
    let handled = || async {
        CONDITIONS_HANDLED.fetch_add(1, Ordering::SeqCst);
        "ok"
    };
    Router::new()
        .route("/admin/users", get(handled))
        .route("/orders", post(handled))
        .route("/hello", get(handled))
}

/// A rule blocking with `status` when `path` matches `value`.
fn blocking(id: &str, path: &str, value: &str, status: u16) -> Value {
    json!({"_id": id, "type": "regex", "block": true,
           "regex_config": [{"conditions": [{"path": path, "value": value}]}],
           "response": {"status": status, "body": {"rule": id}}})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_condition_path_company_rules_bad_rules_and_a_bad_rules_body_keeps_the_last_good() {
    let collector = Collector::start().await;
    collector.set_rules(
        json!([
            "not a rule",
            {"_id": "no-status", "type": "regex", "block": true, "response": {"body": "x"}},
            blocking("bad-pattern", "request.route", "(", 400),
            blocking("route", "request.route", "^/admin/", 403),
            blocking("ip", "request.ip_address", "^203\\.0\\.113\\.", 403),
            blocking("body", "request.body.plan", "^free$", 402),
            {"_id": "unpaid", "type": "company", "block": true,
             "response": {"status": 402, "body": {"error": "{{name}} has not paid"}}},
        ]),
        "rules-1",
    );
    collector.set_config(
        json!({"company_rules": {"c-unpaid": [{"rules": "unpaid", "values": {"name": "Acme"}}]}}),
        "etag-1",
    );
    let url = collector.base_url();
    let api = RuntimeApi::start().await;
    let _env = LambdaEnv::acquire(&api, &[]).await;
    spawn_function(move || {
        let options = Options::new()
            .application_id("governance-conditions-app")
            .base_uri_owned(url)
            .batch_size(1, usize::MAX)
            .wait_for_governance(Duration::from_secs(10))
            .identify_company_with(|event, _| RequestView::of(event)?.header("x-company-id").map(String::from));
        moesif_lambda::run_http(conditions_app().layer(MoesifLayer::new(options)))
    });
    let mut from_ip = event("GET", "/hello", None);
    from_ip["headers"]["x-forwarded-for"] = json!("203.0.113.5, 10.0.0.1");
    let mut free = http_api_event("POST", "/orders", Some("{\"plan\": \"free\", \"n\": 1}"));
    free["headers"]["x-forwarded-for"] = json!("198.51.100.1");
    let mut paid = http_api_event("POST", "/orders", Some("{\"plan\": \"pro\"}"));
    paid["headers"]["x-forwarded-for"] = json!("198.51.100.1");
    let mut unpaid = event("GET", "/hello", None);
    unpaid["headers"]["x-company-id"] = json!("c-unpaid");
    let answers = invoke(
        &api,
        vec![
            ("c-route", event("GET", "/admin/users", None)),
            ("c-ip", from_ip),
            ("c-body", free),
            ("c-paid", paid),
            ("c-unpaid", unpaid),
            ("c-clean", event("GET", "/hello", None)),
        ],
    )
    .await;
    let outcome = |answer: &Value| {
        (
            answer["statusCode"].clone(),
            answer_header(answer, "x-moesif-blocked-by").map(String::from),
        )
    };
    assert_eq!(outcome(&answers[0]), (json!(403), Some("route".into())));
    assert_eq!(
        outcome(&answers[1]),
        (json!(403), Some("ip".into())),
        "the left-most forwarded IP"
    );
    assert_eq!(outcome(&answers[2]), (json!(402), Some("body".into())));
    assert_eq!(outcome(&answers[3]), (json!(200), None));
    assert_eq!(outcome(&answers[4]), (json!(402), Some("unpaid".into())));
    assert_eq!(answers[4]["body"], r#"{"error":"Acme has not paid"}"#);
    assert_eq!(
        outcome(&answers[5]),
        (json!(200), None),
        "bad rules never apply: {}",
        answers[5]
    );
    assert_eq!(answers[5]["body"], "ok");
    assert_eq!(CONDITIONS_HANDLED.load(Ordering::SeqCst), 2);

    // A rules body that cannot be read (another tag): the last good rules stay.
    collector.set_rules(json!({"rules": "not an array"}), "rules-2");
    let answers = invoke(
        &api,
        vec![
            ("c-tag", event("GET", "/hello", None)), // its send is answered with the new tag
            ("c-fetch", event("GET", "/hello", None)), // this send fetches the unreadable body
            ("c-still", event("GET", "/admin/users", None)),
        ],
    )
    .await;
    assert!(api.wait_until_idle(Duration::from_secs(10)).await);
    assert_eq!(
        outcome(&answers[2]),
        (json!(403), Some("route".into())),
        "the last good rules"
    );
    // The refetch follows the answer that named the new tag, on the delivery thread.
    assert_eq!(
        collector
            .wait_for_requests_to("/v1/rules", 2, Duration::from_secs(10))
            .await,
        2,
        "fetched at the start, and once for the new tag"
    );
}

// ---------------------------------------------------------------------------------------------------
// `#[moesif_logger]`: the blocked answer in each event's shape, for each kind of answer type.

mod attribute {
    use super::*;
    use aws_lambda_events::alb::{AlbTargetGroupRequest, AlbTargetGroupResponse};
    use aws_lambda_events::apigw::{
        ApiGatewayProxyRequest, ApiGatewayProxyResponse, ApiGatewayV2httpRequest, ApiGatewayV2httpResponse,
    };
    use lambda_runtime::{service_fn, Error, LambdaEvent};
    use moesif_lambda::moesif_logger;
    use moesif_lambda_testkit::conformance::load_cases;
    use std::path::Path;

    /// The first invocation waits for the rules (fetched from its start, in the background).
    const OPTIONS: Options = Options::new().wait_for_governance(Duration::from_secs(10));

    /// Handler bodies that ran (a blocked request must not run one).
    static RAN: AtomicUsize = AtomicUsize::new(0);

    fn ran() {
        RAN.fetch_add(1, Ordering::SeqCst);
    }

    /// Blocks every request, with a templated header and body (no entity: the defaults).
    fn block_all() -> Value {
        json!([{"_id": "all", "type": "regex", "block": true,
                "response": {"status": 429, "headers": {"X-Limit": "{{limit|100}}"},
                             "body": {"error": "Too many requests", "limit": "{{limit|100}}", "who": "{{name}}"}}}])
    }

    const BODY: &str = r#"{"error":"Too many requests","limit":"100","who":"UNKNOWN"}"#;

    fn case_event(name: &str) -> Value {
        load_cases(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/conformance/cases"))
            .expect("cases")
            .into_iter()
            .find(|case| case.name == name)
            .map(|case| case.event)
            .expect("case exists")
    }

    #[moesif_logger(options = OPTIONS)]
    async fn rest(_event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
        ran();
        Ok(ApiGatewayProxyResponse::default())
    }

    #[moesif_logger(options = OPTIONS)]
    async fn http_api(_event: LambdaEvent<ApiGatewayV2httpRequest>) -> Result<ApiGatewayV2httpResponse, Error> {
        ran();
        Ok(ApiGatewayV2httpResponse::default())
    }

    #[moesif_logger(options = OPTIONS)]
    async fn alb(_event: LambdaEvent<AlbTargetGroupRequest>) -> Result<AlbTargetGroupResponse, Error> {
        ran();
        Ok(AlbTargetGroupResponse::default())
    }

    #[moesif_logger(options = OPTIONS)]
    async fn alb_multi(_event: LambdaEvent<Value>) -> Result<Value, Error> {
        ran();
        Ok(json!({"statusCode": 200}))
    }

    #[moesif_logger(options = OPTIONS)]
    async fn function_url(_event: LambdaEvent<Value>) -> Result<Value, Error> {
        ran();
        Ok(json!({"statusCode": 200}))
    }

    #[moesif_logger(options = OPTIONS)]
    fn websocket(_event: LambdaEvent<Value>) -> Result<Value, Error> {
        ran();
        Ok(json!({"statusCode": 200}))
    }

    #[moesif_logger(options = OPTIONS)]
    async fn http_handler(_request: lambda_http::Request) -> Result<lambda_http::Response<lambda_http::Body>, Error> {
        ran();
        Ok(lambda_http::Response::new(lambda_http::Body::from("handler")))
    }

    #[moesif_logger(options = OPTIONS)]
    async fn into_response(_request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, Error> {
        ran();
        Ok("handler")
    }

    #[moesif_logger(options = OPTIONS)]
    async fn into_response_tagged(_request: lambda_http::Request) -> Result<impl lambda_http::IntoResponse, Error> {
        ran();
        Ok(lambda_http::Response::builder()
            .header("x-plan", "handler")
            .body(lambda_http::Body::from("tagged"))?)
    }

    /// Serialize-only: the attribute cannot build it, so its requests are not governed.
    #[derive(serde::Serialize)]
    struct Plain {
        #[serde(rename = "statusCode")]
        status_code: u16,
    }

    #[moesif_logger(options = OPTIONS)]
    async fn plain(_event: LambdaEvent<Value>) -> Result<Plain, Error> {
        ran();
        Ok(Plain { status_code: 200 })
    }

    #[moesif_logger(options = OPTIONS)]
    async fn tagged(_event: LambdaEvent<ApiGatewayProxyRequest>) -> Result<ApiGatewayProxyResponse, Error> {
        ran();
        let mut response = ApiGatewayProxyResponse::default();
        response.status_code = 201;
        response
            .headers
            .insert("x-plan", "handler".parse().expect("a header value"));
        Ok(response)
    }

    /// The Lambda environment of `api`, with `collector` and `app_id` for the attribute's options.
    async fn env_for(api: &RuntimeApi, collector: &Collector, app_id: &str) -> LambdaEnv {
        let url = collector.base_url();
        let extra = [
            ("MOESIF_APPLICATION_ID", Some(app_id)),
            ("MOESIF_BASE_URI", Some(url.as_str())),
        ];
        LambdaEnv::acquire(api, &extra).await
    }

    /// Runs `function` against a fresh emulator and a collector serving `rules`, invokes it with `event`;
    /// the caller's answer, the one event the collector got, and how many handler bodies ran meanwhile.
    macro_rules! one_call {
        ($function:expr, $event:expr, $rules:expr) => {{
            let collector = Collector::start().await;
            collector.set_rules($rules, "rules-1");
            let api = RuntimeApi::start().await;
            let env = env_for(&api, &collector, "governance-app").await;
            let before = RAN.load(Ordering::SeqCst);
            spawn_function($function);
            let invocation = api.invoke($event).await.expect("the function answers");
            let ran = RAN.load(Ordering::SeqCst) - before;
            drop(env);
            let mut events = collector.wait_for_events(1, Duration::from_secs(10)).await;
            assert_eq!(events.len(), 1, "one event per call");
            (invocation.response_json().unwrap_or_default(), events.remove(0), ran)
        }};
    }

    /// What every blocked answer and its event carry.
    fn assert_blocked(answer: &Value, event: &Value, ran: usize) {
        assert_eq!(ran, 0, "the handler did not run");
        assert_eq!(answer["statusCode"], 429, "{answer}");
        assert_eq!(answer["body"], BODY, "{answer}");
        let headers = if answer["multiValueHeaders"].as_object().is_some_and(|m| !m.is_empty()) {
            answer["multiValueHeaders"].as_object().map(|m| {
                m.iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v[0].clone()))
                    .collect::<Vec<_>>()
            })
        } else {
            answer["headers"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.clone())).collect())
        };
        let headers = headers.unwrap_or_default();
        for (name, value) in [
            ("x-limit", "100"),
            ("content-type", "application/json"),
            ("x-moesif-blocked-by", "all"),
        ] {
            assert!(headers.contains(&(name.to_owned(), json!(value))), "{name}: {answer}");
        }
        assert_eq!(event["blocked_by"], "all");
        assert_eq!(event["response"]["status"], 429);
        assert_eq!(
            event["response"]["body"],
            json!({"error": "Too many requests", "limit": "100", "who": "UNKNOWN"})
        );
    }

    /// No wait: only a fetch started at init (`prefetch_governance`) governs the first invocation.
    const NO_WAIT: Options = Options::new();

    #[moesif_logger(options = NO_WAIT)]
    async fn no_wait(_event: LambdaEvent<Value>) -> Result<Value, Error> {
        ran();
        Ok(json!({"statusCode": 200, "body": "handler"}))
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rules_prefetched_at_init_govern_the_first_invocation_without_a_wait() {
        let collector = Collector::start().await;
        collector.set_rules(block_all(), "rules-1");
        let api = RuntimeApi::start().await;
        let env = env_for(&api, &collector, "governance-prefetch-app").await;
        // Init: before the runtime asks for any event.
        moesif_lambda::prefetch_governance(&NO_WAIT);
        let requests = collector.wait_for_requests(2, Duration::from_secs(10)).await;
        let paths: Vec<&str> = requests.iter().map(|r| r.path.as_str()).collect();
        assert!(
            paths.contains(&"/v1/rules") && paths.contains(&"/v1/config"),
            "{paths:?}"
        );
        let before = RAN.load(Ordering::SeqCst);
        spawn_function(|| lambda_runtime::run(service_fn(no_wait)));
        let invocation = api
            .invoke(case_event("edge-v1-cognito-apikey--json"))
            .await
            .expect("the function answers");
        let ran = RAN.load(Ordering::SeqCst) - before;
        drop(env);
        let mut events = collector.wait_for_events(1, Duration::from_secs(10)).await;
        assert_eq!(events.len(), 1, "one event");
        assert_blocked(&invocation.response_json().unwrap_or_default(), &events.remove(0), ran);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn rest_v1_typed() {
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(rest)),
            case_event("edge-v1-cognito-apikey--json"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn http_api_v2_typed() {
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(http_api)),
            case_event("rr-example-apigw-v2-request-iam--json"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alb_single_value_typed() {
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(alb)),
            case_event("pt-albEvent--json"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
        assert_eq!(answer["statusDescription"], "429 Too Many Requests");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn alb_multi_value_json() {
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(alb_multi)),
            case_event("pt-albMultiValueHeadersEvent--text"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
        assert_eq!(answer["statusDescription"], "429 Too Many Requests");
        assert_eq!(answer["multiValueHeaders"]["X-Moesif-Blocked-By"], json!(["all"]));
        assert!(answer.get("headers").is_none(), "{answer}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn function_url_json() {
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(function_url)),
            case_event("pt-lambdaFunctionUrlEventWithHeaders--json"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
        assert_eq!(
            answer["headers"]["X-Moesif-Blocked-By"], "all",
            "names as the rule spells them"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn websocket_json_sync_body() {
        let message = json!({
            "requestContext": {"routeKey": "$default", "eventType": "MESSAGE", "connectionId": "c-1", "stage": "prod",
                               "domainName": "ws.example.com", "requestTimeEpoch": 1583349317135_i64, "apiId": "a",
                               "requestId": "r", "identity": {"sourceIp": "203.0.113.9"}, "connectedAt": 1583349317135_i64},
            "body": "{\"action\":\"ping\"}", "isBase64Encoded": false
        });
        let function = || lambda_runtime::run(service_fn(|event| async { websocket(event) }));
        let (answer, event, ran) = one_call!(function, message, block_all());
        assert_blocked(&answer, &event, ran);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lambda_http_response() {
        let (answer, event, ran) = one_call!(
            || lambda_http::run(lambda_http::service_fn(http_handler)),
            case_event("rr-example-apigw-v2-request-iam--json"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lambda_http_impl_into_response() {
        let (answer, event, ran) = one_call!(
            || lambda_http::run(lambda_http::service_fn(into_response)),
            case_event("rr-example-apigw-v2-request-iam--json"),
            block_all()
        );
        assert_blocked(&answer, &event, ran);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn lambda_http_impl_into_response_gets_the_headers_of_a_non_blocking_rule() {
        let rules = json!([{"_id": "tag", "type": "regex", "response": {"headers": {"X-Plan": "free"}}}]);
        let (answer, event, ran) = one_call!(
            || lambda_http::run(lambda_http::service_fn(into_response_tagged)),
            case_event("rr-example-apigw-v2-request-iam--json"),
            rules
        );
        assert_eq!(ran, 1);
        assert_eq!(answer["body"], "tagged");
        assert_eq!(
            answer_header(&answer, "x-plan"),
            Some("free"),
            "the rule's header replaces the handler's: {answer}"
        );
        assert!(event.get("blocked_by").is_none());
        let logged: Vec<(&String, &Value)> = event["response"]["headers"]
            .as_object()
            .map(|headers| {
                headers
                    .iter()
                    .filter(|(name, _)| name.eq_ignore_ascii_case("x-plan"))
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(
            logged,
            [(&"X-Plan".to_owned(), &json!("free"))],
            "the event logs the answer as the caller got it: {event}"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_serialize_only_answer_is_not_governed() {
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(plain)),
            case_event("edge-v1-cognito-apikey--json"),
            block_all()
        );
        assert_eq!(ran, 1, "the handler ran");
        assert_eq!(answer, json!({"statusCode": 200}));
        assert!(event.get("blocked_by").is_none());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_non_blocking_rule_adds_its_headers_to_a_typed_answer() {
        let rules = json!([{"_id": "tag", "type": "regex",
                            "regex_config": [{"conditions": [{"path": "request.verb", "value": "^GET$"}]}],
                            "response": {"headers": {"X-Plan": "free", "X-Rule": "tag"}}}]);
        let (answer, event, ran) = one_call!(
            || lambda_runtime::run(service_fn(tagged)),
            case_event("edge-v1-cognito-apikey--json"),
            rules
        );
        assert_eq!(ran, 1);
        assert_eq!(answer["statusCode"], 201);
        assert_eq!(
            answer["headers"]["x-plan"], "free",
            "the rule's header replaces the handler's: {answer}"
        );
        assert_eq!(answer["headers"]["x-rule"], "tag");
        assert!(event.get("blocked_by").is_none());
        assert_eq!(event["response"]["headers"]["x-plan"], "free");
    }
}
