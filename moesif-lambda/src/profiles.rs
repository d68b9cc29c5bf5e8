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
        Sent::Failed { error, .. } => Err(Error::network(error)),
    }
}

/// Runs a blocking profile call on tokio's blocking pool.
async fn off_worker<T: Send + 'static>(call: impl FnOnce() -> Result<T, Error> + Send + 'static) -> Result<T, Error> {
    tokio::task::spawn_blocking(call).await.map_err(Error::network)?
}

/// Creates or updates a user profile (`POST /v1/users`), blocking.
///
/// ```no_run
/// let user = moesif_lambda::profiles::UserModel { user_id: "u-42".into(), ..Default::default() };
/// moesif_lambda::profiles::update_user(&user)?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_user(user: &UserModel) -> Result<(), Error> {
    update_user_with(&Options::new(), user)
}

/// [`update_user`] with explicit options.
///
/// ```no_run
/// let options = moesif_lambda::Options::new().application_id("your-app-id");
/// moesif_lambda::profiles::update_user_with(&options, &moesif_lambda::profiles::UserModel { user_id: "u-1".into(), ..Default::default() })?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_user_with(options: &Options, user: &UserModel) -> Result<(), Error> {
    post(options, std::slice::from_ref(user), false)
}

/// Creates or updates user profiles in one call (`POST /v1/users/batch`), blocking.
///
/// ```no_run
/// let users = vec![moesif_lambda::profiles::UserModel { user_id: "u-1".into(), ..Default::default() }];
/// moesif_lambda::profiles::update_users_batch(&users)?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_users_batch(users: &[UserModel]) -> Result<(), Error> {
    update_users_batch_with(&Options::new(), users)
}

/// [`update_users_batch`] with explicit options.
///
/// ```no_run
/// moesif_lambda::profiles::update_users_batch_with(&moesif_lambda::Options::new(), &[])?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_users_batch_with(options: &Options, users: &[UserModel]) -> Result<(), Error> {
    post(options, users, true)
}

/// Creates or updates a company profile (`POST /v1/companies`), blocking.
///
/// ```no_run
/// let company = moesif_lambda::profiles::CompanyModel { company_id: "acme".into(), ..Default::default() };
/// moesif_lambda::profiles::update_company(&company)?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_company(company: &CompanyModel) -> Result<(), Error> {
    update_company_with(&Options::new(), company)
}

/// [`update_company`] with explicit options.
///
/// ```no_run
/// let company = moesif_lambda::profiles::CompanyModel { company_id: "acme".into(), ..Default::default() };
/// moesif_lambda::profiles::update_company_with(&moesif_lambda::Options::new(), &company)?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_company_with(options: &Options, company: &CompanyModel) -> Result<(), Error> {
    post(options, std::slice::from_ref(company), false)
}

/// Creates or updates company profiles in one call (`POST /v1/companies/batch`), blocking.
///
/// ```no_run
/// let companies = vec![moesif_lambda::profiles::CompanyModel { company_id: "acme".into(), ..Default::default() }];
/// moesif_lambda::profiles::update_companies_batch(&companies)?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_companies_batch(companies: &[CompanyModel]) -> Result<(), Error> {
    update_companies_batch_with(&Options::new(), companies)
}

/// [`update_companies_batch`] with explicit options.
///
/// ```no_run
/// moesif_lambda::profiles::update_companies_batch_with(&moesif_lambda::Options::new(), &[])?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
pub fn update_companies_batch_with(options: &Options, companies: &[CompanyModel]) -> Result<(), Error> {
    post(options, companies, true)
}

/// [`update_user_with`], off the async worker.
///
/// ```no_run
/// # async fn f() -> Result<(), moesif_lambda::Error> {
/// let user = moesif_lambda::profiles::UserModel { user_id: "u-42".into(), ..Default::default() };
/// moesif_lambda::profiles::update_user_async(moesif_lambda::Options::new(), user).await?;
/// # Ok(()) }
/// ```
pub async fn update_user_async(options: Options, user: UserModel) -> Result<(), Error> {
    off_worker(move || update_user_with(&options, &user)).await
}

