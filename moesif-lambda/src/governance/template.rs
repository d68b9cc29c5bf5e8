//! Templates in a rule's header values and body strings: each `{{name}}` or `{{name|default}}` is
//! replaced by the entity's value for the rule, else the default, else `UNKNOWN`. Values are inserted as
//! text. A `{{` without its `}}` is left as it is.

use serde_json::{Map, Value};

/// A rule's template values for one entity (`{"<name>": "<value>"}` of its cohort entry; a value that
/// is not a string is inserted as its JSON text).
pub(crate) type Values = Map<String, Value>;

/// What a name with neither a value nor a default becomes.
const UNKNOWN: &str = "UNKNOWN";

/// `text` with every complete `{{…}}` replaced.
pub(crate) fn render(text: &str, values: Option<&Values>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find("{{") {
        let Some(close) = rest[open + 2..].find("}}") else {
            break;
        };
        out.push_str(&rest[..open]);
        let inner = &rest[open + 2..open + 2 + close];
        let (name, default) = match inner.split_once('|') {
            Some((name, default)) => (name.trim(), Some(default)),
            None => (inner.trim(), None),
        };
        match values.and_then(|values| values.get(name)) {
            Some(value) => out.push_str(&super::field::text_of(value)),
            None => out.push_str(default.unwrap_or(UNKNOWN)),
        }
        rest = &rest[open + 2 + close + 2..];
    }
    out.push_str(rest);
    out
}

/// `body` with [`render`] applied to every string in it, at any depth (object keys stay as they are).
pub(crate) fn render_json(body: &Value, values: Option<&Values>) -> Value {
    match body {
        Value::String(text) => Value::String(render(text, values)),
        Value::Array(items) => Value::Array(items.iter().map(|item| render_json(item, values)).collect()),
        Value::Object(object) => Value::Object(
            object
                .iter()
                .map(|(key, value)| (key.clone(), render_json(value, values)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Whether `text` has a `{{` with no `}}` after it (said once when the rules are read).
pub(crate) fn has_unclosed(text: &str) -> bool {
    let mut open = false;
    for pair in text.as_bytes().windows(2) {
        match pair {
            b"{{" => open = true,
            b"}}" => open = false,
            _ => {}
        }
    }
    open
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn values() -> Values {
        match json!({"plan": "gold", "n": "{{plan}}", "limit": 100}) {
            Value::Object(values) => values,
            _ => Values::new(),
        }
    }

    #[test]
    fn every_placeholder_is_replaced_with_value_default_or_unknown() {
        let values = values();
        assert_eq!(render("{{plan}} and {{ plan }}", Some(&values)), "gold and gold");
        assert_eq!(render("{{tier|free}}/{{tier}}", Some(&values)), "free/UNKNOWN");
        assert_eq!(render("{{plan|free}}", None), "free");
        assert_eq!(render("{{plan|}}!", None), "!");
        assert_eq!(
            render("{{n}}", Some(&values)),
            "{{plan}}",
            "values are inserted as text, once"
        );
        assert_eq!(render("a {{plan", Some(&values)), "a {{plan", "unclosed: left as it is");
        assert_eq!(render("{{plan}} {{", Some(&values)), "gold {{");
        assert_eq!(render("}} {{}}", None), "}} UNKNOWN");
        assert_eq!(render("née {{plan}} ✓", Some(&values)), "née gold ✓");
    }

    #[test]
    fn every_string_of_a_body_at_any_depth() {
        let body = json!({"error": "{{plan}}", "n": 3, "list": [{"deep": "x{{q|d}}"}, true], "{{k}}": null});
        assert_eq!(
            render_json(&body, Some(&values())),
            json!({"error": "gold", "n": 3, "list": [{"deep": "xd"}, true], "{{k}}": null})
        );
    }

    #[test]
    fn unclosed_is_seen() {
        assert!(has_unclosed("a {{b"));
        assert!(has_unclosed("{{a}} {{b"));
        assert!(!has_unclosed("{{a}}"));
        assert!(!has_unclosed("plain"));
    }

    #[test]
    fn a_huge_template_is_linear_not_a_panic() {
        let text = "{{a}}".repeat(50_000) + "{{";
        assert_eq!(render(&text, None).len(), "UNKNOWN".len() * 50_000 + 2);
    }
}
