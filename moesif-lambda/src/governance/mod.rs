//! Governance: the app's rules in Moesif (`GET /v1/rules`, and the config's `user_rules` /
//! `company_rules`) decide whether a request is blocked (the handler is not called; the caller gets the
//! rule's status, headers and body) and which headers are added to its answer. Pure: no I/O; delivery
//! fetches the rules, integrations enforce what [`Rules::evaluate`] decides.
//!
//! - Rules are read and their patterns compiled once per version ([`Rules::parse`]); evaluating a
//!   request allocates nothing unless a rule applies.
//! - A `regex` rule applies when its conditions match; a `user` (`company`) rule: with no user id, when
//!   `applied_to_unidentified`; with one in its cohort, when `applied_to` is `matching`; with one not in
//!   it, when `not_matching`; and its conditions match.
//! - Headers of every applicable rule are merged regex, then company, then user (a later one replacing
//!   one of the same name); the blocking rule is the applicable one of the highest kind, the first in the
//!   server's order within it.

mod field;
mod rules;
mod template;

pub(crate) use field::{route, text_of, Field, Pattern};

use rules::{Condition, Kind, Rule};
use serde_json::{Map, Value};
use std::cell::RefCell;
use template::{render, render_json, Values};

/// The compiled rules of one version of `/v1/rules`, in the server's order within each kind.
#[derive(Debug, Default)]
pub(crate) struct Rules {
    regex: Vec<Rule>,
    company: Vec<Rule>,
    user: Vec<Rule>,
    uses_body: bool,
    uses_ip: bool,
}

/// The cohorts of one version of the config: its `user_rules` and `company_rules`, `{"<entity id>":
/// [{"rules": "<rule _id>", "values": {…}}]}`, kept as the JSON they are (read as they are used; an
/// entry of another shape puts the entity in no cohort).
#[derive(Debug, Default)]
pub(crate) struct Cohorts {
    users: Map<String, Value>,
    companies: Map<String, Value>,
}

impl Cohorts {
    /// Takes the config's `user_rules` and `company_rules` out of it (anything else is left).
    pub(crate) fn take_from_config(config: &mut Value) -> Cohorts {
        let mut take = |key| match config.as_object_mut().and_then(|config| config.remove(key)) {
            Some(Value::Object(cohort)) => cohort,
            _ => Map::new(),
        };
        Cohorts {
            users: take("user_rules"),
            companies: take("company_rules"),
        }
    }
}

/// A request as the rules see it.
pub(crate) struct Request<'a> {
    pub verb: &'a str,
    /// The path, no query.
    pub route: &'a str,
    /// The logged client IP.
    pub ip: Option<&'a str>,
    /// A header's value by its lowercase name, matched in any case.
    pub header: &'a dyn Fn(&str) -> Option<&'a str>,
    /// The top-level keys of a JSON request body (read only when [`Rules::uses_body`]).
    pub body: Option<&'a Map<String, Value>>,
    pub user_id: Option<&'a str>,
    pub company_id: Option<&'a str>,
}

/// What the rules decided for a request that some rule applies to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Decision {
    /// The merged headers of every applicable rule, templated: added to the answer, or to the blocked one.
    pub headers: Vec<(String, String)>,
    pub blocked: Option<Blocked>,
}

/// The answer of a blocked request.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Blocked {
    pub rule_id: String,
    pub status: u16,
    /// The templated body (`None`: the rule has none).
    pub body: Option<Value>,
}

impl Blocked {
    /// The body as sent: compact JSON, empty when the rule has none.
    pub(crate) fn body_text(&self) -> String {
        self.body
            .as_ref()
            .and_then(|body| serde_json::to_string(body).ok())
            .unwrap_or_default()
    }
}

impl Decision {
    /// Every header of the blocked answer: the merged ones, then `Content-Type` and `X-Moesif-Blocked-By`.
    pub(crate) fn blocked_headers(&self) -> Option<Vec<(String, String)>> {
        let blocked = self.blocked.as_ref()?;
        let mut headers: Vec<(String, String)> = self
            .headers
            .iter()
            .filter(|(name, _)| {
                !name.eq_ignore_ascii_case("content-type") && !name.eq_ignore_ascii_case("x-moesif-blocked-by")
            })
            .cloned()
            .collect();
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
        headers.push(("X-Moesif-Blocked-By".to_owned(), blocked.rule_id.clone()));
        Some(headers)
    }
}

