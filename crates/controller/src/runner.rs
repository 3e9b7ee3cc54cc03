//! Workers that drain a [`WorkQueue`]: bounded concurrency, per-key exponential backoff with
//! jitter on failure, requeue on request, a periodic resync of every key, and a pause while
//! this replica is not the leader (with every key queued again when it becomes leader).

use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::backoff::{Backoff, BackoffPolicy};
use crate::queue::WorkQueue;
use crate::work_metrics::ReconcileResult;

/// What one reconcile asks of the runner.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Step {
    /// Done until something changes (or the periodic resync).
    Done,
    /// Look again after this long (not a failure: the backoff is reset).
    RequeueAfter(Duration),
    /// Failed: retry with backoff. The text is logged.
    Failed(String),
    /// Not the leader: drop the key; it is queued again on becoming leader.
    Paused,
}

/// How a runner schedules.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunnerConfig {
    /// Reconciles in flight at once.
    pub concurrency: usize,
    pub backoff: BackoffPolicy,
}

/// Runs `concurrency` workers over `queue` until it is shut down. `reconcile` handles one key.
pub async fn run_workers<K, F, Fut>(
    name: &'static str,
    queue: WorkQueue<K>,
    config: RunnerConfig,
    leader: watch::Receiver<bool>,
    reconcile: F,
) where
    K: Clone + Eq + Hash + std::fmt::Display + Send + Sync + 'static,
    F: Fn(K) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Step> + Send + 'static,
{
    let backoff = Arc::new(Mutex::new(Backoff::new(config.backoff)));
    let reconcile = Arc::new(reconcile);
    let instruments = queue.instruments();
    if let Some(instruments) = &instruments {
        instruments
            .max_concurrent
            .set(i64::try_from(config.concurrency.max(1)).unwrap_or(i64::MAX));
    }
    let mut workers = Vec::with_capacity(config.concurrency.max(1));
    for _ in 0..config.concurrency.max(1) {
        let (queue, backoff, reconcile, mut leader, instruments) = (
            queue.clone(),
            backoff.clone(),
            reconcile.clone(),
            leader.clone(),
            instruments.clone(),
        );
        workers.push(tokio::spawn(async move {
            loop {
                // Wait for leadership before taking a key.
                if leader.wait_for(|l| *l).await.is_err() {
                    return;
                }
                let Some(key) = queue.next().await else { return };
                if let Some(instruments) = &instruments {
                    instruments.active_workers.inc();
                }
                let started = tokio::time::Instant::now();
                let step = reconcile(key.clone()).await;
                if let Some(instruments) = &instruments {
                    instruments.active_workers.dec();
                    let result = match &step {
                        Step::Done => Some(ReconcileResult::Success),
                        Step::RequeueAfter(_) => Some(ReconcileResult::RequeueAfter),
                        Step::Failed(_) => Some(ReconcileResult::Error),
                        Step::Paused => None,
                    };
                    if let Some(result) = result {
                        instruments.reconciled(result, started.elapsed());
                    }
                }
                let mut backoff = backoff.lock().unwrap_or_else(PoisonError::into_inner);
                match step {
                    Step::Done | Step::Paused => backoff.succeed(&key),
                    Step::RequeueAfter(delay) => {
                        backoff.succeed(&key);
                        queue.add_after(key.clone(), delay);
                    }
                    Step::Failed(error) => {
                        let delay = backoff.fail(&key);
                        tracing::warn!(controller = name, key = %key, %error, retry_in = ?delay, "reconcile failed");
                        queue.add_after(key.clone(), delay);
                    }
                }
                drop(backoff);
                queue.done(&key);
            }
        }));
    }
    for worker in workers {
        if let Err(error) = worker.await {
            tracing::error!(controller = name, %error, "worker stopped");
        }
    }
}

