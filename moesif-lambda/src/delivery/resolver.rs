//! The collector's addresses, looked up once a minute rather than before every request.
//!
//! ureq looks a request's host up before it checks its pool, so a send on a kept-alive connection
//! still pays a lookup, and with a timeout set (ours always are) that lookup runs on a new thread.
//! A transport talks to one host: its addresses are kept for [`TTL`], and forgotten when a send
//! fails to connect (the collector may have moved).

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use ureq::config::Config;
use ureq::http::Uri;
use ureq::unversioned::resolver::{DefaultResolver, ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::NextTimeout;

/// How long looked-up addresses are used (DNS records of load-balanced endpoints are usually kept
/// for about a minute).
pub(crate) const TTL: Duration = Duration::from_secs(60);

/// The resolver of a transport's agent; clones share the addresses (the transport keeps one to
/// [`forget`](Self::forget) them).
#[derive(Debug, Default)]
pub(crate) struct CachingResolver<R = DefaultResolver> {
    lookup: Arc<R>,
    cached: Arc<Mutex<Option<Cached>>>,
}

impl<R> Clone for CachingResolver<R> {
    fn clone(&self) -> Self {
        CachingResolver {
            lookup: self.lookup.clone(),
            cached: self.cached.clone(),
        }
    }
}

#[derive(Debug)]
struct Cached {
    /// `scheme://authority` they are the addresses of.
    origin: String,
    addresses: ResolvedSocketAddrs,
    at: Instant,
}

impl<R> CachingResolver<R> {
    fn cached(&self) -> MutexGuard<'_, Option<Cached>> {
        crate::sync::lock(&self.cached)
    }

    /// Drops the kept addresses: the next request looks them up again.
    pub(crate) fn forget(&self) {
        *self.cached() = None;
    }
}

/// `scheme://authority` of `uri`.
fn origin(uri: &Uri) -> String {
    let scheme = uri.scheme_str().unwrap_or_default();
    let authority = uri.authority().map_or("", |authority| authority.as_str());
    let mut origin = String::with_capacity(scheme.len() + 3 + authority.len());
    origin.push_str(scheme);
    origin.push_str("://");
    origin.push_str(authority);
    origin
}

fn is_origin_of(origin: &str, uri: &Uri) -> bool {
    let scheme = uri.scheme_str().unwrap_or_default();
    let authority = uri.authority().map_or("", |authority| authority.as_str());
    origin
        .strip_prefix(scheme)
        .and_then(|rest| rest.strip_prefix("://"))
        .is_some_and(|rest| rest == authority)
}

impl<R: Resolver> Resolver for CachingResolver<R> {
    fn resolve(&self, uri: &Uri, config: &Config, timeout: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
        if let Some(cached) = self.cached().as_ref() {
            if cached.at.elapsed() < TTL && is_origin_of(&cached.origin, uri) {
                return Ok(cached.addresses.clone());
            }
        }
        let addresses = self.lookup.resolve(uri, config, timeout)?;
        *self.cached() = Some(Cached {
            origin: origin(uri),
            addresses: addresses.clone(),
            at: Instant::now(),
        });
        Ok(addresses)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Counts its lookups; every host is 127.0.0.1:port.
    #[derive(Debug, Default)]
    struct Counting(AtomicUsize);

    impl Resolver for Counting {
        fn resolve(&self, uri: &Uri, _: &Config, _: NextTimeout) -> Result<ResolvedSocketAddrs, ureq::Error> {
            self.0.fetch_add(1, Ordering::Relaxed);
            let mut addresses = self.empty();
            addresses.push(SocketAddr::from(([127, 0, 0, 1], uri.port_u16().unwrap_or(80))));
            Ok(addresses)
        }
    }

    fn lookups(resolver: &CachingResolver<Counting>) -> usize {
        resolver.lookup.0.load(Ordering::Relaxed)
    }

    #[test]
    fn addresses_are_looked_up_once_per_origin_until_forgotten() {
        let resolver = CachingResolver::<Counting>::default();
        let config = Config::default();
        let timeout = NextTimeout::default;
        let collector = Uri::from_static("https://collector.example:8443/v1/events/batch");
        let config_path = Uri::from_static("https://collector.example:8443/v1/config");
        let first = resolver.resolve(&collector, &config, timeout()).ok();
        let again = resolver.resolve(&config_path, &config, timeout()).ok();
        assert_eq!(first.as_deref(), again.as_deref());
        assert_eq!(lookups(&resolver), 1, "the same origin: looked up once");
        let other = Uri::from_static("https://other.example:8443/");
        let _ = resolver.resolve(&other, &config, timeout());
        assert_eq!(lookups(&resolver), 2, "another origin: looked up");
        resolver.clone().forget();
        let _ = resolver.resolve(&other, &config, timeout());
        assert_eq!(lookups(&resolver), 3, "forgotten by a clone: looked up again");
    }
}
