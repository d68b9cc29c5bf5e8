//! User, company and subscription profiles (`/v1/users`, `/v1/companies`, `/v1/subscriptions` and
//! their `/batch` forms): the Python middleware's `update_user`, `update_users_batch`,
//! `update_company`, `update_companies_batch`, `update_subscription`, `update_subscriptions_batch`.
//!
//! Unlike event capture, these are calls a caller asked for: they return a `Result` and say what failed.
//! Each has a blocking form, an `_async` form that runs on tokio's blocking pool (never on a worker),
//! and a `_with` form taking [`Options`] (application id, base URI, timeouts); the others read
//! `MOESIF_APPLICATION_ID` / `MOESIF_BASE_URI`.

use crate::delivery::transport::{Sent, Transport};
use crate::error::Error;
use crate::options::Options;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Marketing attribution of a user or company (Moesif's `campaign` object).
///
/// ```
/// let campaign = moesif_lambda::profiles::CampaignModel { utm_source: Some("newsletter".into()), ..Default::default() };
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CampaignModel {
    /// `utm_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_source: Option<String>,
    /// `utm_medium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_campaign: Option<String>,
    /// `utm_term`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_term: Option<String>,
    /// `utm_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utm_content: Option<String>,
    /// Referrer URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    /// Referring domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referring_domain: Option<String>,
    /// Google click id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gclid: Option<String>,
}

/// A user profile.
///
/// ```
/// let user = moesif_lambda::profiles::UserModel {
///     user_id: "u-42".into(),
///     company_id: Some("acme".into()),
///     metadata: Some(serde_json::json!({ "plan": "pro" })),
///     ..Default::default()
/// };
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct UserModel {
    /// The user's id (required).
    pub user_id: String,
    /// When the profile changed (ISO 8601; Moesif uses its receive time when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_time: Option<String>,
    /// Last known IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// User agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent_string: Option<String>,
    /// The company the user belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_id: Option<String>,
    /// Attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignModel>,
    /// Any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// A company profile.
///
/// ```
/// let company = moesif_lambda::profiles::CompanyModel { company_id: "acme".into(), ..Default::default() };
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CompanyModel {
    /// The company's id (required).
    pub company_id: String,
    /// When the profile changed (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modified_time: Option<String>,
    /// Last known IP address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip_address: Option<String>,
    /// Session token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_token: Option<String>,
    /// The company's domain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub company_domain: Option<String>,
    /// Attribution.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<CampaignModel>,
    /// Any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

/// Where a subscription is in its life (Moesif's `status`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum SubscriptionStatus {
    /// `active`.
    Active,
    /// `cancelled`.
    Cancelled,
    /// `paused`.
    Paused,
    /// `trialing`.
    Trialing,
    /// `pending`.
    Pending,
    /// `draft`.
    Draft,
    /// `future`.
    Future,
}

/// A subscription of a company to a plan.
///
/// ```
/// use moesif_lambda::profiles::{SubscriptionModel, SubscriptionStatus};
///
/// let subscription = SubscriptionModel {
///     subscription_id: "sub-7".into(),
///     company_id: "acme".into(),
///     status: Some(SubscriptionStatus::Active),
///     current_period_start: Some("2026-12-01T00:00:00.000Z".into()),
///     ..Default::default()
/// };
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SubscriptionModel {
    /// The subscription's id (required).
    pub subscription_id: String,
    /// The company subscribed (required).
    pub company_id: String,
    /// When the current billing period started (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_start: Option<String>,
    /// When it ends (ISO 8601).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_period_end: Option<String>,
    /// Its status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<SubscriptionStatus>,
    /// Any JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
}

pub(crate) trait Profile: Serialize {
    const PATH: &'static str;
    /// The first required field that is empty, if any.
    fn missing_field(&self) -> Option<&'static str>;
}

/// `name` if `value` is empty (or only spaces).
fn required(name: &'static str, value: &str) -> Option<&'static str> {
    value.trim().is_empty().then_some(name)
}

impl Profile for UserModel {
    const PATH: &'static str = "/v1/users";
    fn missing_field(&self) -> Option<&'static str> {
        required("user_id", &self.user_id)
    }
}

impl Profile for CompanyModel {
    const PATH: &'static str = "/v1/companies";
    fn missing_field(&self) -> Option<&'static str> {
        required("company_id", &self.company_id)
    }
}

impl Profile for SubscriptionModel {
    const PATH: &'static str = "/v1/subscriptions";
    fn missing_field(&self) -> Option<&'static str> {
        required("subscription_id", &self.subscription_id).or_else(|| required("company_id", &self.company_id))
    }
}

/// Validates and posts one profile or a batch (`/batch`), blocking, through the connection every
/// handler naming this collector shares (its agent, kept alive).
fn post<P: Profile>(options: &Options, profiles: &[P], batch: bool) -> Result<(), Error> {
    post_via(&*Transport::try_shared(options)?, profiles, batch)
}

