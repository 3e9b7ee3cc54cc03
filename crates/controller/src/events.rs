//! Kubernetes Events (`events.k8s.io/v1`) about the objects the controller reconciles.
//!
//! A repeat of the same event (same object, type, reason and note) within a few minutes
//! updates the first one's `series` instead of creating another object. kube's own recorder
//! keys repeats without the note, so a second failure with a different message would keep the
//! first message; here the note is part of the key.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, Patch, PatchParams, PostParams};

/// Normal or Warning.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum EventType {
    Normal,
    Warning,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Normal => "Normal",
            Self::Warning => "Warning",
        }
    }
}

/// One event to publish.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EventSpec {
    pub type_: EventType,
    /// Upstream's reason, e.g. `SuccessfullyReconciled`, `FailedBuildModel`.
    pub reason: &'static str,
    pub note: String,
}

impl EventSpec {
    pub fn normal(reason: &'static str, note: impl Into<String>) -> Self {
        Self {
            type_: EventType::Normal,
            reason,
            note: note.into(),
        }
    }

    pub fn warning(reason: &'static str, note: impl Into<String>) -> Self {
        Self {
            type_: EventType::Warning,
            reason,
            note: note.into(),
        }
    }
}

/// Longest note the API accepts (1 KiB).
pub const MAX_NOTE_BYTES: usize = 1024;
/// How long a published event is updated instead of repeated.
pub const SERIES_WINDOW: Duration = Duration::from_secs(6 * 60);

/// `note` cut to at most [`MAX_NOTE_BYTES`] at a character boundary, with an ellipsis.
pub fn truncate_note(note: &str) -> String {
    if note.len() <= MAX_NOTE_BYTES {
        return note.to_owned();
    }
    let mut end = MAX_NOTE_BYTES - '…'.len_utf8();
    while !note.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &note[..end])
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Key {
    object: (Option<String>, Option<String>, Option<String>),
    spec: EventSpec,
}

#[derive(Clone, Debug)]
struct Published {
    name: String,
    count: i32,
    at: Instant,
}

/// Publishes events as one reporting controller instance.
pub struct EventRecorder {
    client: Client,
    controller: String,
    instance: String,
    published: Mutex<HashMap<Key, Published>>,
}

impl EventRecorder {
    /// `controller` is the reporting controller (`aws-load-balancer-controller`), `instance`
    /// this replica (the pod name).
    pub fn new(client: Client, controller: impl Into<String>, instance: impl Into<String>) -> Self {
        Self {
            client,
            controller: controller.into(),
            instance: instance.into(),
            published: Mutex::new(HashMap::new()),
        }
    }

    /// Publishes `spec` about the object `regarding`.
    pub async fn publish(
        &self,
        regarding: &ObjectReference,
        spec: &EventSpec,
    ) -> Result<(), kube::Error> {
        let key = Key {
            object: (
                regarding.namespace.clone(),
                regarding.name.clone(),
                regarding.uid.clone(),
            ),
            spec: spec.clone(),
        };
        let now = Timestamp::now();
        let repeat = {
            let mut published = self
                .published
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            published.retain(|_, p| p.at.elapsed() < SERIES_WINDOW);
            published.get(&key).cloned()
        };
        let namespace = regarding
            .namespace
            .clone()
            .unwrap_or_else(|| "default".to_owned());
        let api: Api<Event> = Api::namespaced(self.client.clone(), &namespace);
        let record = match repeat {
            Some(previous) => {
                let count = previous.count.saturating_add(1);
                let patch = serde_json::json!({
                    "series": { "count": count, "lastObservedTime": MicroTime(now) }
                });
                api.patch(
                    &previous.name,
                    &PatchParams::default(),
                    &Patch::Merge(&patch),
                )
                .await?;
                Published {
                    count,
                    at: previous.at,
                    ..previous
                }
            }
            None => {
                let name = format!(
                    "{}.{:x}",
                    regarding.name.as_deref().unwrap_or(&self.controller),
                    now.as_nanosecond()
                );
                let event = Event {
                    metadata: ObjectMeta {
                        name: Some(name.clone()),
                        namespace: Some(namespace),
                        ..ObjectMeta::default()
                    },
                    action: Some("Reconcile".to_owned()),
                    reason: Some(spec.reason.to_owned()),
                    note: Some(truncate_note(&spec.note)),
                    type_: Some(spec.type_.as_str().to_owned()),
                    regarding: Some(regarding.clone()),
                    reporting_controller: Some(self.controller.clone()),
                    reporting_instance: Some(self.instance.clone()),
                    event_time: Some(MicroTime(now)),
                    ..Event::default()
                };
                api.create(&PostParams::default(), &event).await?;
                Published {
                    name,
                    count: 1,
                    at: Instant::now(),
                }
            }
        };
        self.published
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, record);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_a_char_boundary() {
        assert_eq!(truncate_note("short"), "short");
        let long = "é".repeat(600); // 1200 bytes
        let cut = truncate_note(&long);
        assert!(cut.len() <= MAX_NOTE_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…'));
        assert!(cut.starts_with("éé"));
    }
}

/// Event reasons of the group and Service reconcilers (upstream's).
pub mod reason {
    pub const SUCCESSFULLY_RECONCILED: &str = "SuccessfullyReconciled";
    pub const FAILED_LOAD_GROUP_ID: &str = "FailedLoadGroupID";
    pub const FAILED_ADD_FINALIZER: &str = "FailedAddFinalizer";
    pub const FAILED_REMOVE_FINALIZER: &str = "FailedRemoveFinalizer";
    pub const FAILED_UPDATE_STATUS: &str = "FailedUpdateStatus";
    pub const FAILED_BUILD_MODEL: &str = "FailedBuildModel";
    pub const FAILED_DEPLOY_MODEL: &str = "FailedDeployModel";
}
