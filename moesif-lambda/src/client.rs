//! [`Client`]: one connection to the Moesif collector, owned by the code that makes it.

use crate::actions::{self, ActionModel};
use crate::delivery::{self, FlushReport, Transport};
use crate::error::Error;
use crate::options::Options;
use crate::profiles::{self, CompanyModel, SubscriptionModel, UserModel};
use std::sync::Arc;
use std::time::Duration;

/// A connection to the Moesif collector for one application: its HTTP agent (keep-alive, one TLS
/// set-up), its event queue, its circuit breaker and the application's server config, with the
/// delivery settings of the options it was made with (resolved once). Cheap to clone: clones share the
/// connection.
///
/// Without one, each handler, layer and middleware uses the connection shared by everything that
/// names the same collector and application (the first options' settings; one warning if others
/// differ). Give a [`crate::MoesifLayer`], a [`crate::MoesifMiddleware`] or profile calls a client of
/// their own to keep their queue and settings apart, or to flush it on your terms. Events queued on a
/// client are sent by the runtime loop ([`crate::run`]) and [`crate::flush`] like any other.
///
/// ```
/// use moesif_lambda::{Client, MoesifLayer, Options};
///
/// let options = Options::new().application_id("my-app-id");
/// let client = Client::new(&options).expect("an application id and a valid collector URL");
/// let layer = MoesifLayer::with_client(options, client.clone());
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
    /// What the client was made with (the redaction of the actions it tracks).
    options: Arc<Options>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the application id.
        f.debug_struct("Client")
            .field("base_uri", &self.transport.base_uri())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A new connection, with the application id and collector of `options` (or of
    /// `MOESIF_APPLICATION_ID` / `MOESIF_BASE_URI`) and its delivery settings. Nothing is sent, and no
    /// thread started, until there is something to send.
    ///
    /// # Errors
    ///
    /// [`Error::MissingApplicationId`] without an application id, [`Error::InvalidBaseUri`] when the
    /// collector URL is not an http(s) URL.
    pub fn new(options: &Options) -> Result<Client, Error> {
        Ok(Client {
            transport: Transport::isolated(options)?,
            options: Arc::new(options.clone()),
        })
    }

    /// Sends what this client has queued, within `budget` (one attempt even while the collector is
    /// failing); what could not be sent stays queued.
    pub async fn flush(&self, budget: Duration) -> FlushReport {
        delivery::flush_transport(self.transport.clone(), budget).await
    }

    /// How many events wait in this client's queue.
    pub fn queued(&self) -> usize {
        self.transport.queue.len()
    }

    /// Creates or updates a user profile through this client's connection (blocking: from async code,
    /// call it in `tokio::task::spawn_blocking`, or use [`crate::profiles::update_user_async`]).
    ///
    /// # Errors
    ///
    /// As [`crate::profiles::update_user`].
    pub fn update_user(&self, user: &UserModel) -> Result<(), Error> {
        profiles::post_via(&self.transport, std::slice::from_ref(user), false)
    }

    /// Creates or updates user profiles in one request, through this client's connection (blocking).
    ///
    /// # Errors
    ///
    /// As [`crate::profiles::update_users_batch`].
    pub fn update_users_batch(&self, users: &[UserModel]) -> Result<(), Error> {
        profiles::post_via(&self.transport, users, true)
    }

    /// Creates or updates a company profile through this client's connection (blocking).
    ///
    /// # Errors
    ///
    /// As [`crate::profiles::update_company`].
    pub fn update_company(&self, company: &CompanyModel) -> Result<(), Error> {
        profiles::post_via(&self.transport, std::slice::from_ref(company), false)
    }

    /// Creates or updates company profiles in one request, through this client's connection (blocking).
    ///
    /// # Errors
    ///
    /// As [`crate::profiles::update_companies_batch`].
    pub fn update_companies_batch(&self, companies: &[CompanyModel]) -> Result<(), Error> {
        profiles::post_via(&self.transport, companies, true)
    }

    /// Creates or updates a subscription through this client's connection (blocking).
    ///
    /// # Errors
    ///
    /// As [`crate::profiles::update_subscription`].
    pub fn update_subscription(&self, subscription: &SubscriptionModel) -> Result<(), Error> {
        profiles::post_via(&self.transport, std::slice::from_ref(subscription), false)
    }

    /// Creates or updates subscriptions in one request, through this client's connection (blocking).
    ///
    /// # Errors
    ///
    /// As [`crate::profiles::update_subscriptions_batch`].
    pub fn update_subscriptions_batch(&self, subscriptions: &[SubscriptionModel]) -> Result<(), Error> {
        profiles::post_via(&self.transport, subscriptions, true)
    }

    /// Queues an action on this client's queue, redacted as the client's options say (see
    /// [`crate::actions`]): it never blocks, and goes with the events.
    pub fn track_action(&self, action: &ActionModel) {
        actions::queue(&self.transport, &self.options, std::slice::from_ref(action));
    }

    /// Queues several actions on this client's queue.
    pub fn track_actions_batch(&self, actions: &[ActionModel]) {
        actions::queue(&self.transport, &self.options, actions);
    }

    pub(crate) fn transport(&self) -> &Arc<Transport> {
        &self.transport
    }
}