impl Rules {
    /// Reads a `/v1/rules` body: a rule that cannot be read is skipped with one warning; a body that
    /// is not a JSON array is an error (the last good rules stay).
    pub(crate) fn parse(body: &Value) -> Result<Rules, &'static str> {
        let list = body.as_array().ok_or("/v1/rules is not a JSON array")?;
        let mut rules = Rules::default();
        for value in list {
            match rules::rule(value) {
                Ok(rule) => {
                    let fields = || rule.groups.iter().flatten().filter_map(|c| c.field.as_ref());
                    rules.uses_body |= fields().any(|field| matches!(field, Field::Body(_)));
                    rules.uses_ip |= fields().any(|field| *field == Field::IpAddress);
                    match rule.kind {
                        Kind::Regex => rules.regex.push(rule),
                        Kind::Company => rules.company.push(rule),
                        Kind::User => rules.user.push(rule),
                    }
                }
                Err((rule, why)) => rules::warn(&rule, why),
            }
        }
        Ok(rules)
    }

    /// Whether there is no rule at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.regex.is_empty() && self.company.is_empty() && self.user.is_empty()
    }

    /// Whether some rule looks at the request body (only then is it parsed).
    pub(crate) fn uses_body(&self) -> bool {
        self.uses_body
    }

    /// Whether some rule looks at the client IP (only then is it read).
    pub(crate) fn uses_ip(&self) -> bool {
        self.uses_ip
    }

    /// Whether some rule needs the user id (only then do the identify hooks run before the handler).
    pub(crate) fn uses_user(&self) -> bool {
        !self.user.is_empty()
    }

    /// Whether some rule needs the company id.
    pub(crate) fn uses_company(&self) -> bool {
        !self.company.is_empty()
    }

    /// What the rules decide for `request`; `None` when no rule applies (nothing allocated).
    pub(crate) fn evaluate(&self, cohorts: &Cohorts, request: &Request<'_>) -> Option<Decision> {
        let company = entity(&cohorts.companies, request.company_id);
        let user = entity(&cohorts.users, request.user_id);
        let applicable = self
            .regex
            .iter()
            .filter(|rule| conditions_match(rule, request))
            .map(|rule| (rule, None))
            .chain(applicable(&self.company, company, request))
            .chain(applicable(&self.user, user, request));
        let mut decision: Option<Decision> = None;
        let mut blocking: Option<(&Rule, Option<&Values>)> = None;
        for (rule, values) in applicable {
            let decision = decision.get_or_insert_with(|| Decision {
                headers: Vec::new(),
                blocked: None,
            });
            for (name, value) in &rule.headers {
                let value = render(value, values);
                match decision.headers.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
                    Some(header) => *header = (name.clone(), value),
                    None => decision.headers.push((name.clone(), value)),
                }
            }
            // A higher kind wins; within a kind the first.
            if rule.block && blocking.is_none_or(|(first, _)| first.kind < rule.kind) {
                blocking = Some((rule, values));
            }
        }
        let mut decision = decision?;
        decision.blocked = blocking.map(|(rule, values)| Blocked {
            rule_id: rule.id.clone(),
            status: rule.status,
            body: rule.body.as_ref().map(|body| render_json(body, values)),
        });
        Some(decision)
    }
}

/// The entity's state for rules of its kind: unidentified (`None`), or identified with its cohort
/// entries (empty when it is in no cohort).
type Entity<'a> = Option<&'a [Value]>;

fn entity<'a>(cohort: &'a Map<String, Value>, id: Option<&str>) -> Entity<'a> {
    id.map(|id| {
        cohort
            .get(id)
            .and_then(Value::as_array)
            .map(Vec::as_slice)
            .unwrap_or_default()
    })
}

/// The rules of one entity kind that apply, each with the entity's values for it.
fn applicable<'a, 'r>(
    rules: &'a [Rule],
    entity: Entity<'a>,
    request: &'a Request<'r>,
) -> impl Iterator<Item = (&'a Rule, Option<&'a Values>)> + use<'a, 'r> {
    rules.iter().filter_map(move |rule| {
        let values = match entity {
            None if rule.unidentified => None,
            None => return None,
            Some(entries) => {
                let entry = entries
                    .iter()
                    .find(|entry| entry.get("rules").and_then(Value::as_str) == Some(rule.id.as_str()));
                if entry.is_some() == rule.not_matching {
                    return None;
                }
                entry.and_then(|entry| entry.get("values")?.as_object())
            }
        };
        conditions_match(rule, request).then_some((rule, values))
    })
}

/// `lookup` (a header by name) with its last answer remembered: rules in turn often read the same
/// header, and a lookup in a Lambda event's headers is a scan.
pub(crate) fn remembering_last<'a>(lookup: impl Fn(&str) -> Option<&'a str>) -> impl Fn(&str) -> Option<&'a str> {
    let last: RefCell<(String, Option<Option<&'a str>>)> = RefCell::default();
    move |name| {
        let Ok(mut last) = last.try_borrow_mut() else {
            return lookup(name);
        };
        match last.1 {
            Some(found) if last.0 == name => found,
            _ => {
                let found = lookup(name);
                last.0.clear();
                last.0.push_str(name);
                last.1 = Some(found);
                found
            }
        }
    }
}

fn conditions_match(rule: &Rule, request: &Request<'_>) -> bool {
    rule.groups.is_empty()
        || rule
            .groups
            .iter()
            .any(|group| group.iter().all(|condition| condition_matches(condition, request)))
}

fn condition_matches(condition: &Condition, request: &Request<'_>) -> bool {
    let (Some(field), Some(pattern)) = (&condition.field, &condition.pattern) else {
        return false;
    };
    match field {
        Field::Verb => pattern.is_match(request.verb),
        Field::Route => pattern.is_match(request.route),
        Field::IpAddress => request.ip.is_some_and(|ip| pattern.is_match(ip)),
        Field::Status => false,
        Field::Header(name) => (request.header)(name).is_some_and(|value| pattern.is_match(value)),
        Field::Body(key) => request
            .body
            .and_then(|body| body.get(key))
            .is_some_and(|value| pattern.is_match(&text_of(value))),
    }
}

#[cfg(test)]
mod tests;
