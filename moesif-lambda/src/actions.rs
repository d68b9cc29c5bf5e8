//! Actions (`/v1/actions/batch`): what a user did that is not an API call (signed in, started a
//! trial, clicked "upgrade"), for Moesif's funnels and monetization.
//!
//! Unlike profile updates, tracking an action never blocks and never fails: it is checked, redacted
//! as events are, and queued; it goes with the events' delivery (after the response under
//! [`crate::run`], before the invocation ends under plain `lambda_runtime::run`), counted toward a due
//! batch. An action without `action_name` or `request.uri` is dropped, with one warning.
//!
//! ```no_run
//! use moesif_lambda::actions::{track_action, ActionModel, ActionRequest};
//!
//! track_action(&ActionModel {
//!     action_name: "Clicked Upgrade".into(),
//!     user_id: Some("u-42".into()),
//!     request: ActionRequest { uri: "https://app.example.com/pricing".into(), ..Default::default() },
//!     ..Default::default()
//! });
//! ```

use crate::capture::redact;
use crate::delivery::{self, Transport};
use crate::hooks::warn_once;
use crate::options::Options;
use crate::time::{format_millis, now_millis};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::sync::Arc;

/// One action.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionModel {
    /// What was done, such as `"Signed Up"` (required).
    pub action_name: String,
    /// Where it was done (its `uri` is required).
    pub request: ActionRequest,
    /// An id of your own, by which Moesif drops a copy it already has.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transaction_id: Option<String>,
    /// The user who did it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Their company.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    /// The subscription it concerns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_id: Option<String>,
    /// The session.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// Any JSON (redacted as a request body is).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Where an action was done.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ActionRequest {
    /// When (ISO 8601; now when absent).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// The page or endpoint (required; redacted as an event's URI is).
    pub uri: String,
    /// The client's user agent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_agent_string: Option<String>,
    /// The client's IP address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Request headers, as a JSON object (redacted as an event's are).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub headers: Option<Value>,
}

/// Queues an action for the application of `MOESIF_APPLICATION_ID` (see the [module docs](self)).
pub fn track_action(action: &ActionModel) {
    track_action_with(&Options::new(), action);
}

/// [`track_action`] with explicit options (application id, collector, redaction), through the
/// connection every handler naming that collector shares.
///
/// ```no_run
/// use moesif_lambda::actions::{track_action_with, ActionModel, ActionRequest};
///
/// let options = moesif_lambda::Options::new().application_id("your-app-id");
/// let action = ActionModel {
///     action_name: "Signed Up".into(),
///     request: ActionRequest { uri: "https://app.example.com/signup".into(), ..Default::default() },
///     ..Default::default()
/// };
/// track_action_with(&options, &action);
/// ```
pub fn track_action_with(options: &Options, action: &ActionModel) {
    track_actions_batch_with(options, std::slice::from_ref(action));
}

/// Queues several actions (sent with the events, in batches).
pub fn track_actions_batch(actions: &[ActionModel]) {
    track_actions_batch_with(&Options::new(), actions);
}

/// [`track_actions_batch`] with explicit options.
pub fn track_actions_batch_with(options: &Options, actions: &[ActionModel]) {
    if let Some(transport) = Transport::shared(options) {
        queue(&transport, options, actions);
    }
}

/// Checks, completes, redacts and queues `actions` on `transport`.
pub(crate) fn queue(transport: &Arc<Transport>, options: &Options, actions: &[ActionModel]) {
    for action in actions {
        if let Some(json) = prepared(action, options) {
            delivery::submit_action(transport, json, options);
        }
    }
}

/// The JSON sent for `action`: its time filled in, its credentials redacted; `None` (one warning)
/// without its required fields.
fn prepared(action: &ActionModel, options: &Options) -> Option<Vec<u8>> {
    if action.action_name.trim().is_empty() || action.request.uri.trim().is_empty() {
        warn_once("action-missing-field", || {
            tracing::warn!(
                "moesif: an action without action_name or request.uri is dropped (further ones at debug level)"
            )
        });
        tracing::debug!("moesif: action dropped: no action_name or request.uri");
        return None;
    }
    let mut action = action.clone();
    if action.request.time.is_none() {
        action.request.time = Some(format_millis(now_millis()));
    }
    let request = &mut action.request;
    redact::apply_to_action(
        &mut request.uri,
        request.headers.as_mut(),
        action.metadata.as_mut(),
        options,
    );
    serde_json::to_vec(&action).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn action(name: &str, uri: &str) -> ActionModel {
        ActionModel {
            action_name: name.into(),
            request: ActionRequest {
                uri: uri.into(),
                ..ActionRequest::default()
            },
            ..ActionModel::default()
        }
    }

    #[test]
    fn an_action_gets_its_time_and_loses_its_credentials() {
        let mut signed_up = action("Signed Up", "https://app.example/signup?token=abc123&plan=pro");
        signed_up.request.headers = Some(json!({"Authorization": "Bearer eyJhbGciOi.eyJzdWIi.sig", "Accept": "*/*"}));
        signed_up.metadata = Some(json!({"password": "hunter2", "plan": "pro"}));
        let sent: Value = prepared(&signed_up, &Options::new())
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default();
        assert_eq!(sent["action_name"], "Signed Up");
        assert!(
            sent["request"]["time"].as_str().is_some_and(|t| t.len() == 23),
            "{sent}"
        );
        let text = sent.to_string();
        for secret in ["abc123", "hunter2", "eyJhbGciOi"] {
            assert!(!text.contains(secret), "{secret} in {text}");
        }
        assert_eq!(sent["metadata"]["plan"], "pro");
        assert_eq!(sent["request"]["headers"]["Accept"], "*/*");
    }

    #[test]
    fn an_action_without_its_required_fields_is_dropped() {
        assert!(prepared(&action("", "https://app.example/"), &Options::new()).is_none());
        assert!(prepared(&action("Signed Up", " "), &Options::new()).is_none());
        let timed = ActionModel {
            request: ActionRequest {
                time: Some("2026-12-01T10:00:00.000".into()),
                ..action("Viewed", "/docs").request
            },
            ..action("Viewed", "/docs")
        };
        let sent: Value = prepared(&timed, &Options::new())
            .and_then(|json| serde_json::from_slice(&json).ok())
            .unwrap_or_default();
        assert_eq!(
            sent["request"]["time"], "2026-12-01T10:00:00.000",
            "a given time is kept"
        );
    }
}
