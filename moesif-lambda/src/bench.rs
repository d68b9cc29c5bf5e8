//! What the repository's benchmarks measure inside the crate, behind the `bench-internals` feature:
//! not an API (no stability promised, hidden from the docs). Only for parts that have no public
//! entry of their own to time in isolation; everything else is benchmarked through the public API.

use crate::integrations::govern::{GovernEvent as _, GovernWith, JsonEvent};
use crate::options::Options;
use lambda_runtime::Context;
use std::sync::Arc;

/// What governance costs a request on the caller's path: a `/v1/rules` body compiled
/// once, then each event read and evaluated as the attribute does (without the cohorts' config).
pub struct GovernanceBench {
    governed: Option<crate::delivery::Governed>,
    options: Options,
}

impl GovernanceBench {
    /// The rules of a `/v1/rules` body (`None`: it is not an array).
    pub fn new(rules: &serde_json::Value) -> Option<Self> {
        let rules = crate::governance::Rules::parse(rules).ok()?;
        Some(GovernanceBench {
            governed: crate::delivery::Governed::of(Arc::new(rules)),
            options: Options::new(),
        })
    }

    /// Whether some rule applies to `event`.
    pub fn applies(&self, event: &serde_json::Value) -> bool {
        let Some(governed) = &self.governed else { return false };
        let context = Context::default();
        let with = GovernWith {
            governed,
            options: &self.options,
            context: &context,
        };
        JsonEvent(event).decide(with).is_some()
    }
}

/// The length of `event`'s JSON, serialised as the pipeline serialises every event it sends.
pub fn serialised_len(event: &crate::model::EventModel) -> usize {
    crate::delivery::serialised(event).map_or(0, |bytes| bytes.len())
}
