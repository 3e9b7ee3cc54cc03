//! A keyed work queue with controller-runtime's guarantees:
//!
//! * a key is queued at most once, however often it is added;
//! * a key is never handed to two workers at once: adding a key that is being processed marks
//!   it to run again once the current run is [`done`](WorkQueue::done);
//! * keys can be added after a delay (backoff, periodic requeue); an immediate add replaces a
//!   pending delayed one.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::work_metrics::WorkInstruments;

struct State<K> {
    ready: VecDeque<K>,
    queued: HashSet<K>,
    running: HashSet<K>,
    /// Added while running: run again when done.
    again: HashSet<K>,
    delayed: BTreeMap<(Instant, u64), K>,
    delayed_at: HashMap<K, (Instant, u64)>,
    seq: u64,
    shutdown: bool,
    /// controller-runtime's workqueue series, when the queue is instrumented.
    instruments: Option<WorkInstruments>,
    /// When each ready key was queued (instrumented queues only).
    queued_at: HashMap<K, Instant>,
}

/// A shared queue of keys; clones share the queue.
pub struct WorkQueue<K> {
    state: Arc<Mutex<State<K>>>,
    notify: Arc<Notify>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        Self {
            state: self.state.clone(),
            notify: self.notify.clone(),
        }
    }
}

impl<K: Clone + Eq + Hash> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash> WorkQueue<K> {
    pub fn new() -> Self {
        Self::with_instruments(None)
    }

    /// A queue that feeds controller-runtime's workqueue series (and hands them to its
    /// workers).
    pub fn instrumented(instruments: WorkInstruments) -> Self {
        Self::with_instruments(Some(instruments))
    }

