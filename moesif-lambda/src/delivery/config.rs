//! The application's server-side configuration (`GET /v1/config`) and sampling, as Moesif's SDKs apply
//! it: `regex_config` rules, then `user_sample_rate`, then `company_sample_rate`, then `sample_rate`,
//! then 100. A sent event carries `weight = floor(100 / rate)` (1 at 0 or 100).
//!
//! The config is never fetched on the path of a response: after the response (with
//! `moesif_lambda::run`) or on a background thread (synchronous mode). Until one is known, everything
//! is sampled at 100 %. An events POST whose `X-Moesif-Config-ETag` differs from the known one marks the
//! config stale, and it is fetched again the same way.

use crate::model::EventModel;
use regex_lite::Regex;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One `regex_config` rule: every condition must match for `sample_rate` to apply. Patterns are
/// `regex-lite` syntax (ASCII `\d`, `\w`, `\s` and case folding, no `\p{…}` classes): the patterns Moesif
/// rules hold, at a fraction of `regex`'s size; a rule whose pattern does not compile is left out.
#[derive(Debug)]
struct Rule {
    conditions: Vec<(String, Regex)>,
    sample_rate: f64,
}

/// A parsed `/v1/config` body.
#[derive(Debug, Default)]
pub(crate) struct AppConfig {
    sample_rate: Option<f64>,
    user_sample_rate: HashMap<String, f64>,
    company_sample_rate: HashMap<String, f64>,
    rules: Vec<Rule>,
}

impl AppConfig {
    /// Parses leniently: a malformed part is ignored, never an error.
    pub(crate) fn from_json(body: &Value) -> AppConfig {
        let rates = |key: &str| -> HashMap<String, f64> {
            body.get(key)
                .and_then(Value::as_object)
                .map(|map| map.iter().filter_map(|(k, v)| Some((k.clone(), v.as_f64()?))).collect())
                .unwrap_or_default()
        };
        let rules = body
            .get("regex_config")
            .and_then(Value::as_array)
            .map(|rules| rules.iter().filter_map(parse_rule).collect())
            .unwrap_or_default();
        AppConfig {
            sample_rate: body.get("sample_rate").and_then(Value::as_f64),
            user_sample_rate: rates("user_sample_rate"),
            company_sample_rate: rates("company_sample_rate"),
            rules,
        }
    }

    /// The sampling percentage for `event`.
    pub(crate) fn sample_rate(&self, event: &EventModel) -> f64 {
        if let Some(rate) = self
            .rules
            .iter()
            .find(|rule| rule_matches(rule, event))
            .map(|rule| rule.sample_rate)
        {
            return rate;
        }
        let by_id =
            |rates: &HashMap<String, f64>, id: &Option<String>| id.as_ref().and_then(|id| rates.get(id)).copied();
        by_id(&self.user_sample_rate, &event.user_id)
            .or_else(|| by_id(&self.company_sample_rate, &event.company_id))
            .or(self.sample_rate)
            .unwrap_or(100.0)
    }
}

fn parse_rule(rule: &Value) -> Option<Rule> {
    let sample_rate = rule.get("sample_rate")?.as_f64()?;
    let conditions = rule
        .get("conditions")?
        .as_array()?
        .iter()
        .map(|condition| {
            let path = condition.get("path")?.as_str()?.to_owned();
            let pattern = match condition.get("value")? {
                Value::String(text) => text.clone(),
                other => other.to_string(),
            };
            Some((path, Regex::new(&pattern).ok()?))
        })
        .collect::<Option<Vec<_>>>()?;
    Some(Rule {
        conditions,
        sample_rate,
    })
}

/// The values a rule's condition paths refer to.
fn field(event: &EventModel, path: &str) -> Option<String> {
    match path {
        "request.verb" => Some(event.request.verb.clone()).filter(|v| !v.is_empty()),
        "request.route" => Some(route(&event.request.uri)),
        "request.ip_address" => event.request.ip_address.clone(),
        "response.status" => Some(event.response.status.to_string()),
        _ => None,
    }
}

/// The path of a URI (`/` when there is none), as the SDKs' `request.route`.
fn route(uri: &str) -> String {
    let after_scheme = uri.split_once("://").map_or(uri, |(_, rest)| rest);
    let path = after_scheme.find('/').map_or("/", |start| &after_scheme[start..]);
    let path = path.split('?').next().unwrap_or("/");
    if path.is_empty() {
        "/".to_owned()
    } else {
        path.to_owned()
    }
}

fn rule_matches(rule: &Rule, event: &EventModel) -> bool {
    !rule.conditions.is_empty()
        && rule
            .conditions
            .iter()
            .all(|(path, regex)| field(event, path).is_some_and(|value| regex.is_match(&value)))
}

/// Whether to send an event sampled at `rate` percent, and with which weight.
pub(crate) fn sample(rate: f64) -> Option<u32> {
    if rate >= 100.0 {
        Some(1)
    } else if rate <= 0.0 || fastrand::f64() * 100.0 >= rate {
        None
    } else {
        // 100 / rate is in (1, +inf) here; saturate rather than overflow.
        Some((100.0 / rate).floor().min(f64::from(u32::MAX)) as u32)
    }
}

/// The config as currently known, and whether it must be fetched (again).
#[derive(Debug, Default)]
pub(crate) struct ConfigCache {
    state: Mutex<CacheState>,
}

#[derive(Debug, Default)]
struct CacheState {
    config: Option<Arc<AppConfig>>,
    etag: Option<String>,
    fetched: bool,
    stale: bool,
    fetching: bool,
    /// When the last fetch failed: the next waits [`RETRY_AFTER_FAILURE`] (no fetch storm against a
    /// collector that is down).
    failed_at: Option<Instant>,
}

