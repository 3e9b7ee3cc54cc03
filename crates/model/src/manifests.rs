//! Kubernetes manifests as plain objects: multi-document YAML (or JSON) text sorted by kind.
//!
//! The offline commands (`plan`, `check`, the embedded demo) and the admission group check
//! build from these the same inputs the controller gets from its watches. Reading the files is
//! the binary's (`load` there).

use std::path::{Path, PathBuf};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Node, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

use contract::cluster::StaticCluster;
use contract::crd::{IngressClassParams, TargetGroupBinding};

use crate::builder::ObjectMap;

/// The objects found in a set of manifests, in file order (Secrets by namespace and name).
///
/// `Debug` lists the Secrets by name only: their values never reach a log.
#[derive(Clone, Default)]
pub struct Manifests {
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub ingress_class_params: Vec<IngressClassParams>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub target_group_bindings: Vec<TargetGroupBinding>,
    /// `v1` Secrets by `(namespace, name)` (namespace `default` when unset), as the API server
    /// would store them: `stringData` merged over `data`, so only `data` is set. A later
    /// document with the same namespace and name replaces an earlier one.
    pub secrets: ObjectMap<Secret>,
    /// Documents of our own kind `ClusterFacts` (what AWS would say about the VPC, for offline
    /// planning), without `apiVersion`/`kind`.
    pub cluster_facts: Vec<serde_json::Value>,
    /// `kind` of documents that were skipped because nothing here uses them.
    pub skipped: Vec<String>,
}

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: document {index}: {message}")]
    Document {
        path: PathBuf,
        index: usize,
        message: String,
    },
}

impl Manifests {
    /// Add every document of one YAML stream; `origin` names it in errors.
    pub fn add_documents(&mut self, origin: &Path, text: &str) -> Result<(), ManifestError> {
        for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
            let bad = |message: String| ManifestError::Document {
                path: origin.to_path_buf(),
                index,
                message,
            };
            let value = serde_json::Value::deserialize(document).map_err(|e| bad(e.to_string()))?;
            if value.is_null() {
                continue; // an empty document, e.g. after a trailing `---`
            }
            self.add(value).map_err(bad)?;
        }
        Ok(())
    }

    fn add(&mut self, value: serde_json::Value) -> Result<(), String> {
        let kind = value
            .get("kind")
            .and_then(|k| k.as_str())
            .ok_or("document has no kind")?
            .to_string();
        if kind == "List" {
            let items = value
                .get("items")
                .and_then(|i| i.as_array())
                .cloned()
                .unwrap_or_default();
            return items.into_iter().try_for_each(|item| self.add(item));
        }
        match kind.as_str() {
            "Ingress" => self.ingresses.push(typed(&kind, value)?),
            "IngressClass" => self.ingress_classes.push(typed(&kind, value)?),
            "IngressClassParams" => self.ingress_class_params.push(typed(&kind, value)?),
            "Service" => self.services.push(typed(&kind, value)?),
            "EndpointSlice" => self.endpoint_slices.push(typed(&kind, value)?),
            "Node" => self.nodes.push(typed(&kind, value)?),
            "Namespace" => self.namespaces.push(typed(&kind, value)?),
            "TargetGroupBinding" => self.target_group_bindings.push(typed(&kind, value)?),
            "Secret" => {
                let (key, secret) = secret(value)?;
                self.secrets.insert(key, secret);
            }
            "ClusterFacts" => {
                let mut facts = value;
                if let Some(map) = facts.as_object_mut() {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                self.cluster_facts.push(facts);
            }
            _ => self.skipped.push(kind),
        }
        Ok(())
    }
}

impl std::fmt::Debug for Manifests {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secrets: Vec<String> = self
            .secrets
            .keys()
            .map(|(namespace, name)| format!("{namespace}/{name}"))
            .collect();
        f.debug_struct("Manifests")
            .field("ingresses", &self.ingresses)
            .field("ingress_classes", &self.ingress_classes)
            .field("ingress_class_params", &self.ingress_class_params)
            .field("services", &self.services)
            .field("endpoint_slices", &self.endpoint_slices)
            .field("nodes", &self.nodes)
            .field("namespaces", &self.namespaces)
            .field("target_group_bindings", &self.target_group_bindings)
            .field("secrets", &secrets)
            .field("cluster_facts", &self.cluster_facts)
            .field("skipped", &self.skipped)
            .finish()
    }
}

