//! The crate's process-wide state, in one place: what Lambda makes per process (one sandbox, one
//! `SIGTERM`, one delivery thread) and what must be found from code the crate does not call (an
//! outgoing call on a spawned thread finds its invocation here). The others are the collector
//! connections' registry (`delivery::transport`, what the runtime loop flushes) and two one-time caches
//! (the compiled secret shapes in `capture::redact::values`, ureq's charset behaviour in `outgoing`).
//! A leaf: it imports nothing of the crate, and holds data only; the modules named in each field's docs
//! give it its meaning.

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::{mpsc, Arc, Mutex, MutexGuard, Once, OnceLock};
use std::thread::ThreadId;
use tokio::sync::Notify;

/// Where the process is in its shutdown (`SIGTERM` comes once).
pub(crate) mod phase {
    /// Serving.
    pub(crate) const RUNNING: u8 = 0;
    /// `SIGTERM` came: the last flush runs.
    pub(crate) const SHUTTING_DOWN: u8 = 1;
    /// The shutdown's accounting line was written.
    pub(crate) const REPORTED: u8 = 2;
}

/// A job for the delivery thread.
pub(crate) type Job = Box<dyn FnOnce() + Send>;

/// The long-lived thread every blocking send runs on (`delivery::worker`).
pub(crate) struct DeliveryThread {
    /// Where jobs are sent.
    pub(crate) jobs: Mutex<mpsc::Sender<Job>>,
    /// The thread, so a job submitted from it runs inline.
    pub(crate) thread: ThreadId,
}

/// See the module docs.
pub(crate) struct Process {
    /// Whether the runtime layer started: the queues are then sent after responses (`delivery`).
    pub(crate) after_response: AtomicBool,
    /// Whether many invocations run at once (Managed Instances, `delivery::run_concurrent`): the
    /// queues left at their default bounds are then larger (`delivery::queue`).
    pub(crate) concurrent: AtomicBool,
    /// A [`phase`] value (`delivery::shutdown`).
    pub(crate) shutdown_phase: AtomicU8,
    /// The `SIGTERM` listener, started once (`delivery::shutdown`).
    pub(crate) sigterm_listener: Once,
    /// Woken when a queue holds a full batch (the Managed Instances background sender waits on it).
    pub(crate) batch_ready: Notify,
    /// The delivery thread, started on first use; `None` if it could not be (`delivery::worker`).
    pub(crate) delivery_thread: OnceLock<Option<DeliveryThread>>,
    /// Request ids of the invocations started and not yet finished, for work off their tasks
    /// (`current`).
    in_flight: Mutex<Vec<Arc<str>>>,
    /// Keys of the warnings already written (`hooks::warn_once`): a misconfiguration is said once.
    warned: Mutex<Vec<&'static str>>,
}

impl Process {
    /// The in-flight request ids.
    pub(crate) fn in_flight(&self) -> MutexGuard<'_, Vec<Arc<str>>> {
        crate::sync::lock(&self.in_flight)
    }

    /// The keys of the warnings written.
    pub(crate) fn warned(&self) -> MutexGuard<'_, Vec<&'static str>> {
        crate::sync::lock(&self.warned)
    }
}

/// The state of this process.
pub(crate) static PROCESS: Process = Process {
    after_response: AtomicBool::new(false),
    concurrent: AtomicBool::new(false),
    shutdown_phase: AtomicU8::new(phase::RUNNING),
    sigterm_listener: Once::new(),
    batch_ready: Notify::const_new(),
    delivery_thread: OnceLock::new(),
    in_flight: Mutex::new(Vec::new()),
    warned: Mutex::new(Vec::new()),
};
