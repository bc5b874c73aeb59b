//! A batcher: many requests' small database jobs done as one.
//!
//! When every request needs its own small statement (record a DPoP proof's
//! `jti`, look a key up), the round trips, transactions and thread
//! hand-offs cost more than the work. A [`Batcher`] queues each request's
//! item; its worker threads take *everything waiting* at that moment (up to
//! `max_batch`) and run the caller's function once over the whole batch,
//! typically one statement (`INSERT ... ON CONFLICT DO NOTHING RETURNING`,
//! `SELECT ... WHERE digest IN (...)`); each request awaits its own answer.
//!
//! The batching is natural: no timer waits for more items. A lone request
//! is sent at once, as a batch of one; under load, what queued while a
//! worker was busy becomes its next batch, so the batches grow with the load
//! and the per-request cost falls.
//!
//! Use (in the service, the function reaches the database itself, e.g.
//! `pool.get()` then `used_dpop_proofs::use_each_once(&mut conn, items, ..)`):
//!
//! ```
//! use multitoken::db::batch::{BatchLimits, Batcher};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() {
//! let doubled = Batcher::start("double", BatchLimits::default(), |items: &[u32]| {
//!     Ok::<_, std::convert::Infallible>(items.iter().map(|n| n * 2).collect())
//! });
//! assert_eq!(doubled.submit(21).await.ok(), Some(42));
//! # }
//! ```
//!
//! The function gets the items in the order they were queued and must answer
//! one output per item, in that order; any other count fails the whole
//! batch. Its error (or a panic) fails every item of the batch: the callers
//! get [`BatchError::Failed`] and answer as for any database failure (503),
//! never as if the work had succeeded.
//!
//! Every cost is bounded: at most `queue` items wait (more are refused at
//! once with [`BatchError::Full`]), a batch holds at most `max_batch`, and a
//! caller waits at most `answer_within` ([`BatchError::TimedOut`]; its item
//! may still be done later). The threads end when the last clone of the
//! [`Batcher`] is dropped, once the queue is empty.
//!
//! This module knows nothing of the tables: it is only the queue, the
//! threads and the answers. One worker suits writes on SQLite (one writer
//! anyway); several suit reads on PostgreSQL.

use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TryRecvError, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::oneshot;

/// How much a [`Batcher`] may hold and take at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Threads taking batches; each runs one batch at a time.
    pub workers: usize,
    /// The most items in one batch (mind the database's limit on bound
    /// parameters: SQLite's is 32,766, PostgreSQL's 65,535).
    pub max_batch: usize,
    /// The most items waiting for a worker.
    pub queue: usize,
    /// How long a caller waits for its answer.
    pub answer_within: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        BatchLimits {
            workers: 1,
            max_batch: 256,
            queue: 4096,
            answer_within: Duration::from_secs(10),
        }
    }
}

/// Why an item got no answer. The work was not done, or not known to be.
#[derive(Debug, Clone)]
pub enum BatchError {
    /// `queue` items were waiting already.
    Full,
    /// The batch's function failed (its error), answered the wrong number
    /// of outputs, or panicked.
    Failed(Arc<dyn std::error::Error + Send + Sync>),
    /// No answer within `answer_within`.
    TimedOut,
    /// The workers are gone (the batcher is shutting down).
    Stopped,
}

impl fmt::Display for BatchError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BatchError::Full => write!(f, "the batch queue is full"),
            BatchError::Failed(cause) => write!(f, "the batch failed: {cause}"),
            BatchError::TimedOut => write!(f, "no answer from the batch in time"),
            BatchError::Stopped => write!(f, "the batcher has stopped"),
        }
    }
}

impl std::error::Error for BatchError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BatchError::Failed(cause) => Some(cause.as_ref()),
            _ => None,
        }
    }
}

/// A failure described by the batcher itself (a wrong count, a panic).
#[derive(Debug)]
struct Broken(String);

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Broken {}

struct Job<I, O> {
    item: I,
    answer: oneshot::Sender<Result<O, BatchError>>,
}

/// Queues items for worker threads that run one function over every batch;
/// cheap to clone (the clones share the queue and the workers).
pub struct Batcher<I, O> {
    queue: SyncSender<Job<I, O>>,
    answer_within: Duration,
}