impl Manifests {
    /// The cluster as the manifests describe it. Namespaces that no manifest defines still carry
    /// the `kubernetes.io/metadata.name` label the API server puts on every namespace.
    pub fn static_cluster(&self) -> StaticCluster {
        let manifests = self;
        let mut namespaces: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        let mut note = |name: &str, labels: Option<&BTreeMap<String, String>>| {
            let entry = namespaces.entry(name.to_string()).or_default();
            entry.insert("kubernetes.io/metadata.name".to_string(), name.to_string());
            entry.extend(
                labels
                    .into_iter()
                    .flatten()
                    .map(|(k, v)| (k.clone(), v.clone())),
            );
        };
        for ns in &manifests.namespaces {
            if let Some(name) = ns.metadata.name.as_deref() {
                note(name, ns.metadata.labels.as_ref());
            }
        }
        for ingress in &manifests.ingresses {
            note(
                ingress.metadata.namespace.as_deref().unwrap_or("default"),
                None,
            );
        }
        StaticCluster {
            ingress_classes: manifests
                .ingress_classes
                .iter()
                .cloned()
                .map(Arc::new)
                .collect(),
            ingress_class_params: manifests
                .ingress_class_params
                .iter()
                .cloned()
                .map(Arc::new)
                .collect(),
            namespaces,
            target_group_bindings: manifests
                .target_group_bindings
                .iter()
                .cloned()
                .map(Arc::new)
                .collect(),
            target_groups: Vec::new(),
            service_selectors: manifests
                .services
                .iter()
                .filter_map(|svc| {
                    let key = (
                        svc.metadata
                            .namespace
                            .clone()
                            .unwrap_or_else(|| "default".to_string()),
                        svc.metadata.name.clone()?,
                    );
                    Some((key, svc.spec.as_ref()?.selector.clone().unwrap_or_default()))
                })
                .collect(),
        }
    }
}

fn typed<T: DeserializeOwned>(kind: &str, value: serde_json::Value) -> Result<T, String> {
    let name = value
        .pointer("/metadata/name")
        .and_then(|n| n.as_str())
        .unwrap_or("<unnamed>")
        .to_string();
    serde_json::from_value(value).map_err(|e| format!("{kind} {name}: {e}"))
}

/// A Secret document as stored: `data` decoded from base64, `stringData` merged over it (the
/// API server does the same on write), keyed by `(namespace, name)`. Errors name the Secret
/// and the key, never a value.
fn secret(mut value: Value) -> Result<((String, String), Secret), String> {
    let name = value
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or("Secret has no metadata.name")?
        .to_owned();
    let namespace = value
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .unwrap_or("default")
        .to_owned();
    let which = format!("Secret {namespace}/{name}");
    let (data, string_data) = match value.as_object_mut() {
        Some(object) => (object.remove("data"), object.remove("stringData")),
        None => (None, None),
    };
    let mut merged: BTreeMap<String, ByteString> = BTreeMap::new();
    for (key, encoded) in entries(data, "data", &which)? {
        let decoded = serde_json::from_value::<ByteString>(Value::String(encoded))
            .map_err(|_| format!("{which}: data.{key} is not valid base64"))?;
        merged.insert(key, decoded);
    }
    for (key, plain) in entries(string_data, "stringData", &which)? {
        merged.insert(key, ByteString(plain.into_bytes()));
    }
    let mut secret: Secret = typed("Secret", value)?;
    secret.metadata.namespace = Some(namespace.clone());
    secret.data = (!merged.is_empty()).then_some(merged);
    secret.string_data = None;
    Ok(((namespace, name), secret))
}

/// The string entries of a Secret's `data` or `stringData` (absent or null: none).
fn entries(
    field: Option<Value>,
    field_name: &str,
    which: &str,
) -> Result<Vec<(String, String)>, String> {
    let map = match field {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(map)) => map,
        Some(_) => return Err(format!("{which}: {field_name} must be a map of strings")),
    };
    let mut out = Vec::with_capacity(map.len());
    for (key, value) in Map::into_iter(map) {
        match value {
            Value::String(s) => out.push((key, s)),
            _ => return Err(format!("{which}: {field_name}.{key} must be a string")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
