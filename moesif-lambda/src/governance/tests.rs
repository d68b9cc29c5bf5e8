use super::*;
use serde_json::json;

/// A request with these parts, headers from a JSON object and a JSON body.
struct Req {
    verb: &'static str,
    route: &'static str,
    ip: Option<&'static str>,
    headers: Value,
    body: Value,
    user: Option<&'static str>,
    company: Option<&'static str>,
}

impl Req {
    fn new(verb: &'static str, route: &'static str) -> Req {
        Req {
            verb,
            route,
            ip: None,
            headers: json!({}),
            body: Value::Null,
            user: None,
            company: None,
        }
    }

    fn eval(&self, rules: &Rules, cohorts: &Cohorts) -> Option<Decision> {
        let header = |name: &str| {
            self.headers
                .as_object()?
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))?
                .1
                .as_str()
        };
        let request = Request {
            verb: self.verb,
            route: self.route,
            ip: self.ip,
            header: &header,
            body: self.body.as_object(),
            user_id: self.user,
            company_id: self.company,
        };
        rules.evaluate(cohorts, &request)
    }
}

fn rules(value: Value) -> Rules {
    Rules::parse(&value).unwrap_or_else(|why| panic!("{why}"))
}

fn blocked_by(decision: &Option<Decision>) -> Option<&str> {
    decision.as_ref()?.blocked.as_ref().map(|b| b.rule_id.as_str())
}

fn headers(decision: &Option<Decision>) -> Vec<(String, String)> {
    decision.as_ref().map(|d| d.headers.clone()).unwrap_or_default()
}

fn block(id: &str, kind: &str, conditions: Value) -> Value {
    json!({"_id": id, "type": kind, "block": true, "applied_to_unidentified": true,
        "regex_config": [{"conditions": conditions}],
        "response": {"status": 403, "headers": {"X-Rule": id}, "body": {"rule": id}}})
}

#[test]
fn each_condition_path_matches_its_field() {
    let set = rules(json!([
        block("verb", "regex", json!([{"path": "request.verb", "value": "^DELETE$"}])),
        block("route", "regex", json!([{"path": "request.route", "value": "^/admin"}])),
        block(
            "ip",
            "regex",
            json!([{"path": "request.ip_address", "value": "^10\\.1\\."}])
        ),
        block("ip2", "regex", json!([{"path": "request.ip", "value": "192.168.9.9"}])),
        block(
            "header",
            "regex",
            json!([{"path": "request.headers.X-Bot", "value": "crawl"}])
        ),
        block(
            "body",
            "regex",
            json!([{"path": "request.body.plan", "value": "^free$"}])
        ),
        block(
            "body-num",
            "regex",
            json!([{"path": "request.body.qty", "value": "^1000$"}])
        ),
    ]));
    assert!(set.uses_body());
    let none = Cohorts::default();
    assert_eq!(Req::new("GET", "/orders").eval(&set, &none), None, "nothing applies");
    assert_eq!(
        blocked_by(&Req::new("DELETE", "/orders").eval(&set, &none)),
        Some("verb")
    );
    assert_eq!(
        blocked_by(&Req::new("GET", "/admin/x").eval(&set, &none)),
        Some("route")
    );
    let from = |ip| Req {
        ip: Some(ip),
        ..Req::new("GET", "/")
    };
    assert_eq!(blocked_by(&from("10.1.2.3").eval(&set, &none)), Some("ip"));
    assert_eq!(blocked_by(&from("192.168.9.9").eval(&set, &none)), Some("ip2"));
    assert_eq!(from("10.2.2.3").eval(&set, &none), None);
    let bot = Req {
        headers: json!({"x-BOT": "webcrawler"}),
        ..Req::new("GET", "/")
    };
    assert_eq!(
        blocked_by(&bot.eval(&set, &none)),
        Some("header"),
        "header names in any case"
    );
    let body = |body| Req {
        body,
        ..Req::new("POST", "/")
    };
    assert_eq!(
        blocked_by(&body(json!({"plan": "free"})).eval(&set, &none)),
        Some("body")
    );
    assert_eq!(
        blocked_by(&body(json!({"qty": 1000})).eval(&set, &none)),
        Some("body-num")
    );
    assert_eq!(body(json!({"plan": "freemium"})).eval(&set, &none), None);
    assert_eq!(
        body(json!({"nested": {"plan": "free"}})).eval(&set, &none),
        None,
        "top-level keys only"
    );
    assert_eq!(body(json!(["plan"])).eval(&set, &none), None);
}

