//! IngressClassParams over annotations, with upstream's precedence.
//!
//! Fields of an IngressClassParams either replace an annotation outright (scheme, subnets,
//! certificateArn, ...: the annotation is ignored for every Ingress of the class) or merge with
//! it key by key (tags, load balancer and listener attributes: the params' keys win). The
//! annotation table records which field replaces which key ([`AnnotationSpec::params_field`]).

use crate::annotations::{self, AnnotationSpec, Annotations};
use crate::crd::IngressClassParamsSpec;

/// Fields merged key by key with their annotation (the params' keys win) rather than replacing it.
pub const MERGED_FIELDS: &[&str] = &["tags", "loadBalancerAttributes", "listeners"];

/// Legacy spelling of `prefixListsIDs` that upstream still accepts.
const LEGACY_PREFIX_LISTS_FIELD: &str = "PrefixListsIDs";

/// Problems in an IngressClassParams that make every Ingress of its class unbuildable.
pub fn check(spec: &IngressClassParamsSpec) -> Result<(), Vec<String>> {
    crate::params_check::validate(spec)
}

/// The annotations present on an Ingress that its IngressClassParams replaces, as
/// `(annotation key, params field)` pairs in key order.
pub fn overridden(
    anns: &Annotations,
    spec: &IngressClassParamsSpec,
) -> Vec<(String, &'static str)> {
    let Ok(fields) = serde_json::to_value(spec) else {
        return Vec::new();
    };
    // `field` may be a dotted path such as `group.name`.
    let is_set = |field: &str| {
        field
            .split('.')
            .try_fold(&fields, |value, part| value.get(part))
            .is_some_and(|v| !v.is_null())
    };
    anns.keys()
        .filter_map(|key| {
            let suffix = key.strip_prefix(annotations::PREFIX)?;
            let spec: &AnnotationSpec = annotations::lookup(suffix)?;
            let field = spec.params_field.filter(|f| !MERGED_FIELDS.contains(f))?;
            let set =
                is_set(field) || (field == "prefixListsIDs" && is_set(LEGACY_PREFIX_LISTS_FIELD));
            // An annotation that says what the parameters say (e.g. the target-type the mutating
            // webhook copied from them) loses nothing: no warning.
            let agrees = fields
                .get(field)
                .and_then(|v| v.as_str())
                .is_some_and(|v| anns.get(key).is_some_and(|a| a.trim() == v));
            (set && !agrees).then(|| (key.clone(), field))
        })
        .collect()
}
