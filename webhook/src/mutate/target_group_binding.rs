//! The TargetGroupBinding mutator (CREATE only): resolves `targetGroupName` to its ARN and
//! fills `targetType`, `ipAddressType`, `vpcID` and `targetGroupProtocol` from AWS when unset.
//!
//! The patch only adds fields the user left unset; one target-group lookup serves every default.

use json_patch::jsonptr::PointerBuf;
use json_patch::{AddOperation, Patch, PatchOperation};
use serde_json::Value;

use crate::validate::Op;
use crate::validate::target_group_binding::{TargetGroupMemo, describe_by_name};
use contract::cluster::TargetGroupLookup;
use contract::crd::{TargetGroupBinding, TargetType};

/// The JSON patch that completes a new binding, `None` when nothing is missing or on UPDATE.
pub async fn mutate(
    op: Op,
    tgb: &TargetGroupBinding,
    lookup: &dyn TargetGroupLookup,
) -> Result<Option<Patch>, String> {
    if op != Op::Create {
        return Ok(None);
    }
    let spec = &tgb.spec;
    let mut adds = Vec::new();
    let mut memo = match (spec.arn(), spec.name()) {
        (Some(_), _) => TargetGroupMemo::by_arn(lookup, spec),
        (None, Some(name)) => {
            let info = describe_by_name(lookup, name, spec.role_to_assume()).await?;
            adds.push(add("targetGroupARN", Value::String(info.arn.clone())));
            TargetGroupMemo::known(lookup, info)
        }
        (None, None) => {
            return Err("must provide either TargetGroupARN or TargetGroupName".to_string());
        }
    };

    if spec.target_type.is_none() {
        let info = memo
            .get()
            .await
            .map_err(|e| format!("couldn't determine TargetType: {e}"))?;
        let Some(target_type) = TargetType::from_wire(&info.target_type) else {
            return Err(format!("unsupported TargetType: {}", info.target_type));
        };
        adds.push(add("targetType", Value::from(target_type.as_str())));
    }
    if spec.ip_address_type.is_none() {
        let ip_address_type = memo
            .ip_address_type()
            .await
            .map_err(|e| format!("unable to get target group IP address type: {e}"))?;
        adds.push(add("ipAddressType", Value::from(ip_address_type.as_str())));
    }
    if spec.vpc().is_none() {
        let info = memo
            .get()
            .await
            .map_err(|e| format!("unable to get target group VpcID: {e}"))?;
        if !info.vpc_id.is_empty() {
            adds.push(add("vpcID", Value::String(info.vpc_id.clone())));
        }
    }
    if spec.target_group_protocol.is_none() {
        let info = memo
            .get()
            .await
            .map_err(|e| format!("couldn't determine TargetGroup protocol: {e}"))?;
        if !info.protocol.is_empty() {
            adds.push(add(
                "targetGroupProtocol",
                Value::String(info.protocol.clone()),
            ));
        }
    }
    if adds.is_empty() {
        Ok(None)
    } else {
        Ok(Some(Patch(adds)))
    }
}

