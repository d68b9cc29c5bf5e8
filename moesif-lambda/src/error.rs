//! Errors of the calls a user makes on purpose (profile updates, flushes). Event capture never returns
//! errors: its failures are logged once and dropped.

/// What went wrong in a call to the collector.
///
/// ```
/// let error = moesif_lambda::Error::MissingApplicationId;
/// assert!(error.to_string().contains("MOESIF_APPLICATION_ID"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// No application id: set `MOESIF_APPLICATION_ID` or `Options::application_id`.
    MissingApplicationId,
    /// The collector base URI is not an http(s) URL.
    InvalidBaseUri(String),
    /// A required field is missing (e.g. a user profile without `user_id`).
    MissingField(&'static str),
    /// The collector rejected the application id (HTTP 401).
    Unauthorized,
    /// The collector answered with another non-success status.
    Status(u16),
    /// The collector could not be reached (refused, timed out, reset).
    Network(String),
    /// The data could not be serialised.
    Encode(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::MissingApplicationId => {
                write!(
                    f,
                    "no Moesif application id: set MOESIF_APPLICATION_ID or Options::application_id"
                )
            }
            Error::InvalidBaseUri(uri) => write!(f, "the Moesif base URI `{uri}` is not an http(s) URL"),
            Error::MissingField(field) => write!(f, "`{field}` is required"),
            Error::Unauthorized => write!(f, "the collector rejected the application id (401)"),
            Error::Status(status) => write!(f, "the collector answered HTTP {status}"),
            Error::Network(error) => write!(f, "could not reach the collector: {error}"),
            Error::Encode(error) => write!(f, "could not serialise the request: {error}"),
        }
    }
}

impl std::error::Error for Error {}
