use super::*;
use serde_json::json;

const JWT: &str = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZGEifQ.c2lnbmF0dXJlLW9mLXRoZS10b2tlbg";

fn event() -> EventModel {
    let mut event = EventModel::default();
    event.request.uri = "https://h/p?a=1&Access_Token=s1&X-Amz-Signature=s2&token=&flag".into();
    event.request.headers = json!({"Authorization": "Bearer x", "COOKIE": "a=1", "Host": "h", "X-Secret": "s"});
    event.response.headers = json!({"Set-Cookie": "b=2", "Content-Type": "application/json"});
    event.request.body = Some(json!({
        "password": "p", "nested": [{"Token": "t"}], "name": "n",
        "headers": {"x-api-key": "k"}, "cookies": ["sid=abc; Path=/", "bare"],
        "rawQueryString": "id_token=j&x=1",
        "multiValueQueryStringParameters": {"X-Amz-Signature": ["q"], "page": ["1"]},
        "body": "{\"client_secret\": \"cs\", \"n\": 1}"
    }));
    event.request.transfer_encoding = Some(crate::TransferEncoding::Json);
    event
}

fn applied(mut event: EventModel, options: &Options) -> EventModel {
    apply(&mut event, options);
    event
}

fn with_headers(headers: Value) -> EventModel {
    let mut event = EventModel::default();
    event.request.headers = headers;
    event
}

fn with_body(body: Value) -> EventModel {
    let mut event = EventModel::default();
    event.request.body = Some(body);
    event.request.transfer_encoding = Some(crate::TransferEncoding::Json);
    event
}

fn decoded(body: &Option<Value>) -> String {
    let text = body.as_ref().and_then(Value::as_str).unwrap_or_default();
    String::from_utf8(STANDARD.decode(text).unwrap_or_default()).unwrap_or_default()
}

#[test]
fn defaults_redact_every_category_and_keep_names() {
    let event = applied(event(), &Options::new());
    assert_eq!(event.request.headers["Authorization"], REDACTED);
    assert_eq!(event.request.headers["COOKIE"], "a=[REDACTED]");
    assert_eq!(event.request.headers["Host"], "h");
    assert_eq!(event.request.headers["X-Secret"], REDACTED, "by pattern");
    assert_eq!(event.response.headers["Set-Cookie"], "b=[REDACTED]");
    assert_eq!(
        event.request.uri,
        "https://h/p?a=1&Access_Token=[REDACTED]&X-Amz-Signature=[REDACTED]&token=&flag"
    );
    assert_eq!(
        event.request.body,
        Some(json!({
            "password": REDACTED, "nested": [{"Token": REDACTED}], "name": "n",
            "headers": {"x-api-key": REDACTED}, "cookies": ["sid=[REDACTED]; Path=/", REDACTED],
            "rawQueryString": "id_token=[REDACTED]&x=1",
            "multiValueQueryStringParameters": {"X-Amz-Signature": REDACTED, "page": ["1"]},
            "body": "{\"client_secret\":\"[REDACTED]\",\"n\":1}"
        }))
    );
}

#[test]
fn each_category_can_be_turned_off_and_names_added() {
    let options = Options::new()
        .redact_default_headers(false)
        .redact_default_query_params(false)
        .redact_default_body_fields(false)
        .redact_cookies(false)
        .redact(&["x-secret", "name", "a"]);
    let event = applied(event(), &options);
    assert_eq!(event.request.headers["Authorization"], "Bearer x");
    assert_eq!(
        event.request.headers["COOKIE"], "a=[REDACTED]",
        "`a` is redacted in pairs inside values too"
    );
    assert_eq!(event.request.headers["X-Secret"], REDACTED);
    assert_eq!(
        event.request.uri,
        "https://h/p?a=[REDACTED]&Access_Token=s1&X-Amz-Signature=s2&token=&flag"
    );
    let body = event.request.body.unwrap_or_default();
    assert_eq!((&body["password"], &body["name"]), (&json!("p"), &json!(REDACTED)));
    assert_eq!(body["headers"]["x-api-key"], "k");
    assert_eq!(body["cookies"], json!(["sid=abc; Path=/", "bare"]));
}

