//! Reading Kubernetes manifests from files: multi-document YAML (or JSON), sorted by kind.
//!
//! Used by the offline commands (`plan`, the embedded demo) to build the same inputs the
//! controller gets from its watches.

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Namespace, Node, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::api::networking::v1::{Ingress, IngressClass};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::Arc;

use webhook::cluster::StaticCluster;
use webhook::crd::{IngressClassParams, TargetGroupBinding};

/// The objects found in a set of manifests, in file order.
#[derive(Clone, Debug, Default)]
pub struct Manifests {
    pub ingresses: Vec<Ingress>,
    pub ingress_classes: Vec<IngressClass>,
    pub ingress_class_params: Vec<IngressClassParams>,
    pub services: Vec<Service>,
    pub endpoint_slices: Vec<EndpointSlice>,
    pub nodes: Vec<Node>,
    pub namespaces: Vec<Namespace>,
    pub target_group_bindings: Vec<TargetGroupBinding>,
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
    /// Read every `.yaml`, `.yml` and `.json` file under the given files and directories
    /// (directories in name order, not recursive into hidden entries).
    pub fn load(paths: &[PathBuf]) -> Result<Manifests, ManifestError> {
        let mut manifests = Manifests::default();
        for path in paths {
            for file in files_under(path)? {
                let text = std::fs::read_to_string(&file).map_err(|source| ManifestError::Io {
                    path: file.clone(),
                    source,
                })?;
                manifests.add_documents(&file, &text)?;
            }
        }
        Ok(manifests)
    }

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

fn files_under(path: &Path) -> Result<Vec<PathBuf>, ManifestError> {
    let io = |source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    };
    if !path.is_dir() {
        return Ok(vec![path.to_path_buf()]);
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).map_err(io)? {
        let entry = entry.map_err(io)?;
        let child = entry.path();
        let hidden = child
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if hidden {
            continue;
        }
        if child.is_dir() {
            files.extend(files_under(&child)?);
        } else if matches!(
            child.extension().and_then(|e| e.to_str()),
            Some("yaml" | "yml" | "json")
        ) {
            files.push(child);
        }
    }
    files.sort();
    Ok(files)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_multi_document_streams_by_kind() {
        let text = r#"
apiVersion: networking.k8s.io/v1
kind: IngressClass
metadata: {name: alb}
spec: {controller: ingress.k8s.aws/alb}
---
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: shop}
  spec: {ports: [{port: 80}]}
- apiVersion: v1
  kind: ConfigMap
  metadata: {name: settings}
---
"#;
        let mut m = Manifests::default();
        m.add_documents(Path::new("test.yaml"), text)
            .expect("valid stream");
        assert_eq!(m.ingress_classes.len(), 1);
        assert_eq!(m.services.len(), 1);
        assert_eq!(m.skipped, vec!["ConfigMap".to_string()]);
    }

    #[test]
    fn errors_name_file_document_and_object() {
        let text = "kind: Service\nmetadata: {name: a}\n---\nkind: Ingress\nmetadata: {name: web}\nspec: {rules: oops}\n";
        let err = Manifests::default()
            .add_documents(Path::new("bad.yaml"), text)
            .expect_err("spec.rules is not a list");
        let message = err.to_string();
        assert!(
            message.starts_with("bad.yaml: document 1: Ingress web: "),
            "{message}"
        );
    }

    #[test]
    fn a_document_without_kind_is_an_error() {
        let err = Manifests::default()
            .add_documents(Path::new("x.yaml"), "metadata: {name: a}\n")
            .expect_err("no kind");
        assert_eq!(err.to_string(), "x.yaml: document 0: document has no kind");
    }
}
