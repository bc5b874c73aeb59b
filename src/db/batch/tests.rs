//! The batcher without a database: the work functions record the batches
//! they were given, and the first batch can be held so that more items
//! queue behind it.

use super::*;
use std::sync::mpsc;

/// A work function that doubles each item, records each batch's size,
/// and holds its first batch until `release` is sent.
struct Held {
    sizes: Arc<Mutex<Vec<usize>>>,
    started: mpsc::Receiver<()>,
    release: mpsc::Sender<()>,
}

fn held(limits: BatchLimits) -> (Batcher<u32, u32>, Held) {
    let sizes = Arc::new(Mutex::new(Vec::new()));
    let (started_tx, started) = mpsc::channel();
    let (release, release_rx) = mpsc::channel::<()>();
    let release_rx = Mutex::new(release_rx);
    let recorded = sizes.clone();
    let batcher = Batcher::start("test", limits, move |items: &[u32]| {
        let first = {
            let mut sizes = recorded.lock().unwrap();
            sizes.push(items.len());
            sizes.len() == 1
        };
        if first {
            started_tx.send(()).unwrap();
            release_rx.lock().unwrap().recv().unwrap();
        }
        Ok::<_, std::io::Error>(items.iter().map(|item| item * 2).collect())
    });
    (
        batcher,
        Held {
            sizes,
            started,
            release,
        },
    )
}

/// Submits each item in a task of its own and lets every task queue its item.
async fn queue_all(
    batcher: &Batcher<u32, u32>,
    items: std::ops::Range<u32>,
) -> Vec<tokio::task::JoinHandle<Result<u32, BatchError>>> {
    let tasks: Vec<_> = items
        .map(|item| {
            let batcher = batcher.clone();
            tokio::spawn(async move { batcher.submit(item).await })
        })
        .collect();
    // On the test's one thread, a yield runs every task up to its wait.
    tokio::task::yield_now().await;
    tasks
}

async fn answers(tasks: Vec<tokio::task::JoinHandle<Result<u32, BatchError>>>) -> Vec<u32> {
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.unwrap().unwrap());
    }
    answers
}

/// Items 1 to 5 queued while item 0's batch is held, then let go: the
/// answers to item 0 and to the rest, and the sizes of the batches run. The
/// tests of how queued items are batched differ only in limits and in what
/// they expect of this.
async fn five_queued_behind_a_held_batch(limits: BatchLimits) -> (Vec<u32>, Vec<u32>, Vec<usize>) {
    let (batcher, held) = held(limits);
    let first = queue_all(&batcher, 0..1).await;
    held.started.recv().unwrap();
    let rest = queue_all(&batcher, 1..6).await;
    held.release.send(()).unwrap();
    let first = answers(first).await;
    let rest = answers(rest).await;
    let sizes = held.sizes.lock().unwrap().clone();
    (first, rest, sizes)
}

#[tokio::test]
async fn what_queued_while_the_worker_was_busy_is_its_next_batch_and_each_caller_gets_its_own_answer(
) {
    let (first, rest, sizes) = five_queued_behind_a_held_batch(BatchLimits::default()).await;
    assert_eq!(first, [0]);
    assert_eq!(rest, [2, 4, 6, 8, 10]);
    assert_eq!(sizes, [1, 5]);
}

#[tokio::test]
async fn a_batch_holds_at_most_max_batch_items() {
    let limits = BatchLimits {
        max_batch: 2,
        ..BatchLimits::default()
    };
    let (_, rest, sizes) = five_queued_behind_a_held_batch(limits).await;
    assert_eq!(rest, [2, 4, 6, 8, 10]);
    assert_eq!(sizes, [1, 2, 2, 1]);
}

#[tokio::test]
async fn an_item_beyond_the_queue_is_refused_at_once() {
    let limits = BatchLimits {
        queue: 2,
        ..BatchLimits::default()
    };
    let (batcher, held) = held(limits);
    let first = queue_all(&batcher, 0..1).await;
    held.started.recv().unwrap();
    let queued = queue_all(&batcher, 1..3).await;
    assert!(matches!(batcher.submit(3).await, Err(BatchError::Full)));
    held.release.send(()).unwrap();
    answers(first).await;
    assert_eq!(answers(queued).await, [2, 4]);
}

#[tokio::test]
async fn a_failing_batch_fails_each_of_its_items_and_the_next_batch_runs() {
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let batcher = Batcher::start(
        "test",
        BatchLimits::default(),
        move |items: &[u32]| match calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1 {
            1 => Err(std::io::Error::other("the database went away")),
            2 => Ok(Vec::new()),
            3 => panic!("a bug in the work"),
            _ => Ok(items.to_vec()),
        },
    );
    let failed = batcher.submit(1).await;
    assert!(
        matches!(&failed, Err(BatchError::Failed(cause)) if cause.to_string() == "the database went away"),
        "{failed:?}"
    );
    let miscounted = batcher.submit(2).await;
    assert!(
        matches!(&miscounted, Err(BatchError::Failed(cause)) if cause.to_string() == "0 answers for a batch of 1"),
        "{miscounted:?}"
    );
    assert!(matches!(
        batcher.submit(3).await,
        Err(BatchError::Failed(_))
    ));
    assert_eq!(batcher.submit(4).await.unwrap(), 4);
}

#[tokio::test]
async fn a_caller_waits_at_most_answer_within() {
    let limits = BatchLimits {
        answer_within: Duration::from_millis(10),
        ..BatchLimits::default()
    };
    let (batcher, held) = held(limits);
    assert!(matches!(batcher.submit(1).await, Err(BatchError::TimedOut)));
    held.release.send(()).unwrap();
}
