//! Outgoing API calls (the calls the function makes): options. Capture is to come.

/// Options for capturing the HTTP calls the function makes (see [`crate::Options::outgoing`]).
///
/// ```
/// const OUT: moesif_lambda::OutgoingOptions = moesif_lambda::OutgoingOptions::new();
/// ```
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct OutgoingOptions {}

impl Default for OutgoingOptions {
    fn default() -> Self {
        Self::new()
    }
}

impl OutgoingOptions {
    /// The defaults.
    ///
    /// ```
    /// let _ = moesif_lambda::OutgoingOptions::new();
    /// ```
    pub const fn new() -> Self {
        Self {}
    }
}