#[test]
fn groups_are_ored_conditions_anded_and_none_matches_everything() {
    let set = rules(json!([
        {"_id": "and-or", "type": "regex", "block": true,
         "regex_config": [
            {"conditions": [{"path": "request.verb", "value": "POST"}, {"path": "request.route", "value": "^/a"}]},
            {"conditions": [{"path": "request.route", "value": "^/b"}]}],
         "response": {"status": 429}},
    ]));
    let none = Cohorts::default();
    assert_eq!(blocked_by(&Req::new("POST", "/a").eval(&set, &none)), Some("and-or"));
    assert_eq!(Req::new("GET", "/a").eval(&set, &none), None);
    assert_eq!(blocked_by(&Req::new("GET", "/b").eval(&set, &none)), Some("and-or"));
    let all = rules(
        json!([{"_id": "all", "type": "regex", "response": {"headers": {"X-All": "1"}}},
                           {"_id": "empty", "type": "regex", "regex_config": [], "response": {"headers": {"X-Empty": "1"}}}]),
    );
    assert_eq!(
        headers(&Req::new("GET", "/").eval(&all, &none)),
        vec![("X-All".into(), "1".into()), ("X-Empty".into(), "1".into())]
    );
}

fn cohorts() -> Cohorts {
    Cohorts::take_from_config(&mut json!({
        "user_rules": {
            "u-gold": [{"rules": "plan", "values": {"plan": "gold", "limit": 100}}],
            "u-over": [{"rules": "quota", "values": {"used": "120"}}]
        },
        "company_rules": {"c-acme": [{"rules": "unpaid", "values": {"name": "Acme"}}]},
        "sample_rate": 50
    }))
}

