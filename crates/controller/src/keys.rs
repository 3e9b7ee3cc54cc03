//! Keys of namespaced objects in the controller's caches and queues.

use std::fmt;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;

/// `namespace/name` of a namespaced object (the namespace is empty for cluster-scoped ones).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjKey {
    pub namespace: String,
    pub name: String,
}

impl ObjKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            namespace: namespace.into(),
            name: name.into(),
        }
    }

    /// The key of an object from its metadata; `None` when it has no name.
    pub fn of<K: Resource>(object: &K) -> Option<Self> {
        Self::of_meta(object.meta())
    }

    /// The key from metadata; `None` when it has no name.
    pub fn of_meta(meta: &ObjectMeta) -> Option<Self> {
        let name = meta.name.as_deref()?;
        Some(Self::new(
            meta.namespace.as_deref().unwrap_or_default(),
            name,
        ))
    }
}

impl fmt::Display for ObjKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Service;

    #[test]
    fn key_of_object_and_display() {
        let mut svc = Service::default();
        assert_eq!(ObjKey::of(&svc), None);
        svc.metadata.name = Some("web".into());
        assert_eq!(
            ObjKey::of(&svc).map(|k| k.to_string()).as_deref(),
            Some("web")
        );
        svc.metadata.namespace = Some("ns".into());
        assert_eq!(ObjKey::of(&svc), Some(ObjKey::new("ns", "web")));
        assert_eq!(ObjKey::new("ns", "web").to_string(), "ns/web");
    }
}
