//! One long-lived thread for every blocking send to the collector (ureq is blocking): no thread is
//! started per invocation, the async runtime's workers never block, and flushes run one after another,
//! so a flush at shutdown waits for the one in flight instead of racing it.

use crate::process::{DeliveryThread as Worker, Job, PROCESS};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc;
use std::sync::Mutex;

/// The process's delivery thread, started on first use.
fn worker() -> Option<&'static Worker> {
    PROCESS
        .delivery_thread
        .get_or_init(|| {
            let (jobs, inbox) = mpsc::channel::<Job>();
            let spawned = std::thread::Builder::new()
                .name("moesif-delivery".into())
                .spawn(move || {
                    for job in inbox {
                        // A bug in a job costs that job, never the thread.
                        if catch_unwind(AssertUnwindSafe(job)).is_err() {
                            tracing::debug!("moesif: a delivery job panicked");
                        }
                    }
                });
            match spawned {
                Ok(handle) => Some(Worker {
                    jobs: Mutex::new(jobs),
                    thread: handle.thread().id(),
                }),
                Err(error) => {
                    tracing::warn!(%error, "moesif: could not start the delivery thread; events are not sent");
                    None
                }
            }
        })
        .as_ref()
}

fn submit(worker: &Worker, job: Job) -> bool {
    let jobs = crate::sync::lock(&worker.jobs);
    jobs.send(job).is_ok()
}

/// Runs `job` on the delivery thread and waits for it without blocking the async runtime. `None` if
/// it could not run (no thread, or the job panicked).
pub(crate) async fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let worker = worker()?;
    let (done, result) = tokio::sync::oneshot::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(job());
    });
    if !submit(worker, job) {
        return None;
    }
    result.await.ok()
}

/// Whether the delivery thread runs (started now if it was not).
pub(crate) fn available() -> bool {
    worker().is_some()
}

/// Runs `job` on the delivery thread; nobody waits for it.
pub(crate) fn spawn(job: impl FnOnce() + Send + 'static) {
    if let Some(worker) = worker() {
        submit(worker, Box::new(job));
    }
}

/// Runs `job` on the delivery thread and blocks until it is done (for sync handlers); inline when
/// called from the delivery thread itself.
pub(crate) fn run_blocking<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    let worker = worker()?;
    if std::thread::current().id() == worker.thread {
        return Some(job());
    }
    let (done, result) = mpsc::channel();
    let job: Job = Box::new(move || {
        let _ = done.send(job());
    });
    if !submit(worker, job) {
        return None;
    }
    result.recv().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_one_thread_and_a_panic_costs_only_its_job() {
        let first = run_blocking(|| std::thread::current().id());
        let second = run_blocking(|| std::thread::current().id());
        assert!(first.is_some() && first == second);
        assert_eq!(run_blocking(|| -> u8 { panic!("job broke") }), None);
        assert_eq!(run_blocking(|| 7), Some(7), "the thread survived");
        assert_eq!(run_blocking(|| run_blocking(|| 8)), Some(Some(8)), "nested runs inline");
    }

    #[tokio::test]
    async fn async_callers_wait_without_blocking() {
        assert_eq!(run(|| 5).await, Some(5));
    }
}
