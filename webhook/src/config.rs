//! The controller-wide settings admission depends on.

/// Controller-wide settings the admission rules depend on (mirrors the controller's flags).
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// `--ingress-class` (default `alb`); empty means "also class-less Ingresses".
    pub ingress_class: String,
    /// `--default-target-type` (`instance` or `ip`).
    pub default_target_type: String,
    /// `--disable-ingress-class-annotation`.
    pub disable_ingress_class_annotation: bool,
    /// `--disable-ingress-group-name-annotation`.
    pub disable_ingress_group_name_annotation: bool,
    /// `--external-managed-tags`: tag keys users may not set.
    pub external_managed_tags: Vec<String>,
    /// `--aws-vpc-id`: the cluster's VPC, the default for a TargetGroupBinding's `vpcID`.
    pub vpc_id: Option<String>,
    /// `--enable-pod-readiness-gate-inject`.
    pub enable_pod_readiness_gate_inject: bool,
    /// `--load-balancer-class` (default [`DEFAULT_LOAD_BALANCER_CLASS`]): the
    /// `spec.loadBalancerClass` of the Services this controller takes, which the Service
    /// mutator gives new LoadBalancer Services that name none.
    pub load_balancer_class: String,
    /// The `ServiceTypeLoadBalancerOnly` feature gate: only `type: LoadBalancer` Services are
    /// ours, whatever their annotations say.
    pub service_type_load_balancer_only: bool,
}

/// Upstream's default `--load-balancer-class`.
pub use contract::service::DEFAULT_LOAD_BALANCER_CLASS;

impl Default for WebhookConfig {
    fn default() -> Self {
        WebhookConfig {
            ingress_class: "alb".to_string(),
            default_target_type: "instance".to_string(),
            disable_ingress_class_annotation: false,
            disable_ingress_group_name_annotation: false,
            external_managed_tags: Vec::new(),
            vpc_id: None,
            enable_pod_readiness_gate_inject: true,
            load_balancer_class: DEFAULT_LOAD_BALANCER_CLASS.to_string(),
            service_type_load_balancer_only: false,
        }
    }
}