/// [`update_users_batch_with`], off the async worker.
///
/// ```no_run
/// # async fn f() -> Result<(), moesif_lambda::Error> {
/// moesif_lambda::profiles::update_users_batch_async(moesif_lambda::Options::new(), vec![]).await?;
/// # Ok(()) }
/// ```
pub async fn update_users_batch_async(options: Options, users: Vec<UserModel>) -> Result<(), Error> {
    off_worker(move || update_users_batch_with(&options, &users)).await
}

/// [`update_company_with`], off the async worker.
///
/// ```no_run
/// # async fn f() -> Result<(), moesif_lambda::Error> {
/// let company = moesif_lambda::profiles::CompanyModel { company_id: "acme".into(), ..Default::default() };
/// moesif_lambda::profiles::update_company_async(moesif_lambda::Options::new(), company).await?;
/// # Ok(()) }
/// ```
pub async fn update_company_async(options: Options, company: CompanyModel) -> Result<(), Error> {
    off_worker(move || update_company_with(&options, &company)).await
}

/// [`update_companies_batch_with`], off the async worker.
///
/// ```no_run
/// # async fn f() -> Result<(), moesif_lambda::Error> {
/// moesif_lambda::profiles::update_companies_batch_async(moesif_lambda::Options::new(), vec![]).await?;
/// # Ok(()) }
/// ```
pub async fn update_companies_batch_async(options: Options, companies: Vec<CompanyModel>) -> Result<(), Error> {
    off_worker(move || update_companies_batch_with(&options, &companies)).await
}

/// Creates or updates a subscription (`POST /v1/subscriptions`), blocking.
///
/// ```no_run
/// use moesif_lambda::profiles::{update_subscription, SubscriptionModel};
///
/// update_subscription(&SubscriptionModel { subscription_id: "sub-7".into(), company_id: "acme".into(), ..Default::default() })?;
/// # Ok::<_, moesif_lambda::Error>(())
/// ```
///
/// # Errors
///
/// [`Error::MissingField`] without a `subscription_id` or `company_id`; otherwise as
/// [`update_user`].
pub fn update_subscription(subscription: &SubscriptionModel) -> Result<(), Error> {
    update_subscription_with(&Options::new(), subscription)
}

/// [`update_subscription`] with explicit options.
///
/// # Errors
///
/// As [`update_subscription`].
pub fn update_subscription_with(options: &Options, subscription: &SubscriptionModel) -> Result<(), Error> {
    post(options, std::slice::from_ref(subscription), false)
}

/// Creates or updates subscriptions in one call (`POST /v1/subscriptions/batch`), blocking.
///
/// # Errors
///
/// As [`update_subscription`].
pub fn update_subscriptions_batch(subscriptions: &[SubscriptionModel]) -> Result<(), Error> {
    update_subscriptions_batch_with(&Options::new(), subscriptions)
}

/// [`update_subscriptions_batch`] with explicit options.
///
/// # Errors
///
/// As [`update_subscription`].
pub fn update_subscriptions_batch_with(options: &Options, subscriptions: &[SubscriptionModel]) -> Result<(), Error> {
    post(options, subscriptions, true)
}

/// [`update_subscription_with`], off the async worker.
///
/// # Errors
///
/// As [`update_subscription`].
pub async fn update_subscription_async(options: Options, subscription: SubscriptionModel) -> Result<(), Error> {
    off_worker(move || update_subscription_with(&options, &subscription)).await
}

/// [`update_subscriptions_batch_with`], off the async worker.
///
/// # Errors
///
/// As [`update_subscription`].
pub async fn update_subscriptions_batch_async(
    options: Options,
    subscriptions: Vec<SubscriptionModel>,
) -> Result<(), Error> {
    off_worker(move || update_subscriptions_batch_with(&options, &subscriptions)).await
}