/// Queues every key from `all` every `period`, and whenever this replica becomes leader (or at
/// once, when it leads already); each time, `prepare` runs first (a deployer reading what the
/// cluster owns once for all those keys).
pub async fn resync<K, F, P, Fut>(
    queue: WorkQueue<K>,
    period: Duration,
    mut leader: watch::Receiver<bool>,
    all: F,
    prepare: P,
) where
    K: Clone + Eq + Hash + Send + 'static,
    F: Fn() -> Vec<K> + Send + 'static,
    P: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    let mut ticker = tokio::time::interval(period.max(Duration::from_secs(1)));
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticker.tick().await; // the first tick is immediate; the initial sync queues everything anyway
    let mut was_leader = *leader.borrow_and_update();
    if was_leader {
        // Leading already (a lease released by the previous process is taken at once, often
        // before the caches are synced): this is the first pass.
        prepare().await;
        queue.add_all(all());
    }
    loop {
        tokio::select! {
            _ = ticker.tick() => {
                prepare().await;
                queue.add_all(all());
            }
            changed = leader.changed() => {
                if changed.is_err() {
                    return;
                }
                let is_leader = *leader.borrow_and_update();
                if is_leader && !was_leader {
                    prepare().await;
                    queue.add_all(all());
                }
                was_leader = is_leader;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test]
    async fn failures_retry_with_backoff_and_success_stops() {
        let queue: WorkQueue<String> = WorkQueue::new();
        let (_tx, leader) = watch::channel(true);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let runner = tokio::spawn(run_workers(
            "test",
            queue.clone(),
            RunnerConfig {
                concurrency: 2,
                backoff: BackoffPolicy {
                    initial: Duration::from_millis(10),
                    max: Duration::from_millis(40),
                },
            },
            leader,
            move |_key: String| {
                let n = counter.fetch_add(1, Ordering::SeqCst);
                async move {
                    if n < 3 {
                        Step::Failed("boom".into())
                    } else {
                        Step::Done
                    }
                }
            },
        ));
        queue.add("g".to_string());
        for _ in 0..200 {
            if calls.load(Ordering::SeqCst) >= 4 && queue.is_idle() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            4,
            "three failures, then success"
        );
        assert!(queue.is_idle());
        queue.shutdown();
        tokio::time::timeout(Duration::from_secs(2), runner)
            .await
            .expect("stops")
            .expect("ok");
    }

    #[tokio::test]
    async fn workers_wait_for_leadership_and_resync_on_gaining_it() {
        let queue: WorkQueue<u32> = WorkQueue::new();
        let (tx, leader) = watch::channel(false);
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let (work, prepared, work_before) = (
            calls.clone(),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(usize::MAX)),
        );
        let (prepared_count, work_seen) = (prepared.clone(), work_before.clone());
        let runner = tokio::spawn(run_workers(
            "test",
            queue.clone(),
            RunnerConfig {
                concurrency: 1,
                backoff: BackoffPolicy::default(),
            },
            leader.clone(),
            move |_key: u32| {
                counter.fetch_add(1, Ordering::SeqCst);
                async { Step::Done }
            },
        ));
        let resyncer = tokio::spawn(resync(
            queue.clone(),
            Duration::from_secs(3600),
            leader,
            || vec![1, 2, 3],
            move || {
                let (work, prepared, work_before) =
                    (work.clone(), prepared.clone(), work_before.clone());
                async move {
                    work_before.store(work.load(Ordering::SeqCst), Ordering::SeqCst);
                    prepared.fetch_add(1, Ordering::SeqCst);
                }
            },
        ));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(calls.load(Ordering::SeqCst), 0, "no work while not leader");
        tx.send_replace(true);
        for _ in 0..200 {
            if calls.load(Ordering::SeqCst) >= 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "every key queued on becoming leader"
        );
        assert_eq!(prepared_count.load(Ordering::SeqCst), 1);
        assert_eq!(
            work_seen.load(Ordering::SeqCst),
            0,
            "prepared before any key was queued"
        );
        resyncer.abort();
        queue.shutdown();
        tokio::time::timeout(Duration::from_secs(2), runner)
            .await
            .expect("stops")
            .expect("ok");
    }

    #[tokio::test]
    async fn a_replica_leading_from_the_start_prepares_then_queues_everything() {
        let queue: WorkQueue<u32> = WorkQueue::new();
        let (_tx, leader) = watch::channel(true);
        let queued_when_prepared = Arc::new(AtomicUsize::new(usize::MAX));
        let seen = queued_when_prepared.clone();
        let probe = queue.clone();
        let resyncer = tokio::spawn(resync(
            queue.clone(),
            Duration::from_secs(3600),
            leader,
            || vec![1, 2, 3],
            move || {
                let (seen, probe) = (seen.clone(), probe.clone());
                async move { seen.store(probe.len(), Ordering::SeqCst) }
            },
        ));
        for _ in 0..200 {
            if queue.len() == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(queue.len(), 3, "every key queued at once");
        assert_eq!(
            queued_when_prepared.load(Ordering::SeqCst),
            0,
            "prepared before the keys were queued"
        );
        resyncer.abort();
    }
}