    fn with_instruments(instruments: Option<WorkInstruments>) -> Self {
        Self {
            state: Arc::new(Mutex::new(State {
                ready: VecDeque::new(),
                queued: HashSet::new(),
                running: HashSet::new(),
                again: HashSet::new(),
                delayed: BTreeMap::new(),
                delayed_at: HashMap::new(),
                seq: 0,
                shutdown: false,
                instruments,
                queued_at: HashMap::new(),
            })),
            notify: Arc::new(Notify::new()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues `key` now.
    pub fn add(&self, key: K) {
        let mut state = self.lock();
        Self::add_locked(&mut state, key);
        drop(state);
        self.notify.notify_one();
    }

    /// Queues every key now.
    pub fn add_all(&self, keys: impl IntoIterator<Item = K>) {
        let mut state = self.lock();
        for key in keys {
            Self::add_locked(&mut state, key);
        }
        drop(state);
        self.notify.notify_one();
    }

    fn add_locked(state: &mut State<K>, key: K) {
        if let Some(at) = state.delayed_at.remove(&key) {
            state.delayed.remove(&at);
        }
        if let Some(instruments) = &state.instruments {
            instruments.adds.inc();
        }
        if state.running.contains(&key) {
            state.again.insert(key);
        } else if state.queued.insert(key.clone()) {
            if let Some(instruments) = &state.instruments {
                state.queued_at.insert(key.clone(), Instant::now());
                instruments.depth.set(state.ready.len() as i64 + 1);
            }
            state.ready.push_back(key);
        }
    }

    /// The series this queue feeds, if instrumented.
    pub fn instruments(&self) -> Option<WorkInstruments> {
        self.lock().instruments.clone()
    }

    /// Queues `key` after `delay`, unless it is queued already or due earlier.
    pub fn add_after(&self, key: K, delay: Duration) {
        let at = Instant::now() + delay;
        let mut state = self.lock();
        if state.queued.contains(&key) {
            return;
        }
        if let Some(existing) = state.delayed_at.get(&key) {
            if existing.0 <= at {
                return;
            }
            let existing = *existing;
            state.delayed.remove(&existing);
        }
        state.seq += 1;
        let slot = (at, state.seq);
        state.delayed.insert(slot, key.clone());
        state.delayed_at.insert(key, slot);
        drop(state);
        // Wake a worker so it re-computes its sleep deadline.
        self.notify.notify_one();
    }

    /// The next key to process; `None` after [`shutdown`](Self::shutdown). The caller must
    /// call [`done`](Self::done) with the key when finished.
    pub async fn next(&self) -> Option<K> {
        loop {
            let notified = self.notify.notified();
            let deadline = {
                let mut state = self.lock();
                if state.shutdown {
                    return None;
                }
                let now = Instant::now();
                while let Some(entry) = state.delayed.first_entry() {
                    if entry.key().0 > now {
                        break;
                    }
                    let key = entry.remove();
                    state.delayed_at.remove(&key);
                    Self::add_locked(&mut state, key);
                }
                if let Some(key) = state.ready.pop_front() {
                    state.queued.remove(&key);
                    let queued_at = state.queued_at.remove(&key);
                    if let Some(instruments) = &state.instruments {
                        instruments.depth.set(state.ready.len() as i64);
                        if let Some(at) = queued_at {
                            instruments
                                .queue_duration
                                .observe(now.saturating_duration_since(at).as_secs_f64());
                        }
                    }
                    state.running.insert(key.clone());
                    let more = !state.ready.is_empty();
                    drop(state);
                    if more {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
                state.delayed.keys().next().map(|(at, _)| *at)
            };
            match deadline {
                Some(at) => {
                    tokio::select! {
                        () = notified => {}
                        () = tokio::time::sleep_until(at) => {}
                    }
                }
                None => notified.await,
            }
        }
    }

    /// Marks `key` finished; if it was added meanwhile, it is queued again.
    pub fn done(&self, key: &K) {
        let mut state = self.lock();
        state.running.remove(key);
        if state.again.remove(key) {
            Self::add_locked(&mut state, key.clone());
            drop(state);
            self.notify.notify_one();
        }
    }

    /// Stops handing out keys; waiting workers get `None`.
    pub fn shutdown(&self) {
        self.lock().shutdown = true;
        self.notify.notify_waiters();
    }

    /// Keys queued now (not delayed, not running).
    pub fn len(&self) -> usize {
        self.lock().ready.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Keys waiting for a delay.
    pub fn delayed_len(&self) -> usize {
        self.lock().delayed.len()
    }

    /// Whether nothing is queued, delayed or running.
    pub fn is_idle(&self) -> bool {
        let state = self.lock();
        state.ready.is_empty()
            && state.delayed.is_empty()
            && state.running.is_empty()
            && state.again.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn dedupes_queued_keys() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        assert_eq!(q.next().await, Some("a"));
        assert_eq!(q.next().await, Some("b"));
        q.done(&"a");
        q.done(&"b");
        assert!(q.is_idle());
    }

    #[tokio::test]
    async fn a_running_key_is_not_handed_out_twice() {
        let q = WorkQueue::new();
        q.add("a");
        assert_eq!(q.next().await, Some("a"));
        q.add("a");
        assert!(q.is_empty(), "re-added while running: held back");
        q.done(&"a");
        assert_eq!(q.len(), 1, "queued again after done");
        assert_eq!(q.next().await, Some("a"));
        q.done(&"a");
        assert!(q.is_idle());
    }

    #[tokio::test]
    async fn delayed_keys_come_due_and_immediate_add_wins() {
        let q = WorkQueue::new();
        q.add_after("late", Duration::from_secs(30));
        q.add_after("soon", Duration::from_millis(50));
        q.add_after("soon", Duration::from_secs(20)); // later than pending: ignored
        assert_eq!(q.delayed_len(), 2);
        let start = Instant::now();
        assert_eq!(q.next().await, Some("soon"));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(50) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
        q.done(&"soon");
        q.add("late");
        assert_eq!(q.delayed_len(), 0, "immediate add replaced the delayed one");
        assert_eq!(q.next().await, Some("late"));
        q.done(&"late");
        assert!(q.is_idle());
    }

    #[tokio::test]
    async fn workers_share_keys_and_shutdown_releases_them() {
        let q: WorkQueue<u32> = WorkQueue::new();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let mut workers = Vec::new();
        for _ in 0..3 {
            let (q, seen) = (q.clone(), seen.clone());
            workers.push(tokio::spawn(async move {
                while let Some(k) = q.next().await {
                    seen.lock().expect("lock").push(k);
                    q.done(&k);
                }
            }));
        }
        q.add_all(0..100);
        for _ in 0..200 {
            if q.is_idle() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        q.shutdown();
        for w in workers {
            tokio::time::timeout(Duration::from_secs(2), w)
                .await
                .expect("worker stops")
                .expect("worker ok");
        }
        let mut seen = seen.lock().expect("lock").clone();
        seen.sort_unstable();
        assert_eq!(seen, (0..100).collect::<Vec<_>>());
    }

    #[tokio::test(start_paused = true)]
    async fn an_instrumented_queue_reports_depth_adds_and_wait() {
        let mut registry = prometheus_client::registry::Registry::default();
        let metrics = crate::work_metrics::WorkMetrics::register(&mut registry);
        let q: WorkQueue<&str> = WorkQueue::instrumented(metrics.instruments("ingress"));
        q.add("a");
        q.add("a");
        q.add("b");
        tokio::time::advance(Duration::from_millis(300)).await;
        assert_eq!(q.next().await, Some("a"));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encodes");
        for line in [
            r#"workqueue_depth{name="ingress"} 1"#,
            r#"workqueue_adds_total{name="ingress"} 3"#,
            r#"workqueue_queue_duration_seconds_count{name="ingress"} 1"#,
            r#"workqueue_queue_duration_seconds_sum{name="ingress"} 0.3"#,
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }
}
