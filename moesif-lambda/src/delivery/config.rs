//! The application's server-side configuration (`GET /v1/config`) and sampling, as Moesif's SDKs apply
//! it: `regex_config` rules, then `user_sample_rate`, then `company_sample_rate`, then `sample_rate`,
//! then 100. A sent event carries `weight = floor(100 / rate)` (1 at 0 or 100).
//!
//! The config is never fetched on the path of a response: after the response (with
//! `moesif_lambda::run`) or on a background thread (synchronous mode). Until one is known, everything
//! is sampled at 100 %. An events POST whose `X-Moesif-Config-ETag` differs from the known one marks the
//! config stale, and it is fetched again the same way.

use crate::governance::{route, text_of, Cohorts, Field, Pattern};
use crate::model::EventModel;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One `regex_config` rule: every condition must match for `sample_rate` to apply. Paths and patterns
/// are governance's ([`Field`], [`Pattern`]: `regex-lite` syntax, ASCII `\d`, `\w`, `\s` and case
/// folding, no `\p{…}` classes); a rule whose pattern does not compile, or on a path no event has, is
/// left out.
#[derive(Debug)]
struct Rule {
    conditions: Vec<(Field, Pattern)>,
    sample_rate: f64,
}

/// A parsed `/v1/config` body.
///
/// Read leniently, as the SDKs do: a part of the wrong type (a rate that is not a number, a rule
/// without conditions) is ignored, never an error; unknown fields are ignored; a body that is JSON
/// but not an object is an empty config. Only a body that is not JSON fails to parse.
#[derive(Debug, Default)]
pub(crate) struct AppConfig {
    sample_rate: Option<f64>,
    user_sample_rate: HashMap<String, f64>,
    company_sample_rate: HashMap<String, f64>,
    rules: Vec<Rule>,
    /// Governance: the entities in each rule's cohort (`user_rules`, `company_rules`).
    pub(crate) cohorts: Cohorts,
}

/// The `/v1/config` body as sent; every field optional, and any of the wrong type ignored.
#[derive(Deserialize)]
struct ConfigBody {
    #[serde(default)]
    sample_rate: Lenient<f64>,
    #[serde(default)]
    user_sample_rate: Lenient<HashMap<String, Lenient<f64>>>,
    #[serde(default)]
    company_sample_rate: Lenient<HashMap<String, Lenient<f64>>>,
    #[serde(default)]
    regex_config: Lenient<Vec<Lenient<RuleBody>>>,
}

/// One `regex_config` entry as sent: a rule missing either field, or with a malformed condition,
/// fails to deserialize and is ignored (as is one whose condition is on a path no event has).
#[derive(Deserialize)]
struct RuleBody {
    sample_rate: f64,
    conditions: Vec<ConditionBody>,
}

#[derive(Deserialize)]
struct ConditionBody {
    path: String,
    /// A pattern; any other JSON value is matched as its JSON text (`200`).
    value: Value,
}

/// A `T`, or `None` when the value is of another shape (ignored, not an error).
///
/// The body is parsed into a `Value` (the parser the crate has anyway) and every struct here is read
/// from a `&Value`: one more deserializer for the whole config. Measured on `benches/size.sh`, this is
/// the smallest derive-based reading found: serde's `untagged` for the leniency (its own buffer type)
/// and a derive straight from the bytes with lenient visitors (serde_json's streaming
/// `deserialize_any` once per visitor type, about 10 KB more) were both larger.
struct Lenient<T>(Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(deserializer)?;
        Ok(Lenient(T::deserialize(&value).ok()))
    }
}

impl<T> Lenient<T> {
    fn valid(self) -> Option<T> {
        self.0
    }
}

impl AppConfig {
    /// Parses a `/v1/config` body (see [`AppConfig`] for what is ignored).
    pub(crate) fn from_slice(body: &[u8]) -> serde_json::Result<AppConfig> {
        let mut body: Value = serde_json::from_slice(body)?;
        let cohorts = Cohorts::take_from_config(&mut body);
        let config = ConfigBody::deserialize(&body).ok().map(AppConfig::from_body);
        Ok(AppConfig {
            cohorts,
            ..config.unwrap_or_default()
        })
    }