#[test]
fn cookies_off_leaves_cookie_headers_to_the_header_rule() {
    let event = applied(
        with_headers(json!({"Cookie": "sid=1", "Set-Cookie": "a=1; Path=/"})),
        &Options::new().redact_cookies(false),
    );
    assert_eq!(
        event.request.headers,
        json!({"Cookie": REDACTED, "Set-Cookie": REDACTED})
    );
}

const CREDENTIAL_HEADERS: [&str; 9] = [
    "X-Auth-Token",
    "x-access-token",
    "X-CSRF-Token",
    "XCSRFToken",
    "accessToken",
    "x-session-id",
    "X-Amz-Security-Token",
    "Postman-Token",
    "oauth2Token",
];

const OTHER_NAMES: [&str; 14] = [
    "author",
    "keyword",
    "monkey",
    "tokenizer",
    "Keep-Alive",
    "Accept",
    "Cache-Control",
    "Content-Length",
    "X-Request-Id",
    "User-Agent",
    "NextToken",
    "pageToken",
    "token_type",
    "max_tokens",
];

#[test]
fn header_names_are_redacted_by_pattern_both_ways() {
    let headers: serde_json::Map<String, Value> = CREDENTIAL_HEADERS
        .iter()
        .chain(&OTHER_NAMES)
        .map(|name| (name.to_string(), json!(format!("value-of-{name}"))))
        .collect();
    let event = applied(with_headers(Value::Object(headers)), &Options::new());
    for name in CREDENTIAL_HEADERS {
        assert_eq!(event.request.headers[name], REDACTED, "{name}");
    }
    for name in OTHER_NAMES {
        assert_eq!(event.request.headers[name], format!("value-of-{name}"), "{name}");
    }
    let off = applied(
        with_headers(json!({"X-Auth-Token": "t"})),
        &Options::new().redact_default_headers(false),
    );
    assert_eq!(
        off.request.headers["X-Auth-Token"], "t",
        "the switch turns the pattern off too"
    );
}

#[test]
fn body_fields_query_parameters_and_form_fields_are_redacted_by_pattern() {
    let mut body = serde_json::Map::new();
    for name in CREDENTIAL_HEADERS
        .iter()
        .chain(&["clientSecret", "apiKey", "private_key"])
    {
        body.insert(name.to_string(), json!("s"));
    }
    for name in OTHER_NAMES {
        body.insert(name.to_string(), json!("v"));
    }
    let mut event = with_body(json!({"data": {"items": [Value::Object(body)]}}));
    event.request.uri = "https://h/p?pageToken=p2&x-access-token=t1&keyword=k&sessionId=s".into();
    let event = applied(event, &Options::new());
    let item = &event
        .request
        .body
        .as_ref()
        .map(|b| b["data"]["items"][0].clone())
        .unwrap_or_default();
    for name in CREDENTIAL_HEADERS
        .iter()
        .chain(&["clientSecret", "apiKey", "private_key"])
    {
        assert_eq!(item[name], REDACTED, "{name}");
    }
    for name in OTHER_NAMES {
        assert_eq!(item[name], "v", "{name}");
    }
    assert_eq!(
        event.request.uri,
        "https://h/p?pageToken=p2&x-access-token=[REDACTED]&keyword=k&sessionId=[REDACTED]"
    );

    let mut form = EventModel::default();
    form.request.headers = json!({"content-type": "application/x-www-form-urlencoded"});
    form.request.body = Some(json!(
        STANDARD.encode("user=ada&csrfToken=c&NextToken=n&note=Bearer+abcdefgh12345")
    ));
    form.request.transfer_encoding = Some(crate::TransferEncoding::Base64);
    let form = applied(form, &Options::new());
    assert_eq!(
        decoded(&form.request.body),
        "user=ada&csrfToken=[REDACTED]&NextToken=n&note=Bearer+[REDACTED]"
    );
}

