//! [`Journal`]: the ordered call record the fakes share.

use std::sync::{Arc, Mutex};

use super::lock;

/// An ordered record of calls, shared by the fakes.
#[derive(Clone, Debug, Default)]
pub struct Journal(Arc<Mutex<Vec<String>>>);

impl Journal {
    pub fn push(&self, entry: impl Into<String>) {
        lock(&self.0).push(entry.into());
    }

    /// Every entry so far.
    pub fn entries(&self) -> Vec<String> {
        lock(&self.0).clone()
    }

    /// Entries starting with `prefix`.
    pub fn matching(&self, prefix: &str) -> Vec<String> {
        lock(&self.0)
            .iter()
            .filter(|e| e.starts_with(prefix))
            .cloned()
            .collect()
    }

    /// Position of the first entry starting with `prefix`.
    pub fn position(&self, prefix: &str) -> Option<usize> {
        lock(&self.0).iter().position(|e| e.starts_with(prefix))
    }

    pub fn clear(&self) {
        lock(&self.0).clear();
    }
}