    fn from_body(body: ConfigBody) -> AppConfig {
        let rates = |rates: Lenient<HashMap<String, Lenient<f64>>>| -> HashMap<String, f64> {
            rates
                .valid()
                .unwrap_or_default()
                .into_iter()
                .filter_map(|(id, rate)| Some((id, rate.valid()?)))
                .collect()
        };
        let rules = body.regex_config.valid().unwrap_or_default();
        AppConfig {
            sample_rate: body.sample_rate.valid(),
            user_sample_rate: rates(body.user_sample_rate),
            company_sample_rate: rates(body.company_sample_rate),
            rules: rules.into_iter().filter_map(|rule| compile(rule.valid()?)).collect(),
            cohorts: Cohorts::default(),
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

/// The rule, its patterns compiled; `None` when one does not compile or looks at a path no event has.
fn compile(rule: RuleBody) -> Option<Rule> {
    let conditions = rule
        .conditions
        .into_iter()
        .map(|condition| Some((Field::of(&condition.path)?, Pattern::compile(&condition.value)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Rule {
        conditions,
        sample_rate: rule.sample_rate,
    })
}

/// The value a rule's condition looks at.
fn field<'a>(event: &'a EventModel, field: &Field) -> Option<std::borrow::Cow<'a, str>> {
    use std::borrow::Cow;
    match field {
        Field::Verb => Some(Cow::Borrowed(event.request.verb.as_str())).filter(|v| !v.is_empty()),
        Field::Route => Some(Cow::Borrowed(route(&event.request.uri))),
        Field::IpAddress => event.request.ip_address.as_deref().map(Cow::Borrowed),
        Field::Status => Some(Cow::Owned(event.response.status.to_string())),
        Field::Header(name) => event
            .request
            .headers
            .as_object()?
            .iter()
            .find(|(header, _)| header.eq_ignore_ascii_case(name))?
            .1
            .as_str()
            .map(Cow::Borrowed),
        Field::Body(key) => event.request.body.as_ref()?.get(key).map(text_of),
    }
}

fn rule_matches(rule: &Rule, event: &EventModel) -> bool {
    !rule.conditions.is_empty()
        && rule
            .conditions
            .iter()
            .all(|(path, pattern)| field(event, path).is_some_and(|value| pattern.is_match(&value)))
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

/// A fetched document (the config, the governance rules) as currently known, and whether it must be
/// fetched (again): never fetched, a collector answer named another version of it (its ETag or tag),
/// or it is older than [`MAX_AGE`].
#[derive(Debug)]
pub(crate) struct ConfigCache<T = AppConfig> {
    state: Mutex<CacheState<T>>,
    /// How old a fetched document may get ([`MAX_AGE`]; shorter in tests).
    max_age: Duration,
}

impl<T> Default for ConfigCache<T> {
    fn default() -> Self {
        ConfigCache {
            max_age: MAX_AGE,
            state: Mutex::new(CacheState {
                config: None,
                etag: None,
                fetched_at: None,
                stale: false,
                fetching: false,
                failed_at: None,
                digest: None,
            }),
        }
    }
}

#[derive(Debug)]
struct CacheState<T> {
    config: Option<Arc<T>>,
    etag: Option<String>,
    /// When the last fetch succeeded (`None`: never).
    fetched_at: Option<Instant>,
    stale: bool,
    fetching: bool,
    /// When the last fetch failed: the next waits [`RETRY_AFTER_FAILURE`] (no fetch storm against a
    /// collector that is down).
    failed_at: Option<Instant>,
    /// A digest of the body last read: the same body again is not read again (nor warned about).
    digest: Option<u64>,
}

/// How long after a failed config fetch the next one may start.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// How old a fetched document may get before it is fetched again.
pub(crate) const MAX_AGE: Duration = Duration::from_secs(5 * 60);

/// A digest of a fetched body (FNV-1a), to see that it did not change.
pub(crate) fn digest(body: &[u8]) -> u64 {
    body.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

impl<T> ConfigCache<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, CacheState<T>> {
        crate::sync::lock(&self.state)
    }

    /// The config in force (`None`: none fetched yet).
    pub(crate) fn current(&self) -> Option<Arc<T>> {
        self.lock().config.clone()
    }

    /// Whether a fetch ever succeeded.
    pub(crate) fn fetched(&self) -> bool {
        self.lock().fetched_at.is_some()
    }

    /// Notes the ETag (tag) an events POST answered with; a new one marks the config stale.
    pub(crate) fn note_etag(&self, etag: Option<&str>) {
        let mut state = self.lock();
        if let Some(etag) = etag {
            if state.etag.as_deref() != Some(etag) {
                state.stale = true;
            }
        }
    }

    /// Claims the right to fetch if a fetch is due (never fetched, stale or old) and none is running.
    pub(crate) fn claim_fetch(&self) -> bool {
        let mut state = self.lock();
        let backing_off = state
            .failed_at
            .is_some_and(|failed| failed.elapsed() < RETRY_AFTER_FAILURE);
        let due = state.fetched_at.is_none_or(|at| at.elapsed() >= self.max_age) || state.stale;
        if due && !state.fetching && !backing_off {
            state.fetching = true;
            true
        } else {
            false
        }
    }

    /// Whether a body of this digest is the one read last (then it need not be read again).
    pub(crate) fn is_unchanged(&self, digest: u64) -> bool {
        let state = self.lock();
        state.config.is_some() && state.digest == Some(digest)
    }

    /// Stores the outcome of a claimed fetch (`None`: it failed; try again later, keeping what is
    /// known). `Some((None, …))`: the body was the one read last (see [`Self::is_unchanged`]).
    #[allow(clippy::type_complexity)]
    pub(crate) fn finish_fetch(&self, fetched: Option<(Option<T>, Option<String>, Option<u64>)>) {
        let mut state = self.lock();
        state.fetching = false;
        match fetched {
            Some((config, etag, digest)) => {
                if let Some(config) = config {
                    state.config = Some(Arc::new(config));
                    state.digest = digest;
                }
                state.etag = etag;
                state.fetched_at = Some(Instant::now());
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

    /// The config the collector would send as `body`, read as it is from the wire.
    fn parse(body: Value) -> AppConfig {
        AppConfig::from_slice(body.to_string().as_bytes()).unwrap_or_else(|error| panic!("{error}"))
    }

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
        let config = parse(json!({
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
        let config = parse(json!({"regex_config": [
            {"conditions": [{"path": "response.status", "value": "5\\d\\d"}], "sample_rate": 100},
            {"conditions": [{"path": "request.route", "value": "("}], "sample_rate": 1}
        ], "sample_rate": 0}));
        assert_eq!(config.sample_rate(&event("GET", "http://h/a", 503, None)), 100.0);
        assert_eq!(config.sample_rate(&event("GET", "http://h/a", 200, None)), 0.0);
    }

    #[test]
    fn patterns_are_regex_lite_a_rule_it_cannot_compile_is_ignored() {
        let config = parse(json!({"regex_config": [
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
    fn malformed_parts_are_ignored_unknown_fields_tolerated() {
        let config = parse(json!({
            "sample_rate": "fifty",
            "user_sample_rate": {"u1": 10, "u2": "x", "u3": null, "u4": 2.5},
            "company_sample_rate": [1, 2],
            "regex_config": [
                {"conditions": [{"path": "request.verb", "value": "GET"}]},
                {"conditions": [{"path": "request.verb"}], "sample_rate": 1},
                {"conditions": [{"path": "request.host", "value": "."}], "sample_rate": 2},
                {"conditions": "all", "sample_rate": 3},
                "not a rule",
                {"conditions": [{"path": "response.status", "value": 404}], "sample_rate": 7, "extra": true},
                {"conditions": [{"path": "request.ip_address", "value": "^10\\."}], "sample_rate": 8}
            ],
            "unknown": {"anything": [1, 2]},
            "ip_addresses_blocked_by_name": {}
        }));
        assert_eq!(config.sample_rate, None, "a rate that is not a number is ignored");
        assert_eq!(
            config.user_sample_rate.len(),
            2,
            "u1 and u4 are numbers: {:?}",
            config.user_sample_rate
        );
        assert_eq!(config.user_sample_rate.get("u4"), Some(&2.5));
        assert!(config.company_sample_rate.is_empty());
        assert_eq!(
            config.sample_rate(&event("GET", "https://h/", 200, None)),
            100.0,
            "malformed rules, and the one on a path no event has, never apply"
        );
        assert_eq!(
            config.sample_rate(&event("GET", "https://h/", 404, None)),
            7.0,
            "a number value is matched as its JSON text"
        );
        let mut from_ten = event("GET", "https://h/", 200, None);
        from_ten.request.ip_address = Some("10.0.0.1".into());
        assert_eq!(config.sample_rate(&from_ten), 8.0);
        assert_eq!(config.sample_rate(&event("GET", "https://h/", 200, Some("u2"))), 100.0);
        assert_eq!(config.sample_rate(&event("GET", "https://h/", 200, Some("u1"))), 10.0);
    }

    #[test]
    fn a_body_that_is_json_but_no_object_is_an_empty_config_one_that_is_not_json_an_error() {
        for body in [json!([]), json!("config"), json!(null), json!(3), json!({})] {
            let config = parse(body);
            assert!(config.sample_rate.is_none() && config.rules.is_empty() && config.user_sample_rate.is_empty());
        }
        assert!(AppConfig::from_slice(b"{\"sample_rate\": 5").is_err());
        assert!(AppConfig::from_slice(b"<html>").is_err());
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
    fn a_failed_or_unchanged_fetch_keeps_what_is_known() {
        let cache: ConfigCache<u8> = ConfigCache::default();
        assert!(cache.claim_fetch() && !cache.fetched());
        cache.finish_fetch(Some((Some(1), Some("t1".into()), Some(digest(b"one")))));
        assert_eq!(cache.current().as_deref(), Some(&1));
        assert!(cache.is_unchanged(digest(b"one")) && !cache.is_unchanged(digest(b"two")));
        cache.note_etag(Some("t2"));
        assert!(cache.claim_fetch());
        cache.finish_fetch(None);
        assert_eq!(
            cache.current().as_deref(),
            Some(&1),
            "a failed fetch keeps the last good"
        );
        let cache: ConfigCache<u8> = ConfigCache::default();
        assert!(cache.claim_fetch());
        cache.finish_fetch(Some((Some(1), None, Some(digest(b"one")))));
        cache.note_etag(Some("t2"));
        assert!(cache.claim_fetch());
        cache.finish_fetch(Some((None, Some("t2".into()), Some(digest(b"one")))));
        assert_eq!(cache.current().as_deref(), Some(&1), "the same body is not read again");
        assert!(!cache.claim_fetch(), "and the new tag is known");
    }

    #[test]
    fn a_document_older_than_its_max_age_is_fetched_again_and_the_last_good_kept_meanwhile() {
        let cache = ConfigCache {
            max_age: Duration::from_millis(50),
            ..ConfigCache::default()
        };
        assert!(cache.claim_fetch());
        cache.finish_fetch(Some((Some(7u8), None, None)));
        assert!(!cache.claim_fetch(), "fresh");
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.claim_fetch(), "old: fetched again");
        assert!(!cache.claim_fetch(), "one fetch at a time");
        assert_eq!(cache.current().as_deref(), Some(&7), "the last good meanwhile");
        cache.finish_fetch(Some((Some(8), None, None)));
        assert!(!cache.claim_fetch(), "fresh again");
        assert_eq!(cache.current().as_deref(), Some(&8));
        assert_eq!(ConfigCache::<u8>::default().max_age, Duration::from_secs(300));
    }

    #[test]
    fn etag_change_marks_stale() {
        let cache = ConfigCache::default();
        assert!(cache.claim_fetch());
        assert!(!cache.claim_fetch(), "one fetch at a time");
        cache.finish_fetch(Some((Some(AppConfig::default()), Some("e1".into()), None)));
        assert!(!cache.claim_fetch());
        cache.note_etag(Some("e1"));
        assert!(!cache.claim_fetch());
        cache.note_etag(Some("e2"));
        assert!(cache.claim_fetch());
        cache.finish_fetch(None);
        assert!(!cache.claim_fetch(), "a failed fetch backs off");
    }
}