/// How long after a failed config fetch the next one may start.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

impl ConfigCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The config in force (`None`: sample at 100 %).
    pub(crate) fn current(&self) -> Option<Arc<AppConfig>> {
        self.lock().config.clone()
    }

    /// Notes the ETag an events POST answered with; a new one marks the config stale.
    pub(crate) fn note_etag(&self, etag: Option<&str>) {
        let mut state = self.lock();
        if let Some(etag) = etag {
            if state.etag.as_deref() != Some(etag) {
                state.stale = true;
            }
        }
    }

    /// Claims the right to fetch if a fetch is due (never fetched, or stale) and none is running.
    pub(crate) fn claim_fetch(&self) -> bool {
        let mut state = self.lock();
        let backing_off = state
            .failed_at
            .is_some_and(|failed| failed.elapsed() < RETRY_AFTER_FAILURE);
        if (!state.fetched || state.stale) && !state.fetching && !backing_off {
            state.fetching = true;
            true
        } else {
            false
        }
    }

    /// Stores the outcome of a claimed fetch (`None`: it failed; try again later).
    pub(crate) fn finish_fetch(&self, fetched: Option<(AppConfig, Option<String>)>) {
        let mut state = self.lock();
        state.fetching = false;
        match fetched {
            Some((config, etag)) => {
                state.config = Some(Arc::new(config));
                state.etag = etag;
                state.fetched = true;
                state.stale = false;
                state.failed_at = None;
            }
            None => state.failed_at = Some(Instant::now()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(verb: &str, uri: &str, status: u16, user: Option<&str>) -> EventModel {
        let mut event = EventModel::default();
        event.request.verb = verb.into();
        event.request.uri = uri.into();
        event.response.status = status;
        event.user_id = user.map(String::from);
        event
    }

    #[test]
    fn precedence_is_regex_user_company_default() {
        let config = AppConfig::from_json(&json!({
            "sample_rate": 40,
            "user_sample_rate": {"u1": 10},
            "company_sample_rate": {"c1": 20},
            "regex_config": [
                {"conditions": [{"path": "request.verb", "value": "^POST$"}, {"path": "request.route", "value": "^/orders"}], "sample_rate": 5}
            ]
        }));
        assert_eq!(
            config.sample_rate(&event("POST", "https://h/orders/1?x=1", 200, Some("u1"))),
            5.0
        );
        assert_eq!(
            config.sample_rate(&event("GET", "https://h/orders", 200, Some("u1"))),
            10.0
        );
        let mut company = event("GET", "https://h/", 200, None);
        company.company_id = Some("c1".into());
        assert_eq!(config.sample_rate(&company), 20.0);
        assert_eq!(config.sample_rate(&event("GET", "https://h/", 200, None)), 40.0);
        assert_eq!(AppConfig::default().sample_rate(&event("GET", "/", 200, None)), 100.0);
    }

    #[test]
    fn status_rules_match_on_text() {
        let config = AppConfig::from_json(&json!({"regex_config": [
            {"conditions": [{"path": "response.status", "value": "5\\d\\d"}], "sample_rate": 100},
            {"conditions": [{"path": "request.route", "value": "("}], "sample_rate": 1}
        ], "sample_rate": 0}));
        assert_eq!(config.sample_rate(&event("GET", "http://h/a", 503, None)), 100.0);
        assert_eq!(config.sample_rate(&event("GET", "http://h/a", 200, None)), 0.0);
    }

    #[test]
    fn patterns_are_regex_lite_a_rule_it_cannot_compile_is_ignored() {
        let config = AppConfig::from_json(&json!({"regex_config": [
            {"conditions": [{"path": "request.route", "value": "^/\\p{L}+$"}], "sample_rate": 1},
            {"conditions": [{"path": "request.route", "value": "^/(?i)ORDERS/\\d+$"}], "sample_rate": 30}
        ], "sample_rate": 90}));
        assert_eq!(
            config.rules.len(),
            1,
            "Unicode classes are not supported: that rule is left out"
        );
        assert_eq!(
            config.sample_rate(&event("GET", "https://h/orders/42", 200, None)),
            30.0
        );
        assert_eq!(config.sample_rate(&event("GET", "https://h/orders/x", 200, None)), 90.0);
        assert_eq!(config.sample_rate(&event("GET", "https://h/abc", 200, None)), 90.0);
    }

    #[test]
    fn weights() {
        assert_eq!(sample(100.0), Some(1));
        assert_eq!(sample(0.0), None);
        let weights: Vec<_> = (0..200).filter_map(|_| sample(50.0)).collect();
        assert!(weights.iter().all(|w| *w == 2));
        assert!(!weights.is_empty() && weights.len() < 200);
    }

    #[test]
    fn etag_change_marks_stale() {
        let cache = ConfigCache::default();
        assert!(cache.claim_fetch());
        assert!(!cache.claim_fetch(), "one fetch at a time");
        cache.finish_fetch(Some((AppConfig::default(), Some("e1".into()))));
        assert!(!cache.claim_fetch());
        cache.note_etag(Some("e1"));
        assert!(!cache.claim_fetch());
        cache.note_etag(Some("e2"));
        assert!(cache.claim_fetch());
        cache.finish_fetch(None);
        assert!(!cache.claim_fetch(), "a failed fetch backs off");
    }

    #[test]
    fn routes() {
        assert_eq!(route("https://h.example/a/b?x=1"), "/a/b");
        assert_eq!(route("http://h"), "/");
        assert_eq!(route("wss://h/prod/$default"), "/prod/$default");
    }
}
