//! Errors of the calls a user makes on purpose (profile updates, flushes). Event capture never returns
//! errors: its failures are logged once and dropped.

use std::sync::Arc;

/// What went wrong in a call to the collector.
///
/// When something else failed underneath ([`Error::Network`], [`Error::Encode`]), that error is kept
/// and [`std::error::Error::source`] returns it; the message of `Error` itself does not repeat it (an
/// error reporter prints the chain).
///
/// ```
/// let error = moesif_lambda::Error::MissingApplicationId;
/// assert!(error.to_string().contains("MOESIF_APPLICATION_ID"));
/// ```
///
/// Two errors are equal when they are the same variant with equal data; the causes of two
/// `Network` (or `Encode`) errors are compared by their messages.
#[derive(Debug, Clone)]
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
    /// The collector could not be reached (refused, timed out, reset): the error that said so (a
    /// `ureq::Error`, most often), also the [`source`](std::error::Error::source).
    Network(Arc<dyn std::error::Error + Send + Sync + 'static>),
    /// The data could not be serialised: the serializer's error, also the
    /// [`source`](std::error::Error::source).
    Encode(Arc<dyn std::error::Error + Send + Sync + 'static>),
}

impl Error {
    /// An [`Error::Network`] caused by `cause`.
    pub(crate) fn network(cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Network(Arc::new(cause))
    }

    /// An [`Error::Encode`] caused by `cause`.
    pub(crate) fn encode(cause: impl std::error::Error + Send + Sync + 'static) -> Error {
        Error::Encode(Arc::new(cause))
    }
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
            Error::Network(_) => write!(f, "could not reach the collector"),
            Error::Encode(_) => write!(f, "could not serialise the request"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Network(cause) | Error::Encode(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

impl PartialEq for Error {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Error::MissingApplicationId, Error::MissingApplicationId) | (Error::Unauthorized, Error::Unauthorized) => {
                true
            }
            (Error::InvalidBaseUri(a), Error::InvalidBaseUri(b)) => a == b,
            (Error::MissingField(a), Error::MissingField(b)) => a == b,
            (Error::Status(a), Error::Status(b)) => a == b,
            (Error::Network(a), Error::Network(b)) | (Error::Encode(a), Error::Encode(b)) => {
                Arc::ptr_eq(a, b) || a.to_string() == b.to_string()
            }
            _ => false,
        }
    }
}

impl Eq for Error {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    #[test]
    fn the_cause_is_the_source() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let error = Error::network(io);
        assert_eq!(error.to_string(), "could not reach the collector");
        let source = error.source();
        assert_eq!(source.map(ToString::to_string).as_deref(), Some("refused"));
        assert!(source.is_some_and(|s| s.downcast_ref::<std::io::Error>().is_some()));
        assert!(Error::Unauthorized.source().is_none());
    }

    #[test]
    fn equality() {
        let refused = || Error::network(std::io::Error::other("refused"));
        assert_eq!(refused(), refused());
        assert_ne!(refused(), Error::network(std::io::Error::other("reset")));
        assert_ne!(refused(), Error::encode(std::io::Error::other("refused")));
        assert_eq!(Error::Status(500), Error::Status(500));
        assert_ne!(Error::Status(500), Error::Unauthorized);
    }
}
