//! The Moesif event JSON (`POST /v1/events`), as serde structs and nothing else.
//!
//! The middleware builds these; users read and change them (in the `mask_event_model` hook, or what
//! [`crate::preview_event`] returns). They are `#[non_exhaustive]`, so that Moesif fields can be added
//! without breaking anyone: outside this crate a value starts from `Default::default()` (or
//! `preview_event`), and a pattern names the fields it needs and ends with `..`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The collector refuses events over 1 MB.
pub(crate) const MAX_EVENT_BYTES: usize = 1_000_000;

/// The request half of a Moesif event.
///
/// ```
/// let mut request = moesif_lambda::EventRequest::default();
/// request.verb = "GET".into();
/// assert_eq!(request.verb, "GET");
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventRequest {
    /// When the request arrived: UTC, milliseconds, `YYYY-MM-DDTHH:MM:SS.mmm`.
    pub time: String,
    /// Full URI: scheme, host, path and query.
    pub uri: String,
    /// HTTP method.
    pub verb: String,
    /// Request headers as the event carried them (`null` when it had none).
    #[serde(default)]
    pub headers: Value,
    /// API version (default: the function version).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Client IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Body: JSON as JSON, anything else base64 (see `transfer_encoding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// How the body is carried: JSON as it is, or base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_encoding: Option<TransferEncoding>,
}

/// The response half of a Moesif event.
///
/// ```
/// let mut response = moesif_lambda::EventResponse::default();
/// response.status = 201;
/// assert_eq!(response.status, 201);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventResponse {
    /// When the response was ready: UTC, milliseconds.
    pub time: String,
    /// HTTP status code.
    pub status: u16,
    /// Response headers.
    #[serde(default)]
    pub headers: Value,
    /// Body: JSON as JSON, anything else base64 (see `transfer_encoding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// How the body is carried: JSON as it is, or base64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transfer_encoding: Option<TransferEncoding>,
}

/// How a body is carried in the event (`"json"` or `"base64"` on the wire).
///
/// ```
/// use moesif_lambda::TransferEncoding;
/// assert_eq!(serde_json::to_value(TransferEncoding::Base64).unwrap(), "base64");
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TransferEncoding {
    /// The body is JSON, as it is.
    Json,
    /// The body is the base64 of its bytes.
    Base64,
}

/// Direction of an API call: served by the function, or made by it.
///
/// ```
/// assert_eq!(serde_json::to_value(moesif_lambda::Direction::Incoming).unwrap(), "Incoming");
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Direction {
    /// A call the function served.
    #[default]
    Incoming,
    /// A call the function made.
    Outgoing,
}

/// One API call, as Moesif's `/v1/events` takes it. [`crate::Options::mask_event_model`] receives and
/// returns this.
///
/// ```
/// let event = moesif_lambda::EventModel::default();
/// let json = serde_json::to_value(&event).unwrap();
/// assert_eq!(json["direction"], "Incoming");
///
/// // In a `mask_event_model` hook: change what must not be sent, keep the rest.
/// fn mask(mut event: moesif_lambda::EventModel) -> moesif_lambda::EventModel {
///     let moesif_lambda::EventModel { request, .. } = &mut event;
///     request.ip_address = None;
///     event
/// }
/// assert_eq!(mask(event.clone()), event);
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct EventModel {
    /// The request.
    pub request: EventRequest,
    /// The response.
    pub response: EventResponse,
    /// Session token (default: the API Gateway API key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// User id (default: the Cognito identity id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Company id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    /// Free-form metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Incoming or outgoing.
    pub direction: Direction,
    /// How many calls this event stands for after sampling (`floor(100 / sample rate)`).
    pub weight: u32,
    /// Unique id of this event (a UUID v4).
    pub transaction_id: String,
    /// The `_id` of the governance rule that blocked the request (the handler was not called; the
    /// answer is the rule's). Absent when no rule blocked it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blocked_by: Option<String>,
}
