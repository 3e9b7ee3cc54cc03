//! Cluster facts for offline commands: the controller's defaults, overlaid with `ClusterFacts`
//! documents from the manifests (objects merged key by key, everything else replaced).

use serde_json::Value;

use crate::ClusterFacts;

/// `base` with every overlay applied in order.
pub fn overlay(base: &ClusterFacts, overlays: &[Value]) -> Result<ClusterFacts, String> {
    let mut merged = serde_json::to_value(base).map_err(|e| e.to_string())?;
    for overlay in overlays {
        merge(&mut merged, overlay.clone());
    }
    serde_json::from_value(merged).map_err(|e| format!("invalid ClusterFacts: {e}"))
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(base), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(base.entry(key).or_insert(Value::Null), value);
            }
        }
        (base, patch) => *base = patch,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overlays_merge_objects_and_replace_lists() {
        let base = ClusterFacts::new("demo", "vpc-1");
        let overlays = [
            serde_json::json!({"vpcId": "vpc-2", "defaultTags": {"a": "1"}}),
            serde_json::json!({"defaultTags": {"b": "2"}, "subnets": []}),
        ];
        let facts = overlay(&base, &overlays).unwrap();
        assert_eq!(facts.vpc_id, "vpc-2");
        assert_eq!(facts.cluster_name, "demo");
        assert_eq!(facts.default_tags.len(), 2);
    }

    #[test]
    fn a_wrong_type_is_reported() {
        let base = ClusterFacts::new("demo", "vpc-1");
        let err = overlay(&base, &[serde_json::json!({"subnets": "all"})]).unwrap_err();
        assert!(err.starts_with("invalid ClusterFacts: "), "{err}");
    }
}
