//! User, company and subscription updates against the loopback collector: paths, bodies, and every
//! error.

use moesif_lambda::profiles::{
    update_companies_batch_async, update_companies_batch_with, update_company_async, update_company_with,
    update_subscription_async, update_subscription_with, update_subscriptions_batch_async,
    update_subscriptions_batch_with, update_user_async, update_user_with, update_users_batch_async,
    update_users_batch_with, CampaignModel, CompanyModel, SubscriptionModel, SubscriptionStatus, UserModel,
};
use moesif_lambda::{Client, Error, Options};
use moesif_lambda_testkit::{Behaviour, Collector};
use serde_json::json;

fn options(collector_url: String) -> Options {
    Options::new()
        .application_id("profiles-app")
        .base_uri(Box::leak(collector_url.into_boxed_str()))
}

fn user(id: &str) -> UserModel {
    UserModel {
        user_id: id.into(),
        company_id: Some("acme".into()),
        campaign: Some(CampaignModel {
            utm_source: Some("newsletter".into()),
            ..Default::default()
        }),
        metadata: Some(json!({"plan": "pro"})),
        ..Default::default()
    }
}

fn company(id: &str) -> CompanyModel {
    CompanyModel {
        company_id: id.into(),
        company_domain: Some("acme.example".into()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_call_posts_its_body_to_its_path() {
    let collector = Collector::start().await;
    let o = options(collector.base_url());
    let (u, c) = (user("u-1"), company("c-1"));
    tokio::task::spawn_blocking(move || {
        assert_eq!(update_user_with(&o, &u), Ok(()));
        assert_eq!(update_users_batch_with(&o, &[u.clone(), user("u-2")]), Ok(()));
        assert_eq!(update_company_with(&o, &c), Ok(()));
        assert_eq!(update_companies_batch_with(&o, &[c]), Ok(()));
    })
    .await
    .expect("blocking calls ran");
    let o = options(collector.base_url());
    assert_eq!(update_user_async(o.clone(), user("u-3")).await, Ok(()));
    assert_eq!(update_users_batch_async(o.clone(), vec![user("u-4")]).await, Ok(()));
    assert_eq!(update_company_async(o.clone(), company("c-2")).await, Ok(()));
    assert_eq!(
        update_companies_batch_async(o.clone(), vec![company("c-3")]).await,
        Ok(())
    );

    let requests = collector.requests();
    let seen: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/users"),
            ("POST", "/v1/users/batch"),
            ("POST", "/v1/companies"),
            ("POST", "/v1/companies/batch"),
            ("POST", "/v1/users"),
            ("POST", "/v1/users/batch"),
            ("POST", "/v1/companies"),
            ("POST", "/v1/companies/batch"),
        ]
    );
    assert_eq!(
        requests[0].json,
        Some(
            json!({"user_id": "u-1", "company_id": "acme", "campaign": {"utm_source": "newsletter"}, "metadata": {"plan": "pro"}})
        )
    );
    assert_eq!(
        requests[1].json.as_ref().and_then(|b| b.as_array()).map(Vec::len),
        Some(2)
    );
    assert_eq!(
        requests[2].json,
        Some(json!({"company_id": "c-1", "company_domain": "acme.example"}))
    );
    assert!(requests
        .iter()
        .all(|r| r.header("x-moesif-application-id") == Some("profiles-app")
            && r.header("content-encoding") == Some("gzip")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_failed() {
    let collector = Collector::start().await;
    let o = options(collector.base_url());
    assert_eq!(
        update_user_async(o.clone(), user("")).await,
        Err(Error::MissingField("user_id"))
    );
    assert_eq!(
        update_company_async(o.clone(), company(" ")).await,
        Err(Error::MissingField("company_id"))
    );
    assert_eq!(
        update_users_batch_async(o.clone(), vec![user("ok"), user("")]).await,
        Err(Error::MissingField("user_id"))
    );
    assert!(
        collector.requests().is_empty(),
        "nothing is sent for an invalid profile"
    );

    collector.push_behaviours([Behaviour::Status(401), Behaviour::Status(500)]);
    assert_eq!(update_user_async(o.clone(), user("u")).await, Err(Error::Unauthorized));
    assert_eq!(
        update_company_async(o.clone(), company("c")).await,
        Err(Error::Status(500))
    );

    let down = options(Collector::closed_port_url());
    let error = update_user_async(down, user("u")).await;
    assert!(matches!(error, Err(Error::Network(_))), "{error:?}");
    let cause = error.as_ref().err().and_then(std::error::Error::source);
    assert!(
        cause.is_some_and(|cause| cause.downcast_ref::<ureq::Error>().is_some()),
        "the ureq error that failed is the source: {cause:?}"
    );
    let text = error.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        !text.contains("profiles-app"),
        "the application id is not in error text"
    );

    let no_id = Options::new().base_uri("http://127.0.0.1:9");
    if std::env::var("MOESIF_APPLICATION_ID").is_err() {
        assert_eq!(
            update_user_async(no_id, user("u")).await,
            Err(Error::MissingApplicationId)
        );
    }
    let bad_uri = Options::new().application_id("x").base_uri("not a url");
    assert!(matches!(
        update_user_async(bad_uri, user("u")).await,
        Err(Error::InvalidBaseUri(_))
    ));
}

fn subscription(id: &str, company_id: &str) -> SubscriptionModel {
    SubscriptionModel {
        subscription_id: id.into(),
        company_id: company_id.into(),
        current_period_start: Some("2026-12-01T00:00:00.000Z".into()),
        current_period_end: Some("2027-01-01T00:00:00.000Z".into()),
        status: Some(SubscriptionStatus::Trialing),
        metadata: Some(json!({"plan": "pro"})),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscriptions_post_to_their_path_and_need_both_ids() {
    let collector = Collector::start().await;
    let o = options(collector.base_url());
    let s = subscription("sub-1", "acme");
    let blocking = o.clone();
    tokio::task::spawn_blocking(move || {
        assert_eq!(update_subscription_with(&blocking, &s), Ok(()));
        assert_eq!(
            update_subscriptions_batch_with(&blocking, &[s.clone(), subscription("sub-2", "acme")]),
            Ok(())
        );
    })
    .await
    .expect("blocking calls ran");
    assert_eq!(
        update_subscription_async(o.clone(), subscription("sub-3", "acme")).await,
        Ok(())
    );
    assert_eq!(
        update_subscriptions_batch_async(o.clone(), vec![subscription("sub-4", "acme")]).await,
        Ok(())
    );
    assert_eq!(
        update_subscription_async(o.clone(), subscription("", "acme")).await,
        Err(Error::MissingField("subscription_id"))
    );
    assert_eq!(
        update_subscriptions_batch_async(o.clone(), vec![subscription("sub-5", " ")]).await,
        Err(Error::MissingField("company_id"))
    );

    let requests = collector.requests();
    let seen: Vec<(&str, &str)> = requests.iter().map(|r| (r.method.as_str(), r.path.as_str())).collect();
    assert_eq!(
        seen,
        [
            ("POST", "/v1/subscriptions"),
            ("POST", "/v1/subscriptions/batch"),
            ("POST", "/v1/subscriptions"),
            ("POST", "/v1/subscriptions/batch"),
        ],
        "nothing sent for the invalid ones"
    );
    assert_eq!(
        requests[0].json,
        Some(json!({"subscription_id": "sub-1", "company_id": "acme",
            "current_period_start": "2026-12-01T00:00:00.000Z", "current_period_end": "2027-01-01T00:00:00.000Z",
            "status": "trialing", "metadata": {"plan": "pro"}}))
    );
    let client = Client::new(&o).expect("a client");
    let through_client =
        tokio::task::spawn_blocking(move || client.update_subscription(&subscription("sub-6", "acme")))
            .await
            .expect("ran");
    assert_eq!(through_client, Ok(()));
    assert_eq!(collector.requests().len(), 5);
}