#[test]
fn counts_under_token_names_are_kept_and_flags_under_credential_names() {
    let event = applied(
        with_body(json!({
            "usage": {"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42},
            "tokens": ["t1", "t2"], "token_ids": [101, 2023], "auth": true, "password": 1234,
            "session": null
        })),
        &Options::new(),
    );
    let body = event.request.body.unwrap_or_default();
    assert_eq!(
        body["usage"],
        json!({"prompt_tokens": 12, "completion_tokens": 30, "total_tokens": 42})
    );
    assert_eq!(body["tokens"], REDACTED, "a list of tokens");
    assert_eq!(body["token_ids"], json!([101, 2023]), "token ids hold no text");
    assert_eq!(body["auth"], true, "a flag is no secret");
    assert_eq!(body["password"], REDACTED, "a listed name: any value");
    assert_eq!(body["session"], Value::Null);
}

#[test]
fn secrets_are_redacted_by_value_in_every_string() {
    let mut event = with_body(json!({
        "note": "Bearer abcdefgh12345", "data": JWT, "id": "AKIAIOSFODNN7EXAMPLE",
        "deep": [{"k": "-----BEGIN PRIVATE KEY-----\nMIIEvQ\n-----END PRIVATE KEY-----"}, "ghp_aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789"],
        "qs": "page=2&access_token=abc", "message": "{\"password\": \"hunter2\"}", "ok": "fine"
    }));
    event.request.uri = format!("https://h/verify/{JWT}?next=https%3A%2F%2Fx&q=Bearer%20abcdefgh12345");
    event.request.headers =
        json!({"X-Forwarded-Note": "sk_live_4eC39HqLyjWDarjtT1zdp7dc", "Referer": "https://a/?api_key=k&x=1"});
    event.response.headers = json!({"Location": "https://app/cb#access_token=abc&state=s"});
    event.response.body = Some(json!(["xoxb-123456789012-abcdefghij"]));
    let event = applied(event, &Options::new());
    assert_eq!(
        event.request.body,
        Some(json!({
            "note": "Bearer [REDACTED]", "data": REDACTED, "id": REDACTED,
            "deep": [{"k": REDACTED}, REDACTED],
            "qs": "page=2&access_token=[REDACTED]", "message": "{\"password\": \"[REDACTED]\"}", "ok": "fine"
        }))
    );
    assert_eq!(
        event.request.uri,
        "https://h/verify/[REDACTED]?next=https%3A%2F%2Fx&q=Bearer%20[REDACTED]"
    );
    assert_eq!(event.request.headers["X-Forwarded-Note"], REDACTED);
    assert_eq!(event.request.headers["Referer"], "https://a/?api_key=[REDACTED]&x=1");
    assert_eq!(
        event.response.headers["Location"],
        "https://app/cb#access_token=[REDACTED]&state=s"
    );
    assert_eq!(event.response.body, Some(json!([REDACTED])));
}

#[test]
fn near_misses_are_left_alone() {
    let basic = format!("Basic {}", STANDARD.encode("hello world"));
    let body = json!({
        "a": "Bearer short", "b": "AKIAIOSFODNN7EXAMPL", "c": basic, "d": "eyJ alone", "e": "x=1&page=2",
        "f": "-----BEGIN CERTIFICATE-----\nMIIB", "g": "dGVzdA=="
    });
    let event = applied(with_body(body.clone()), &Options::new());
    assert_eq!(event.request.body, Some(body));
    let user_password = format!("Basic {}", STANDARD.encode("ada:hunter2"));
    let event = applied(with_body(json!({"c": user_password})), &Options::new());
    assert_eq!(event.request.body, Some(json!({"c": "Basic [REDACTED]"})));
}

#[test]
fn redaction_by_value_can_be_turned_off() {
    let body = json!({"note": "Bearer abcdefgh12345", "data": JWT, "qs": "access_token=abc"});
    let mut event = with_body(body.clone());
    event.request.headers = json!({"Referer": "https://a/?x=1&q=AKIAIOSFODNN7EXAMPLE", "X-Auth-Token": "t"});
    let event = applied(event, &Options::new().redact_by_value(false));
    assert_eq!(event.request.body, Some(body));
    assert_eq!(
        event.request.headers["Referer"],
        "https://a/?x=1&q=AKIAIOSFODNN7EXAMPLE"
    );
    assert_eq!(event.request.headers["X-Auth-Token"], REDACTED, "names still count");
}

#[test]
fn kept_names_are_sent_as_they_are_and_redact_wins() {
    let mut event = with_body(json!({
        "authorization": format!("Bearer {JWT}"), "password": "p", "ids": ["AKIAIOSFODNN7EXAMPLE"],
        "wrapper": {"secret": "s", "x": "AKIAIOSFODNN7EXAMPLE"}
    }));
    event.request.headers = json!({
        "Authorization": format!("Bearer {JWT}"), "Cookie": "sid=1; theme=dark", "X-Auth-Token": "t"
    });
    event.request.uri = "https://h/p?access_token=a&token=b".into();
    let options = Options::new()
        .keep(&[
            "Authorization",
            "theme",
            "access_token",
            "ids",
            "wrapper",
            "x-auth-token",
            "password",
        ])
        .redact(&["password"]);
    let event = applied(event, &options);
    assert_eq!(event.request.headers["Authorization"], format!("Bearer {JWT}"));
    assert_eq!(event.request.headers["Cookie"], "sid=[REDACTED]; theme=dark");
    assert_eq!(event.request.headers["X-Auth-Token"], "t");
    assert_eq!(event.request.uri, "https://h/p?access_token=a&token=[REDACTED]");
    let body = event.request.body.unwrap_or_default();
    assert_eq!(body["authorization"], format!("Bearer {JWT}"));
    assert_eq!(
        body["password"], REDACTED,
        "a name in `redact` is redacted even if kept"
    );
    assert_eq!(body["ids"], json!(["AKIAIOSFODNN7EXAMPLE"]));
    assert_eq!(
        body["wrapper"],
        json!({"secret": REDACTED, "x": REDACTED}),
        "the fields of a kept object are judged by their own names"
    );
}

#[test]
fn cookie_and_set_cookie_headers_keep_each_name() {
    let mut event = with_headers(json!({"Cookie": "sid=abc; theme=dark"}));
    event.response.headers = json!({
        "Set-Cookie": "a=1; Path=/, b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly"
    });
    event.response.body =
        Some(json!({"headers": {"set-cookie": "c=3; Secure"}, "multiValueHeaders": {"Cookie": ["x=1; y=2"]}}));
    let event = applied(event, &Options::new());
    assert_eq!(event.request.headers["Cookie"], "sid=[REDACTED]; theme=[REDACTED]");
    assert_eq!(
        event.response.headers["Set-Cookie"],
        "a=[REDACTED]; Path=/, b=[REDACTED]; Expires=Wed, 21 Oct 2026 07:28:00 GMT; HttpOnly"
    );
    assert_eq!(
        event.response.body,
        Some(
            json!({"headers": {"set-cookie": "c=[REDACTED]; Secure"}, "multiValueHeaders": {"Cookie": ["x=[REDACTED]; y=[REDACTED]"]}})
        )
    );
}

#[test]
fn form_bodies_are_redacted_and_text_bodies_scanned() {
    let mut event = EventModel::default();
    event.request.headers = json!({"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"});
    event.request.body = Some(json!(STANDARD.encode("user=ada&password=hunter2&client_secret=cs")));
    event.request.transfer_encoding = Some(crate::TransferEncoding::Base64);
    event.response.body = Some(json!(STANDARD.encode("password=hunter2")));
    event.response.transfer_encoding = Some(crate::TransferEncoding::Base64);
    let event = applied(event, &Options::new());
    assert_eq!(
        decoded(&event.request.body),
        "user=ada&password=[REDACTED]&client_secret=[REDACTED]"
    );
    assert_eq!(
        decoded(&event.response.body),
        "password=[REDACTED]",
        "a text body: its embedded pairs"
    );

    let long_text = format!(
        "{}\nAuthorization: Bearer abcdefgh12345\nid {JWT}\n",
        "line of text ".repeat(200)
    );
    let mut event = EventModel::default();
    event.response.body = Some(json!(STANDARD.encode(&long_text)));
    event.response.transfer_encoding = Some(crate::TransferEncoding::Base64);
    let event = applied(event, &Options::new());
    assert_eq!(
        decoded(&event.response.body),
        long_text
            .replace("Bearer abcdefgh12345", "Bearer [REDACTED]")
            .replace(JWT, REDACTED)
    );

    let binary: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    let mut event = EventModel::default();
    let encoded = json!(STANDARD.encode(&binary));
    event.request.body = Some(encoded.clone());
    event.request.transfer_encoding = Some(crate::TransferEncoding::Base64);
    let event = applied(event, &Options::new());
    assert_eq!(event.request.body, Some(encoded), "binary bodies are left alone");

    let mut event = EventModel::default();
    let plain = json!(STANDARD.encode("Bearer abcdefgh12345"));
    event.request.body = Some(plain.clone());
    event.request.transfer_encoding = Some(crate::TransferEncoding::Base64);
    let event = applied(event, &Options::new().redact_by_value(false));
    assert_eq!(event.request.body, Some(plain), "the switch covers text bodies");
}

#[test]
fn encoded_query_names_are_matched() {
    let options = Options::new();
    let rules = Rules::of(&options);
    assert_eq!(
        redact_query_string("api%2Dkey=v&x=api_key", rules.query, &rules).as_deref(),
        Some("api%2Dkey=[REDACTED]&x=api_key")
    );
    assert_eq!(redact_query_string("x=1", rules.query, &rules), None);
}

#[test]
fn headers_are_capped() {
    let mut headers = Value::Object((0..150).map(|i| (format!("h{i:03}"), json!("v"))).collect());
    headers["h000"] = json!("x".repeat(MAX_HEADER_VALUE_BYTES + 1));
    cap_headers(&mut headers);
    let map = headers.as_object().map(|m| m.len());
    assert_eq!(map, Some(MAX_HEADERS + 1));
    assert_eq!(headers["x-moesif-headers-omitted"], 50);
    assert!(headers["h000"].as_str().is_some_and(|v| v.starts_with("[omitted")));
}

#[test]
fn fields_redacts_only_the_names_given() {
    let mut event = with_body(json!({"ssn": "1", "password": "p", "note": "Bearer abcdefgh12345"}));
    fields(&mut event, &["SSN"]);
    assert_eq!(
        event.request.body,
        Some(json!({"ssn": REDACTED, "password": "p", "note": "Bearer abcdefgh12345"}))
    );
}

#[test]
fn a_cookie_header_named_in_redact_goes_whole() {
    let mut event = with_headers(json!({"Cookie": "sid=1; theme=dark"}));
    event.request.body = Some(json!({"cookies": ["a=1"], "headers": {"cookie": "b=2"}}));
    let event = applied(event, &Options::new().redact(&["cookie", "cookies"]));
    assert_eq!(event.request.headers["Cookie"], REDACTED);
    assert_eq!(
        event.request.body,
        Some(json!({"cookies": REDACTED, "headers": {"cookie": REDACTED}}))
    );
}
