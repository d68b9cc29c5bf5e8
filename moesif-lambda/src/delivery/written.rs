//! Knowing when a request has left: a connector at the top of ureq's chain that calls back the first
//! time a connection waits for input after writing, that is, once the request (head and body) is in
//! the socket and only the answer is left. The runtime's loop waits for that, not for the answer,
//! when the sandbox may freeze right after ([`super::pipeline::flush_releasing`]).

use std::sync::{Arc, Mutex};
use std::thread::ThreadId;
use ureq::unversioned::transport::{Buffers, ConnectionDetails, Connector, NextTimeout, Transport};

/// What is called back, and for requests of which thread (one collector connection may serve
/// several threads: only the sender that asked is told).
type Callback = (ThreadId, Box<dyn FnOnce() + Send>);

/// The callback of a collector's connections.
#[derive(Default)]
pub(crate) struct Written(Mutex<Option<Callback>>);

impl Written {
    /// Runs `send` (requests on this thread), calling `then` once the first of them is written.
    pub(crate) fn calling<R>(&self, then: Box<dyn FnOnce() + Send>, send: impl FnOnce() -> R) -> R {
        *self.slot() = Some((std::thread::current().id(), then));
        let result = send();
        self.slot().take();
        result
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Option<Callback>> {
        crate::sync::lock(&self.0)
    }

    /// A request of this thread was written.
    fn fire(&self) {
        let mut slot = self.slot();
        if slot
            .as_ref()
            .is_some_and(|(thread, _)| *thread == std::thread::current().id())
        {
            if let Some((_, then)) = slot.take() {
                drop(slot);
                then();
            }
        }
    }
}

impl std::fmt::Debug for Written {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Written")
    }
}

/// The connector: wraps every connection the chain below it makes.
#[derive(Debug)]
pub(crate) struct Watching(pub(crate) Arc<Written>);

impl Connector<Box<dyn Transport>> for Watching {
    type Out = Watched;

    fn connect(
        &self,
        _details: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> Result<Option<Watched>, ureq::Error> {
        Ok(chained.map(|inner| Watched {
            inner,
            written: self.0.clone(),
            wrote: false,
        }))
    }
}

/// A connection that tells [`Written`] when it goes from writing to waiting for input.
#[derive(Debug)]
pub(crate) struct Watched {
    inner: Box<dyn Transport>,
    written: Arc<Written>,
    /// Whether it wrote since it last waited for input.
    wrote: bool,
}

impl Watched {
    fn waiting(&mut self) {
        if std::mem::take(&mut self.wrote) {
            self.written.fire();
        }
    }
}

impl Transport for Watched {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.inner.transmit_output(amount, timeout)?;
        self.wrote = true;
        Ok(())
    }

    fn maybe_await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.waiting();
        self.inner.maybe_await_input(timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.waiting();
        self.inner.await_input(timeout)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}
