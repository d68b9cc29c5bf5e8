//! The delivery state of the process, in one place (with the collector connections' registry in
//! [`super::transport`] and the lazily started delivery thread in [`super::worker`], the only
//! process-wide state of delivery): the delivery mode, where the process is in its shutdown, and the
//! background sender's wake-up. A leaf: it imports nothing of the crate.

use std::sync::atomic::{AtomicBool, AtomicU8};
use std::sync::Once;
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

/// See the module docs.
pub(crate) struct Process {
    /// Whether the runtime layer started: the queue is then sent after responses.
    pub(crate) after_response: AtomicBool,
    /// A [`phase`] value.
    pub(crate) shutdown_phase: AtomicU8,
    /// The `SIGTERM` listener, started once.
    pub(crate) sigterm_listener: Once,
    /// Woken when a queue holds a full batch (the Managed Instances background sender waits on it).
    pub(crate) batch_ready: Notify,
}

/// The delivery state of this process.
pub(crate) static PROCESS: Process = Process {
    after_response: AtomicBool::new(false),
    shutdown_phase: AtomicU8::new(phase::RUNNING),
    sigterm_listener: Once::new(),
    batch_ready: Notify::const_new(),
};