/// [`post`] through `transport`.
pub(crate) fn post_via<P: Profile>(transport: &Transport, profiles: &[P], batch: bool) -> Result<(), Error> {
    if let Some(field) = profiles.iter().find_map(Profile::missing_field) {
        return Err(Error::MissingField(field));
    }
    let (path, body) = if batch {
        (format!("{}/batch", P::PATH), serde_json::to_vec(profiles))
    } else {
        (
            P::PATH.to_owned(),
            profiles.first().map_or(Ok(Vec::new()), serde_json::to_vec),
        )
    };
    let body = body.map_err(Error::encode)?;
    match transport.post_json(&path, &body, None) {
        Sent::Accepted { .. } => Ok(()),
        Sent::Status { status: 401, .. } => Err(Error::Unauthorized),
        Sent::Status { status, .. } => Err(Error::Status(status)),
        Sent::Failed { error, .. } | Sent::Frozen { error } => Err(Error::network(error)),
    }
}

/// Runs a blocking profile call on tokio's blocking pool.
async fn off_worker<T: Send + 'static>(call: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(call).await.map_err(Error::network)?
}

/// The six calls of one kind of profile: one and a batch, each blocking, `_with` options and `_async`.
macro_rules! profile_calls {
    (
        $model:ident, $path:literal, $example:literal,
        $one:ident, $one_with:ident, $one_async:ident,
        $batch:ident, $batch_with:ident, $batch_async:ident $(,)?
    ) => {
        #[doc = concat!("Creates or updates one (`POST ", $path, "`), blocking, with the application id and")]
        #[doc = "collector of `MOESIF_APPLICATION_ID` / `MOESIF_BASE_URI`."]
        #[doc = ""]
        #[doc = "```no_run"]
        #[doc = concat!("use moesif_lambda::profiles::{", stringify!($one), ", ", stringify!($model), "};")]
        #[doc = ""]
        #[doc = concat!(stringify!($one), "(&", stringify!($model), " { ", $example, ", ..Default::default() })?;")]
        #[doc = "# Ok::<_, moesif_lambda::Error>(())"]
        #[doc = "```"]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = ""]
        #[doc = "[`Error::MissingField`] when a required id is empty (nothing is sent), [`Error::MissingApplicationId`],"]
        #[doc = "[`Error::InvalidBaseUri`], [`Error::Unauthorized`] (401), [`Error::Status`] (another non-success"]
        #[doc = "status), [`Error::Network`] (not reachable), [`Error::Encode`]."]
        pub fn $one(profile: &$model) -> Result<(), Error> {
            $one_with(&Options::new(), profile)
        }

        #[doc = concat!("[`", stringify!($one), "`] with explicit options (application id, collector, timeouts).")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = ""]
        #[doc = concat!("As [`", stringify!($one), "`].")]
        pub fn $one_with(options: &Options, profile: &$model) -> Result<(), Error> {
            post(options, std::slice::from_ref(profile), false)
        }

        #[doc = concat!("Creates or updates several in one call (`POST ", $path, "/batch`), blocking.")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = ""]
        #[doc = concat!("As [`", stringify!($one), "`].")]
        pub fn $batch(profiles: &[$model]) -> Result<(), Error> {
            $batch_with(&Options::new(), profiles)
        }

        #[doc = concat!("[`", stringify!($batch), "`] with explicit options.")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = ""]
        #[doc = concat!("As [`", stringify!($one), "`].")]
        pub fn $batch_with(options: &Options, profiles: &[$model]) -> Result<(), Error> {
            post(options, profiles, true)
        }

        #[doc = concat!("[`", stringify!($one_with), "`], off the async worker (on tokio's blocking pool).")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = ""]
        #[doc = concat!("As [`", stringify!($one), "`].")]
        pub async fn $one_async(options: Options, profile: $model) -> Result<(), Error> {
            off_worker(move || $one_with(&options, &profile)).await
        }

        #[doc = concat!("[`", stringify!($batch_with), "`], off the async worker.")]
        #[doc = ""]
        #[doc = "# Errors"]
        #[doc = ""]
        #[doc = concat!("As [`", stringify!($one), "`].")]
        pub async fn $batch_async(options: Options, profiles: Vec<$model>) -> Result<(), Error> {
            off_worker(move || $batch_with(&options, &profiles)).await
        }
    };
}

profile_calls!(
    UserModel,
    "/v1/users",
    r#"user_id: "u-42".into()"#,
    update_user,
    update_user_with,
    update_user_async,
    update_users_batch,
    update_users_batch_with,
    update_users_batch_async,
);
profile_calls!(
    CompanyModel,
    "/v1/companies",
    r#"company_id: "acme".into()"#,
    update_company,
    update_company_with,
    update_company_async,
    update_companies_batch,
    update_companies_batch_with,
    update_companies_batch_async,
);
profile_calls!(
    SubscriptionModel,
    "/v1/subscriptions",
    r#"subscription_id: "sub-7".into(), company_id: "acme".into()"#,
    update_subscription,
    update_subscription_with,
    update_subscription_async,
    update_subscriptions_batch,
    update_subscriptions_batch_with,
    update_subscriptions_batch_async,
);
