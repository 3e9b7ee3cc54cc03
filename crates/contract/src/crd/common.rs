//! Types shared by both custom resources of the `elbv2.k8s.aws` group.

use std::fmt;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How a target group reaches the pods behind it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TargetType {
    // Nodes are registered on the Service's NodePort. (Plain comments on variants: doc comments
    // would turn the schema's `enum` into a `oneOf`.)
    #[serde(rename = "instance")]
    Instance,
    // Pod IPs are registered on the container port.
    #[serde(rename = "ip")]
    Ip,
}

impl TargetType {
    /// The wire value (`instance` or `ip`).
    pub fn as_str(self) -> &'static str {
        match self {
            TargetType::Instance => "instance",
            TargetType::Ip => "ip",
        }
    }

    /// Parse the wire value, as AWS and the annotations spell it.
    pub fn from_wire(value: &str) -> Option<TargetType> {
        match value {
            "instance" => Some(TargetType::Instance),
            "ip" => Some(TargetType::Ip),
            _ => None,
        }
    }
}

impl fmt::Display for TargetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An AWS tag put on the resources the controller creates.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// One attribute of a load balancer or listener, as ELBv2 names it.
#[derive(Serialize, Deserialize, JsonSchema, Clone, Debug, Default, PartialEq, Eq)]
pub struct Attribute {
    /// Attribute key, e.g. `idle_timeout.timeout_seconds`.
    pub key: String,
    /// Attribute value.
    pub value: String,
}