/// `add` of `/spec/<field>`: the field is unset (or an empty string, which counts as unset).
fn add(field: &str, value: Value) -> PatchOperation {
    PatchOperation::Add(AddOperation {
        path: PointerBuf::from_tokens(["spec", field]),
        value,
    })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    use serde_json::json;

    use super::*;
    use contract::cluster::{LookupFuture, StaticCluster, TargetGroupInfo, TargetGroupRef};
    use contract::crd::{
        RoleToAssume, ServiceReference, TargetGroupBindingSpec, TargetGroupIpAddressType,
        TargetGroupProtocol,
    };

    const ARN: &str =
        "arn:aws:elasticloadbalancing:us-west-2:123456789012:targetgroup/web/0123456789abcdef";

    fn target_group(target_type: &str, ip: &str, protocol: &str) -> TargetGroupInfo {
        TargetGroupInfo {
            arn: ARN.to_string(),
            name: "web".to_string(),
            target_type: target_type.to_string(),
            ip_address_type: ip.to_string(),
            vpc_id: "vpc-0123456789abcdef0".to_string(),
            protocol: protocol.to_string(),
        }
    }

    fn aws(groups: Vec<TargetGroupInfo>) -> StaticCluster {
        StaticCluster {
            target_groups: groups,
            ..Default::default()
        }
    }

    fn binding(spec: TargetGroupBindingSpec) -> TargetGroupBinding {
        TargetGroupBinding::new("web", spec)
    }

    fn by_arn() -> TargetGroupBindingSpec {
        TargetGroupBindingSpec {
            target_group_arn: Some(ARN.to_string()),
            service_ref: ServiceReference {
                name: "web".to_string(),
                port: IntOrString::Int(80),
            },
            ..Default::default()
        }
    }

    /// Apply the patch to the object's JSON and read the spec back.
    fn patched(tgb: &TargetGroupBinding, patch: &Patch) -> TargetGroupBindingSpec {
        let mut doc = serde_json::to_value(tgb).unwrap();
        json_patch::patch(&mut doc, patch).unwrap();
        serde_json::from_value::<TargetGroupBinding>(doc)
            .unwrap()
            .spec
    }

    /// Counts calls and keeps the last role asked for, answering from a StaticCluster.
    struct Counting {
        inner: StaticCluster,
        calls: AtomicUsize,
        roles: std::sync::Mutex<Vec<(String, Option<String>)>>,
    }

    impl Counting {
        fn new(inner: StaticCluster) -> Self {
            Self {
                inner,
                calls: AtomicUsize::new(0),
                roles: std::sync::Mutex::default(),
            }
        }
    }

    impl TargetGroupLookup for Counting {
        fn describe<'a>(
            &'a self,
            target: &'a TargetGroupRef,
            assume_role: Option<RoleToAssume<'a>>,
        ) -> LookupFuture<'a> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if let Some(role) = assume_role {
                self.roles.lock().unwrap().push((
                    role.role_arn.to_owned(),
                    role.external_id.map(str::to_owned),
                ));
            }
            self.inner.describe(target, assume_role)
        }
    }

    #[tokio::test]
    async fn update_is_left_alone() {
        let tgb = binding(TargetGroupBindingSpec::default());
        assert_eq!(mutate(Op::Update, &tgb, &aws(vec![])).await, Ok(None));
    }

    #[tokio::test]
    async fn the_lookup_assumes_the_bindings_role_with_its_external_id() {
        let lookup = Counting::new(aws(vec![target_group("ip", "ipv4", "HTTP")]));
        let mut spec = by_arn();
        spec.target_group_arn = None;
        spec.target_group_name = Some("web".to_owned());
        spec.iam_role_arn_to_assume = Some("arn:aws:iam::999999999999:role/lbc".to_owned());
        spec.assume_role_external_id = Some("shared-secret".to_owned());
        mutate(Op::Create, &binding(spec), &lookup).await.unwrap();
        assert_eq!(
            *lookup.roles.lock().unwrap(),
            [(
                "arn:aws:iam::999999999999:role/lbc".to_owned(),
                Some("shared-secret".to_owned())
            )]
        );
    }

    #[tokio::test]
    async fn arn_or_name_is_required() {
        let mut spec = by_arn();
        spec.target_group_arn = Some(String::new());
        assert_eq!(
            mutate(Op::Create, &binding(spec), &aws(vec![])).await,
            Err("must provide either TargetGroupARN or TargetGroupName".to_string())
        );
    }

    #[tokio::test]
    async fn all_defaults_come_from_one_lookup() {
        let lookup = Counting::new(aws(vec![target_group("ip", "ipv6", "HTTP")]));
        let tgb = binding(by_arn());
        let patch = mutate(Op::Create, &tgb, &lookup).await.unwrap().unwrap();
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 1);
        let spec = patched(&tgb, &patch);
        assert_eq!(spec.target_type, Some(TargetType::Ip));
        assert_eq!(spec.ip_address_type, Some(TargetGroupIpAddressType::Ipv6));
        assert_eq!(spec.vpc_id.as_deref(), Some("vpc-0123456789abcdef0"));
        assert_eq!(spec.target_group_protocol, Some(TargetGroupProtocol::Http));
        assert_eq!(spec.target_group_arn.as_deref(), Some(ARN));
    }

    #[tokio::test]
    async fn name_is_resolved_to_arn_without_a_second_lookup() {
        let lookup = Counting::new(aws(vec![target_group("instance", "ipv4", "TCP")]));
        let mut spec = by_arn();
        spec.target_group_arn = None;
        spec.target_group_name = Some("web".to_string());
        let tgb = binding(spec);
        let patch = mutate(Op::Create, &tgb, &lookup).await.unwrap().unwrap();
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 1);
        let value = serde_json::to_value(&patch).unwrap();
        assert_eq!(
            value[0],
            json!({"op": "add", "path": "/spec/targetGroupARN", "value": ARN})
        );
        let spec = patched(&tgb, &patch);
        assert_eq!(spec.target_group_arn.as_deref(), Some(ARN));
        assert_eq!(spec.target_type, Some(TargetType::Instance));
        assert_eq!(spec.ip_address_type, Some(TargetGroupIpAddressType::Ipv4));
    }

    #[tokio::test]
    async fn unknown_name_fails_with_the_lookup_error() {
        let mut spec = by_arn();
        spec.target_group_arn = None;
        spec.target_group_name = Some("missing".to_string());
        assert_eq!(
            mutate(Op::Create, &binding(spec), &aws(vec![])).await,
            Err("expecting a single targetGroup with query [missing] but got 0".to_string())
        );
    }

    #[tokio::test]
    async fn set_fields_are_never_overwritten() {
        let lookup = Counting::new(aws(vec![target_group("ip", "ipv6", "HTTPS")]));
        let mut spec = by_arn();
        spec.target_type = Some(TargetType::Instance);
        spec.ip_address_type = Some(TargetGroupIpAddressType::Ipv4);
        spec.vpc_id = Some("vpc-11111111".to_string());
        spec.target_group_protocol = Some(TargetGroupProtocol::Tcp);
        let tgb = binding(spec);
        assert_eq!(mutate(Op::Create, &tgb, &lookup).await, Ok(None));
        assert_eq!(lookup.calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn only_missing_fields_are_added() {
        let mut spec = by_arn();
        spec.target_type = Some(TargetType::Ip);
        spec.target_group_protocol = Some(TargetGroupProtocol::Http);
        let tgb = binding(spec);
        let lookup = aws(vec![target_group("ip", "", "HTTP")]);
        let patch = mutate(Op::Create, &tgb, &lookup).await.unwrap().unwrap();
        let paths: Vec<String> = patch
            .0
            .iter()
            .map(|op| match op {
                PatchOperation::Add(add) => add.path.to_string(),
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(paths, ["/spec/ipAddressType", "/spec/vpcID"]);
        // AWS's empty IP address type means IPv4.
        assert_eq!(
            patched(&tgb, &patch).ip_address_type,
            Some(TargetGroupIpAddressType::Ipv4)
        );
    }

    #[tokio::test]
    async fn lambda_target_groups_are_refused() {
        let tgb = binding(by_arn());
        assert_eq!(
            mutate(Op::Create, &tgb, &aws(vec![target_group("lambda", "", "")])).await,
            Err("unsupported TargetType: lambda".to_string())
        );
    }

    #[tokio::test]
    async fn lookup_failure_is_wrapped_per_default() {
        let tgb = binding(by_arn());
        let missing = format!("expecting a single targetGroup with query [{ARN}] but got 0");
        assert_eq!(
            mutate(Op::Create, &tgb, &aws(vec![])).await,
            Err(format!("couldn't determine TargetType: {missing}"))
        );
        let mut spec = by_arn();
        spec.target_type = Some(TargetType::Ip);
        assert_eq!(
            mutate(Op::Create, &binding(spec.clone()), &aws(vec![])).await,
            Err(format!(
                "unable to get target group IP address type: {missing}"
            ))
        );
        spec.ip_address_type = Some(TargetGroupIpAddressType::Ipv4);
        assert_eq!(
            mutate(Op::Create, &binding(spec.clone()), &aws(vec![])).await,
            Err(format!("unable to get target group VpcID: {missing}"))
        );
        spec.vpc_id = Some("vpc-11111111".to_string());
        assert_eq!(
            mutate(Op::Create, &binding(spec), &aws(vec![])).await,
            Err(format!(
                "couldn't determine TargetGroup protocol: {missing}"
            ))
        );
    }

    #[tokio::test]
    async fn unsupported_ip_address_type_is_refused() {
        let mut spec = by_arn();
        spec.target_type = Some(TargetType::Ip);
        let tgb = binding(spec);
        assert_eq!(
            mutate(
                Op::Create,
                &tgb,
                &aws(vec![target_group("ip", "dualstack", "TCP")])
            )
            .await,
            Err(
                "unable to get target group IP address type: unsupported IPAddressType: dualstack"
                    .to_string()
            )
        );
    }
}
