//! Reading `GET /v1/rules` (a JSON array of rules) and the config's `user_rules` / `company_rules` (the
//! cohorts) into their compiled form, once per version. Lenient as the SDKs are: unknown fields are
//! ignored; a rule that cannot be read is skipped, a pattern that does not compile never matches, a
//! header that could not be sent is left out, each with one warning.

use super::field::{Field, Pattern};
use super::template::has_unclosed;
use serde_json::{Map, Value};

/// Says what is wrong with a rule (or the rules): one warning each, as they are read (once per version).
pub(crate) fn warn(rule: &str, problem: &str) {
    tracing::warn!(rule, "moesif: governance rule: {problem}");
}

/// Which entity a rule is about; also its precedence (a later kind wins).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Kind {
    Regex,
    Company,
    User,
}

/// One condition of a `regex_config` group; `None` field or pattern: it never matches.
#[derive(Debug)]
pub(crate) struct Condition {
    pub field: Option<Field>,
    pub pattern: Option<Pattern>,
}

/// One rule, compiled.
#[derive(Debug)]
pub(crate) struct Rule {
    pub id: String,
    pub kind: Kind,
    pub block: bool,
    /// `applied_to: not_matching`: it applies to the entities *not* in its cohort.
    pub not_matching: bool,
    pub unidentified: bool,
    /// Groups OR'd, conditions of a group AND'd; none: every request.
    pub groups: Vec<Vec<Condition>>,
    /// The response status (100–599; 502 for one outside), when the rule blocks.
    pub status: u16,
    /// Header names as the rule spells them, values as templates.
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
}

/// Reads one rule; `Err` says why it cannot be read (and which rule, when it has an id).
pub(crate) fn rule(value: &Value) -> Result<Rule, (String, &'static str)> {
    let unknown = |why| (String::new(), why);
    let object = value.as_object().ok_or_else(|| unknown("not an object; skipped"))?;
    let id = object
        .get("_id")
        .and_then(Value::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| unknown("no `_id`; skipped"))?
        .to_owned();
    let unreadable = |why: &'static str| (id.clone(), why);
    let kind = match object.get("type").and_then(Value::as_str) {
        Some("regex") => Kind::Regex,
        Some("company") => Kind::Company,
        Some("user") => Kind::User,
        _ => return Err(unreadable("`type` is not regex, user or company; skipped")),
    };
    let flag = |name: &str| match object.get(name) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(on)) => Ok(*on),
        Some(_) => Err(unreadable(
            "`block` or `applied_to_unidentified` is not a boolean; skipped",
        )),
    };
    let block = flag("block")?;
    let unidentified = flag("applied_to_unidentified")?;
    let not_matching = match object.get("applied_to") {
        None | Some(Value::Null) => false,
        Some(Value::String(to)) if to == "matching" => false,
        Some(Value::String(to)) if to == "not_matching" => true,
        Some(_) => return Err(unreadable("`applied_to` is not matching or not_matching; skipped")),
    };
    let groups = match object.get("regex_config") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(groups)) => groups
            .iter()
            .map(|group| conditions(group, &id))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| unreadable("a `regex_config` group is not {\"conditions\": [{path, value}]}; skipped"))?,
        Some(_) => return Err(unreadable("`regex_config` is not a list; skipped")),
    };
    let empty = Map::new();
    let response = match object.get("response") {
        None | Some(Value::Null) => &empty,
        Some(Value::Object(response)) => response,
        Some(_) => return Err(unreadable("`response` is not an object; skipped")),
    };
    let status = match response.get("status").and_then(Value::as_i64) {
        Some(status) if (100..=599).contains(&status) => status as u16,
        Some(_) => {
            warn(&id, "its status is not 100–599; 502 is sent");
            502
        }
        None if block => return Err(unreadable("it blocks but has no numeric `response.status`; skipped")),
        None => 502,
    };
    let body = response.get("body").filter(|body| !body.is_null()).cloned();
    if body.as_ref().is_some_and(any_unclosed) {
        warn(&id, "a string of its body has a `{{` without `}}`; sent as it is");
    }
    Ok(Rule {
        headers: headers(response.get("headers"), &id),
        body,
        id,
        kind,
        block,
        not_matching,
        unidentified,
        groups,
        status,
    })
}

/// Whether a string anywhere in `body` has a `{{` without `}}`.
fn any_unclosed(body: &Value) -> bool {
    match body {
        Value::String(text) => has_unclosed(text),
        Value::Array(items) => items.iter().any(any_unclosed),
        Value::Object(fields) => fields.values().any(any_unclosed),
        _ => false,
    }
}

/// A `regex_config` group's conditions; `None` when it is malformed.
fn conditions(group: &Value, id: &str) -> Option<Vec<Condition>> {
    let conditions = group.get("conditions")?.as_array()?;
    conditions
        .iter()
        .map(|condition| {
            let path = condition.get("path")?.as_str()?;
            let value = condition.get("value")?;
            let field = Field::of(path);
            let pattern = Pattern::compile(value);
            if pattern.is_none() {
                warn(id, "a pattern does not compile; that condition never matches");
            }
            Some(Condition { field, pattern })
        })
        .collect()
}

/// The headers a rule adds: names that can be sent, with string values (any other is left out).
fn headers(headers: Option<&Value>, id: &str) -> Vec<(String, String)> {
    let Some(Value::Object(headers)) = headers else {
        return Vec::new();
    };
    let mut kept = Vec::with_capacity(headers.len());
    for (name, value) in headers {
        match value {
            Value::String(value) if is_header_name(name) => {
                if has_unclosed(value) {
                    warn(id, "a header has a `{{` without `}}`; sent as it is");
                }
                kept.push((name.clone(), value.clone()));
            }
            _ => {
                tracing::warn!(rule = %id, header = %name, "moesif: a governance rule's header is not a valid name with a string value; left out")
            }
        }
    }
    kept
}

/// An HTTP header name (RFC 9110 token).
pub(crate) fn is_header_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn an_unclosed_template_is_found_at_any_depth_and_the_rule_kept() {
        assert!(any_unclosed(&json!({"error": {"detail": ["ok", "{{open"]}})));
        assert!(!any_unclosed(&json!({"error": "{{name|x}} and }} {", "n": 5})));
        let parsed = rule(&json!({"_id": "r", "type": "regex", "block": true,
            "response": {"status": 429, "body": {"error": "{{open"}}}));
        assert_eq!(
            parsed.ok().and_then(|rule| rule.body),
            Some(json!({"error": "{{open"})),
            "sent as it is"
        );
    }
}