impl<I, O> Clone for Batcher<I, O> {
    fn clone(&self) -> Self {
        Batcher {
            queue: self.queue.clone(),
            answer_within: self.answer_within,
        }
    }
}

impl<I: Send + 'static, O: Send + 'static> Batcher<I, O> {
    /// Starts `limits.workers` threads named `name` that run `work` over
    /// each batch (see the module's documentation for what `work` answers).
    pub fn start<F, E>(name: &str, limits: BatchLimits, work: F) -> Self
    where
        F: Fn(&[I]) -> Result<Vec<O>, E> + Send + Sync + 'static,
        E: std::error::Error + Send + Sync + 'static,
    {
        let (queue, jobs) = sync_channel(limits.queue.max(1));
        let jobs = Arc::new(Mutex::new(jobs));
        let work = Arc::new(work);
        for index in 0..limits.workers.max(1) {
            let (jobs, work) = (jobs.clone(), work.clone());
            let max_batch = limits.max_batch.max(1);
            let spawned = std::thread::Builder::new()
                .name(format!("{name}-{index}"))
                .spawn(move || run_worker(&jobs, max_batch, work.as_ref()));
            if let Err(error) = spawned {
                // The other workers (or none: then every item is `Stopped`).
                log::error!("batcher {name}: no worker thread: {error}");
            }
        }
        Batcher {
            queue,
            answer_within: limits.answer_within,
        }
    }

    /// Queues `item` and waits for its answer.
    pub async fn submit(&self, item: I) -> Result<O, BatchError> {
        let (answer, answered) = oneshot::channel();
        match self.queue.try_send(Job { item, answer }) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => return Err(BatchError::Full),
            Err(TrySendError::Disconnected(_)) => return Err(BatchError::Stopped),
        }
        match tokio::time::timeout(self.answer_within, answered).await {
            Ok(Ok(outcome)) => outcome,
            Ok(Err(_)) => Err(BatchError::Stopped),
            Err(_) => Err(BatchError::TimedOut),
        }
    }
}

/// One worker: waits for an item, takes whatever else is waiting (up to
/// `max_batch`), answers them all; until every sender is gone.
fn run_worker<I, O, E, F>(jobs: &Mutex<Receiver<Job<I, O>>>, max_batch: usize, work: &F)
where
    F: Fn(&[I]) -> Result<Vec<O>, E>,
    E: std::error::Error + Send + Sync + 'static,
{
    while let Some(batch) = take_batch(jobs, max_batch) {
        let (items, answers): (Vec<I>, Vec<_>) =
            batch.into_iter().map(|job| (job.item, job.answer)).unzip();
        type Cause = Arc<dyn std::error::Error + Send + Sync>;
        let outcome: Result<Vec<O>, Cause> = match catch_unwind(AssertUnwindSafe(|| work(&items))) {
            Ok(Ok(outputs)) if outputs.len() == answers.len() => Ok(outputs),
            Ok(Ok(outputs)) => Err(Arc::new(Broken(format!(
                "{} answers for a batch of {}",
                outputs.len(),
                answers.len()
            )))),
            Ok(Err(error)) => Err(Arc::new(error)),
            Err(_) => Err(Arc::new(Broken("the batch's work panicked".into()))),
        };
        // A caller that gave up waiting has dropped its receiver: its send fails.
        match outcome {
            Ok(outputs) => {
                for (answer, output) in answers.into_iter().zip(outputs) {
                    let _ = answer.send(Ok(output));
                }
            }
            Err(cause) => {
                for answer in answers {
                    let _ = answer.send(Err(BatchError::Failed(cause.clone())));
                }
            }
        }
    }
}

/// The next batch: blocks for a first job, then takes what is waiting.
/// `None` when every sender is gone and nothing is left.
fn take_batch<I, O>(jobs: &Mutex<Receiver<Job<I, O>>>, max_batch: usize) -> Option<Vec<Job<I, O>>> {
    // Only the receiving is under the lock; the work runs outside it, so
    // another worker takes the next batch meanwhile.
    let jobs = jobs.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let first = jobs.recv().ok()?;
    let mut batch = vec![first];
    while batch.len() < max_batch {
        match jobs.try_recv() {
            Ok(job) => batch.push(job),
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
        }
    }
    Some(batch)
}

#[cfg(test)]
mod tests;