#[test]
fn user_and_company_rules_matching_not_matching_and_unidentified() {
    let set = rules(json!([
        {"_id": "quota", "type": "user", "block": true, "applied_to": "matching",
         "response": {"status": 429, "body": {"error": "quota used: {{used|0}} of {{limit|50}} ({{missing}})"}}},
        {"_id": "plan", "type": "user", "applied_to": "not_matching", "applied_to_unidentified": true,
         "response": {"headers": {"X-Plan": "{{plan|free}}"}}},
        {"_id": "unpaid", "type": "company", "block": true, "response": {"status": 402, "body": "pay {{name}}"}},
    ]));
    let c = cohorts();
    let user = |id| Req {
        user: id,
        ..Req::new("GET", "/")
    };
    let over = user(Some("u-over")).eval(&set, &c);
    assert_eq!(blocked_by(&over), Some("quota"));
    let body = over.as_ref().and_then(|d| d.blocked.as_ref()).map(Blocked::body_text);
    assert_eq!(body.as_deref(), Some(r#"{"error":"quota used: 120 of 50 (UNKNOWN)"}"#));
    // u-over is not in the `plan` cohort: not_matching applies it, with the default.
    assert_eq!(headers(&over), vec![("X-Plan".into(), "free".into())]);
    // u-gold is in the `plan` cohort: not_matching does not apply; not in `quota`: matching does not.
    assert_eq!(user(Some("u-gold")).eval(&set, &c), None);
    // No user id: only rules applied to the unidentified.
    assert_eq!(
        headers(&user(None).eval(&set, &c)),
        vec![("X-Plan".into(), "free".into())]
    );
    assert_eq!(blocked_by(&user(None).eval(&set, &c)), None);
    let acme = Req {
        company: Some("c-acme"),
        user: Some("u-gold"),
        ..Req::new("GET", "/")
    };
    let decision = acme.eval(&set, &c);
    assert_eq!(blocked_by(&decision), Some("unpaid"));
    assert_eq!(
        decision.and_then(|d| d.blocked).map(|b| (b.status, b.body_text())),
        Some((402, "\"pay Acme\"".to_owned()))
    );
}

#[test]
fn precedence_regex_then_company_then_user_headers_merged_highest_kind_blocks() {
    let set = rules(json!([
        {"_id": "u1", "type": "user", "block": true, "response": {"status": 429, "headers": {"X-Who": "user", "X-U": "1"}}},
        {"_id": "u2", "type": "user", "block": true, "response": {"status": 430, "headers": {"X-Second": "u2"}}},
        {"_id": "c1", "type": "company", "block": true, "response": {"status": 402, "headers": {"x-who": "company", "X-C": "1"}}},
        {"_id": "r1", "type": "regex", "block": true, "response": {"status": 403, "headers": {"X-WHO": "regex", "X-R": "1"}}},
    ]));
    let c = Cohorts::take_from_config(&mut json!({
        "user_rules": {"u": [{"rules": "u1"}, {"rules": "u2"}]},
        "company_rules": {"c": [{"rules": "c1"}]}
    }));
    let both = Req {
        user: Some("u"),
        company: Some("c"),
        ..Req::new("GET", "/")
    };
    let decision = both.eval(&set, &c);
    assert_eq!(
        blocked_by(&decision),
        Some("u1"),
        "user over company over regex; first user rule"
    );
    assert_eq!(
        headers(&decision),
        vec![
            ("X-Who".into(), "user".into()),
            ("X-R".into(), "1".into()),
            ("X-C".into(), "1".into()),
            ("X-U".into(), "1".into()),
            ("X-Second".into(), "u2".into()),
        ],
        "merged regex, company, user: the later replaces one of the same name"
    );
    let blocked = decision
        .as_ref()
        .and_then(Decision::blocked_headers)
        .unwrap_or_default();
    assert_eq!(
        blocked.last(),
        Some(&("X-Moesif-Blocked-By".to_owned(), "u1".to_owned()))
    );
    assert!(blocked.contains(&("Content-Type".to_owned(), "application/json".to_owned())));
    let company_only = Req {
        company: Some("c"),
        ..Req::new("GET", "/")
    };
    assert_eq!(blocked_by(&company_only.eval(&set, &c)), Some("c1"));
    assert_eq!(blocked_by(&Req::new("GET", "/").eval(&set, &c)), Some("r1"));
}

#[test]
fn bad_rules_are_skipped_bad_patterns_never_match_bad_status_is_502() {
    let set = rules(json!([
        "not a rule",
        {"type": "regex", "block": true, "response": {"status": 403}},
        {"_id": "no-status", "type": "regex", "block": true, "response": {"body": "x"}},
        {"_id": "bad-type", "type": "ip", "block": true, "response": {"status": 403}},
        {"_id": "bad-applied", "type": "user", "applied_to": "everyone", "response": {"status": 403}},
        {"_id": "bad-group", "type": "regex", "regex_config": [{"conditions": "all"}], "response": {"status": 403}},
        {"_id": "bad-pattern", "type": "regex", "block": true,
         "regex_config": [{"conditions": [{"path": "request.route", "value": "("}]}], "response": {"status": 403}},
        {"_id": "unknown-path", "type": "regex", "block": true,
         "regex_config": [{"conditions": [{"path": "request.host", "value": ""}]}], "response": {"status": 403}},
        {"_id": "status", "type": "regex", "block": true, "future_field": [1],
         "regex_config": [{"conditions": [{"path": "request.route", "value": "^/status"}]}],
         "response": {"status": 99, "headers": {"Bad Name": "x", "X-Num": 5, "X-Ok": "{{open"}}},
    ]));
    assert_eq!(set.regex.len() + set.user.len() + set.company.len(), 3, "{set:?}");
    let none = Cohorts::default();
    assert_eq!(
        Req::new("GET", "/x").eval(&set, &none),
        None,
        "a bad pattern or unknown path never matches"
    );
    let decision = Req::new("GET", "/status").eval(&set, &none);
    assert_eq!(
        decision.as_ref().and_then(|d| d.blocked.as_ref()).map(|b| b.status),
        Some(502)
    );
    assert_eq!(headers(&decision), vec![("X-Ok".into(), "{{open".into())]);
    assert!(Rules::parse(&json!({"rules": []})).is_err());
    assert!(Rules::parse(&json!([])).is_ok_and(|r| r.is_empty()));
}

#[test]
fn thousands_of_cohort_entries_and_odd_cohorts() {
    let mut users = Map::new();
    for i in 0..5_000 {
        users.insert(format!("u{i}"), json!([{"rules": "r", "values": {"n": i}}]));
    }
    users.insert("odd".into(), json!("not a list"));
    users.insert("odd2".into(), json!([{"values": {}}, 7]));
    let c = Cohorts::take_from_config(&mut json!({"user_rules": users, "company_rules": [1, 2]}));
    let set = rules(json!([{"_id": "r", "type": "user", "response": {"headers": {"X-N": "{{n}}"}}}]));
    let user = |id| Req {
        user: Some(id),
        ..Req::new("GET", "/")
    };
    assert_eq!(
        headers(&user("u4321").eval(&set, &c)),
        vec![("X-N".into(), "4321".into())]
    );
    assert_eq!(user("odd").eval(&set, &c), None);
    assert_eq!(user("odd2").eval(&set, &c), None);
}

#[test]
fn a_remembered_lookup_answers_as_the_lookup_does() {
    let calls = std::cell::Cell::new(0);
    let lookup = |name: &str| {
        calls.set(calls.get() + 1);
        match name {
            "user-agent" => Some("bot"),
            _ => None,
        }
    };
    let remembered = super::remembering_last(lookup);
    let seen: Vec<Option<&str>> = ["user-agent", "user-agent", "x-a", "x-a", "user-agent"]
        .into_iter()
        .map(&remembered)
        .collect();
    assert_eq!(seen, [Some("bot"), Some("bot"), None, None, Some("bot")]);
    assert_eq!(calls.get(), 3, "a repeated name is not looked up again");
}
