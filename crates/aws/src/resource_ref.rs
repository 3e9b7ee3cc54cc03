//! The name of one stack resource in deploy results and errors: its type and its resource ID.

use std::fmt;

use model::stack::ResourceType;

/// A resource of the stack: its type and resource ID (the `ingress.k8s.aws/resource` tag).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
pub struct ResourceRef {
    #[serde(rename = "type", serialize_with = "type_name")]
    pub resource_type: ResourceType,
    pub id: String,
}

fn type_name<S: serde::Serializer>(t: &ResourceType, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(t.as_str())
}

impl ResourceRef {
    pub fn new(resource_type: ResourceType, id: impl Into<String>) -> Self {
        Self {
            resource_type,
            id: id.into(),
        }
    }
}

impl fmt::Display for ResourceRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.id.is_empty() {
            write!(f, "{} (no resource id)", self.resource_type)
        } else {
            write!(f, "{} {}", self.resource_type, self.id)
        }
    }
}
