//! Command line: upstream's flag names, with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use aws_io::endpoints::EndpointOverrides;
use aws_io::throttle::{ThrottleConfig, ThrottleConfigError};

/// AWS Load Balancer Controller: admission webhook and reconciling controller in one process.
#[derive(Debug, Parser)]
#[command(name = "aws-load-balancer-controller", version)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the admission webhook against the cluster in KUBECONFIG / the pod's service account.
    Serve(ServeArgs),
    /// Offline: run the admission webhook over manifests and print each Ingress's verdict.
    Check(CheckArgs),
    /// Offline: validate manifests like the webhook, then print the AWS stack each IngressGroup
    /// needs. `ClusterFacts` documents among the manifests describe the VPC (subnets, certificates).
    Plan(PlanArgs),
    /// The embedded default: with no cluster configured, check the bundled examples;
    /// with KUBECONFIG set, serve against that cluster.
    Run(ServeArgs),
}

/// Controller-wide settings shared by every command.
#[derive(Clone, Debug, Args)]
pub struct ControllerArgs {
    /// Name of the Kubernetes cluster (part of every AWS name hash and ownership tag).
    #[arg(long, env = "CLUSTER_NAME", default_value = "")]
    pub cluster_name: String,
    /// The IngressClass name this controller handles; empty also takes class-less Ingresses.
    #[arg(long, env = "INGRESS_CLASS", default_value = "alb")]
    pub ingress_class: String,
    /// Target type for Ingresses that set none (`instance` or `ip`).
    #[arg(long, env = "DEFAULT_TARGET_TYPE", default_value = "instance",
          value_parser = ["instance", "ip"])]
    pub default_target_type: String,
    /// The cluster's VPC; default: the one VPC matching `--aws-vpc-tags`, else this instance's
    /// VPC from instance metadata.
    #[arg(long, env = "AWS_VPC_ID")]
    pub aws_vpc_id: Option<String>,
    /// Tags that identify the cluster's VPC when `--aws-vpc-id` is absent (`k1=v1,k2=v2`):
    /// exactly one VPC must carry all of them.
    #[arg(long, env = "AWS_VPC_TAGS", value_delimiter = ',', value_parser = parse_tag)]
    pub aws_vpc_tags: Vec<(String, String)>,
    /// Refuse new uses of the `kubernetes.io/ingress.class` annotation.
    #[arg(long, env = "DISABLE_INGRESS_CLASS_ANNOTATION")]
    pub disable_ingress_class_annotation: bool,
    /// Refuse new uses of the `alb.ingress.kubernetes.io/group.name` annotation.
    #[arg(long, env = "DISABLE_INGRESS_GROUP_NAME_ANNOTATION")]
    pub disable_ingress_group_name_annotation: bool,
    /// Tag keys managed outside the controller, which users may not set (comma separated).
    #[arg(long, env = "EXTERNAL_MANAGED_TAGS", value_delimiter = ',')]
    pub external_managed_tags: Vec<String>,
    /// Upstream's feature gates, `Name=true|false,...`. Gates this controller implements take
    /// effect; the others are accepted and named in one startup warning.
    #[arg(long, env = "FEATURE_GATES", value_delimiter = ',', value_parser = parse_gate)]
    pub feature_gates: Vec<(String, bool)>,
    /// SSL policy of HTTPS listeners that name none.
    #[arg(long, env = "DEFAULT_SSL_POLICY", default_value = model::DEFAULT_SSL_POLICY)]
    pub default_ssl_policy: String,
    /// Scheme of load balancers that name none.
    #[arg(long, env = "DEFAULT_LOAD_BALANCER_SCHEME", default_value = "internal",
          value_parser = ["internal", "internet-facing"])]
    pub default_load_balancer_scheme: String,
    /// A backend Service that does not exist is a 503 rule instead of an error.
    #[arg(long, env = "TOLERATE_NON_EXISTENT_BACKEND_SERVICE", default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tolerate_non_existent_backend_service: bool,
    /// A `use-annotation` backend whose `actions.*` annotation is missing is a 503 rule instead
    /// of an error.
    #[arg(long, env = "TOLERATE_NON_EXISTENT_BACKEND_ACTION", default_value_t = true,
          num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub tolerate_non_existent_backend_action: bool,
    /// Manage the backend security group's rules even for load balancers with user-given
    /// security groups (`manage-backend-security-group-rules` defaults to this).
    #[arg(long, env = "ENABLE_MANAGE_BACKEND_SECURITY_GROUP_RULES", default_value_t = false,
          num_args = 0..=1, default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_manage_backend_security_group_rules: bool,
    /// The `spec.loadBalancerClass` of the Services this controller takes; the Service mutating
    /// webhook gives it to new LoadBalancer Services that name no class.
    #[arg(long, env = "LOAD_BALANCER_CLASS",
          default_value = webhook::config::DEFAULT_LOAD_BALANCER_CLASS)]
    pub load_balancer_class: String,
}

/// A bind address as upstream spells it: `host:port`, or `:port` for every interface.
pub fn parse_bind_addr(text: &str) -> Result<SocketAddr, String> {
    let full = match text.strip_prefix(':') {
        Some(port) => format!("0.0.0.0:{port}"),
        None => text.to_owned(),
    };
    full.parse()
        .map_err(|e| format!("invalid address {text:?}: {e} (want host:port or :port)"))
}

/// `Name=true|false` of `--feature-gates`.
pub fn parse_gate(text: &str) -> Result<(String, bool), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or_else(|| format!("invalid feature gate {text:?}: want Name=true|false"))?;
    let on = value
        .trim()
        .parse::<bool>()
        .map_err(|_| format!("invalid feature gate {text:?}: want Name=true|false"))?;
    Ok((name.trim().to_owned(), on))
}

impl ControllerArgs {
    /// The model's facts that these flags decide, for `serve` and `plan` alike (the webhook
    /// gets the same flags through [`Self::webhook_config`]).
    pub fn model_facts(&self, vpc_id: String) -> model::ClusterFacts {
        let mut facts = model::ClusterFacts::new(self.cluster_name.clone(), vpc_id);
        facts.ingress_class = self.ingress_class.clone();
        facts.load_balancer_class = self.load_balancer_class.clone();
        facts.external_managed_tags = self.external_managed_tags.iter().cloned().collect();
        if self.default_target_type == "ip" {
            facts.default_target_type = model::stack::TargetType::Ip;
        }
        facts.default_ssl_policy = self.default_ssl_policy.clone();
        if self.default_load_balancer_scheme == "internet-facing" {
            facts.default_scheme = model::stack::Scheme::InternetFacing;
        }
        facts.tolerate_non_existent_backend_service = self.tolerate_non_existent_backend_service;
        facts.tolerate_non_existent_backend_action = self.tolerate_non_existent_backend_action;
        facts.enable_manage_backend_security_group_rules =
            self.enable_manage_backend_security_group_rules;
        for (gate, on) in &self.feature_gates {
            facts.features.set(gate, *on);
        }
        facts
    }

    /// Which Services become NLBs: `--load-balancer-class` and the `ServiceTypeLoadBalancerOnly`
    /// gate.
    pub fn service_selection(&self) -> contract::service::Selection {
        self.model_facts(String::new()).service_selection()
    }

    /// The `--feature-gates` this controller has no behaviour for (accepted, warned about).
    pub fn unknown_feature_gates(&self) -> Vec<String> {
        let mut probe = model::FeatureFlags::default();
        self.feature_gates
            .iter()
            .filter(|(gate, on)| !probe.set(gate, *on))
            .map(|(gate, _)| gate.clone())
            .collect()
    }

    pub fn webhook_config(&self) -> webhook::admission::WebhookConfig {
        webhook::admission::WebhookConfig {
            ingress_class: self.ingress_class.clone(),
            default_target_type: self.default_target_type.clone(),
            disable_ingress_class_annotation: self.disable_ingress_class_annotation,
            disable_ingress_group_name_annotation: self.disable_ingress_group_name_annotation,
            external_managed_tags: self.external_managed_tags.clone(),
            vpc_id: self.aws_vpc_id.clone(),
            enable_pod_readiness_gate_inject: true,
            load_balancer_class: self.load_balancer_class.clone(),
            service_type_load_balancer_only: self.service_selection().load_balancer_type_only,
        }
    }
}

#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Port of the HTTPS admission webhook server.
    #[arg(long, env = "WEBHOOK_BIND_PORT", default_value_t = 9443)]
    pub webhook_bind_port: u16,
    /// Address the webhook binds (all interfaces in a pod).
    #[arg(long, env = "WEBHOOK_BIND_ADDR", default_value = "0.0.0.0")]
    pub webhook_bind_addr: std::net::IpAddr,
    /// Directory holding the webhook's certificate and key (a mounted Secret).
    #[arg(
        long,
        env = "WEBHOOK_CERT_DIR",
        default_value = "/tmp/k8s-webhook-server/serving-certs"
    )]
    pub webhook_cert_dir: PathBuf,
    /// Certificate file name inside the cert dir.
    #[arg(long, env = "WEBHOOK_CERT_FILE", default_value = "tls.crt")]
    pub webhook_cert_file: String,
    /// Key file name inside the cert dir.
    #[arg(long, env = "WEBHOOK_KEY_FILE", default_value = "tls.key")]
    pub webhook_key_file: String,
    /// Address of the Prometheus `/metrics` endpoint.
    #[arg(long, env = "METRICS_BIND_ADDR", default_value = "0.0.0.0:8080",
          value_parser = parse_bind_addr)]
    pub metrics_bind_addr: SocketAddr,
    #[command(flatten)]
    pub reconcile: ReconcileArgs,
}

/// The reconciling controllers' flags (upstream's names).
#[derive(Clone, Debug, Args)]
pub struct ReconcileArgs {
    /// Elect a leader among replicas; only the leader reconciles (`--enable-leader-election=false`
    /// makes every replica reconcile).
    #[arg(long, env = "ENABLE_LEADER_ELECTION", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_leader_election: bool,
    /// Name of the Lease used for leader election.
    #[arg(
        long,
        env = "LEADER_ELECTION_ID",
        default_value = "aws-load-balancer-controller-leader"
    )]
    pub leader_election_id: String,
    /// Namespace of the Lease; default: the pod's namespace.
    #[arg(long, env = "LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// How often every IngressGroup and TargetGroupBinding is reconciled regardless of changes
    /// (catches drift made outside Kubernetes), e.g. `10h`, `30m`, `90s`.
    #[arg(long, env = "SYNC_PERIOD", default_value = "10h", value_parser = parse_duration)]
    pub sync_period: std::time::Duration,
    /// Tags added to every AWS resource (`k1=v1,k2=v2`).
    #[arg(long, env = "DEFAULT_TAGS", value_delimiter = ',', value_parser = parse_tag)]
    pub default_tags: Vec<(String, String)>,
    /// Tags (`k1=v1,k2=v2`) that, on top of `kubernetes.io/cluster/<cluster>`, pick the
    /// security group taking TargetGroupBinding networking rules when a target ENI has several.
    #[arg(
        long,
        env = "SERVICE_TARGET_ENI_SECURITY_GROUP_TAGS",
        value_delimiter = ',',
        value_parser = parse_tag
    )]
    pub service_target_eni_security_group_tags: Vec<(String, String)>,
    /// AWS region; default: from the environment (`AWS_REGION`, profile).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
    /// Address of the plain-HTTP health probes (`/healthz`, `/readyz`).
    #[arg(long, env = "HEALTH_PROBE_BIND_ADDR", default_value = "0.0.0.0:61779",
          value_parser = parse_bind_addr)]
    pub health_probe_bind_addr: SocketAddr,
    /// Concurrent IngressGroup reconciles.
    #[arg(long, env = "INGRESS_MAX_CONCURRENT_RECONCILES", default_value_t = 3)]
    pub ingress_max_concurrent_reconciles: usize,
    /// Concurrent Service (NLB) reconciles.
    #[arg(long, env = "SERVICE_MAX_CONCURRENT_RECONCILES", default_value_t = 3)]
    pub service_max_concurrent_reconciles: usize,
    /// Concurrent TargetGroupBinding reconciles.
    #[arg(
        long,
        env = "TARGETGROUPBINDING_MAX_CONCURRENT_RECONCILES",
        default_value_t = 3
    )]
    pub targetgroupbinding_max_concurrent_reconciles: usize,
    /// Inject `target-health.elbv2.k8s.aws/<binding>` readiness gates into new pods.
    #[arg(long, env = "ENABLE_POD_READINESS_GATE_INJECT", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_pod_readiness_gate_inject: bool,
    /// Open every TCP port (not just the traffic and health-check ports) from the backend
    /// security group on the targets' security groups, and keep the targets' rules from one
    /// source group apart instead of merging them into one port range.
    #[arg(long, env = "DISABLE_RESTRICTED_SG_RULES", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub disable_restricted_sg_rules: bool,
    /// Attach one shared backend security group per cluster to every load balancer with a
    /// managed security group, and allow traffic to the targets from it.
    #[arg(long, env = "ENABLE_BACKEND_SECURITY_GROUP", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_backend_security_group: bool,
    /// The backend security group to use; default: the one this controller finds by its tags
    /// in the VPC, or creates (`k8s-traffic-<cluster>-<hash>`).
    #[arg(long, env = "BACKEND_SECURITY_GROUP")]
    pub backend_security_group: Option<String>,
    /// Apply the `wafv2-acl-arn` / `wafv2-acl-name` settings (WAFv2 Web ACL associations).
    #[arg(long, env = "ENABLE_WAFV2", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_wafv2: bool,
    /// Apply the `waf-acl-id` setting (WAF Classic regional Web ACL associations).
    #[arg(long, env = "ENABLE_WAF", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_waf: bool,
    /// Apply the `shield-advanced-protection` setting (Shield Advanced protections; only while
    /// the account's Shield Advanced subscription is active).
    #[arg(long, env = "ENABLE_SHIELD", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_shield: bool,
    /// Namespace whose Ingresses, Services, EndpointSlices, Pods and TargetGroupBindings are
    /// watched (and so reconciled); empty: all namespaces.
    #[arg(long, env = "WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Log level (`info` or `debug`, upstream's values); `RUST_LOG` wins when set.
    #[arg(long, env = "LOG_LEVEL", default_value = "info", value_parser = ["info", "debug"])]
    pub log_level: String,
    /// Retries of a throttled or failed AWS call (upstream's default 10).
    #[arg(long, env = "AWS_MAX_RETRIES", default_value_t = 10)]
    pub aws_max_retries: u32,
    /// Longest back-off between failed reconciles of a TargetGroupBinding.
    #[arg(long, env = "TARGETGROUPBINDING_MAX_EXPONENTIAL_BACKOFF_DELAY", default_value = "1000s",
          value_parser = parse_duration)]
    pub targetgroupbinding_max_exponential_backoff_delay: std::time::Duration,
    /// Client-side AWS API rate limits, `serviceID:operationRegex=rate:burst[,...]` (SDK service
    /// IDs, e.g. `Elastic Load Balancing v2:^RegisterTargets=4:20`). A service named here loses
    /// upstream's default limits; the others keep theirs.
    #[arg(long, env = "AWS_API_THROTTLE", value_parser = parse_throttle,
          default_value = "", hide_default_value = true)]
    pub aws_api_throttle: ThrottleConfig,
    /// Per-service AWS endpoints, `serviceID=URL[,...]` (`EC2`, `Elastic Load Balancing v2`,
    /// `ACM`, `WAFV2`, `WAF Regional`, `Shield`, `STS`, `Resource Groups Tagging API`, or their
    /// endpoint prefixes `ec2`, `elasticloadbalancing`, ...).
    #[arg(long, env = "AWS_API_ENDPOINTS", value_parser = parse_endpoints,
          default_value = "", hide_default_value = true)]
    pub aws_api_endpoints: EndpointOverrides,
    /// Certificate authorities (ACM PCA ARNs, comma-separated) whose certificates certificate
    /// discovery may pick; empty: every issued certificate.
    #[arg(
        long,
        env = "ALLOWED_CERTIFICATE_AUTHORITY_ARNS",
        value_delimiter = ','
    )]
    pub allowed_certificate_authority_arns: Vec<String>,
    /// Upstream's switch between EndpointSlices and the v1 Endpoints API. EndpointSlices are
    /// always used here (Endpoints is deprecated since Kubernetes 1.33); `false` is accepted
    /// with a startup warning.
    #[arg(long, env = "ENABLE_ENDPOINT_SLICES", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    pub enable_endpoint_slices: bool,
}

impl ReconcileArgs {
    /// The AWS clients' settings these flags ask for.
    pub fn aws_settings(&self) -> aws_io::AwsSettings {
        aws_io::AwsSettings {
            region: self.aws_region.clone(),
            max_attempts: self.aws_max_retries.saturating_add(1),
            throttle: self.aws_api_throttle.clone(),
            endpoints: self.aws_api_endpoints.clone(),
            ..aws_io::AwsSettings::default()
        }
    }

    /// Warnings about flags taken but (partly) without effect, for the startup log.
    pub fn startup_warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if !self.aws_api_endpoints.unknown().is_empty() {
            warnings.push(format!(
                "--aws-api-endpoints names services this controller does not call, ignored: {}",
                self.aws_api_endpoints.unknown().join(", ")
            ));
        }
        if !self.enable_endpoint_slices {
            warnings.push(
                "--enable-endpoint-slices=false ignored: targets always come from EndpointSlices \
                 (the v1 Endpoints API is deprecated since Kubernetes 1.33)"
                    .to_owned(),
            );
        }
        warnings
    }
}

/// `--aws-api-throttle`: upstream's defaults with the given services' rules replacing theirs.
fn parse_throttle(text: &str) -> Result<ThrottleConfig, String> {
    text.parse().map_err(|e: ThrottleConfigError| e.to_string())
}

/// `--aws-api-endpoints`.
fn parse_endpoints(text: &str) -> Result<EndpointOverrides, String> {
    EndpointOverrides::parse(text).map_err(|e| e.to_string())
}

/// Parses `10h`, `30m`, `90s`, `1h30m`, `500ms` (a bare number is seconds).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    let text = text.trim();
    if let Ok(secs) = text.parse::<u64>() {
        return Ok(std::time::Duration::from_secs(secs));
    }
    let mut total = std::time::Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let (number, tail) = rest.split_at(digits);
        let value: u64 = number
            .parse()
            .map_err(|_| format!("invalid duration {text:?}: want e.g. 10h, 30m, 90s"))?;
        let unit_len = tail
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(tail.len());
        let (unit, next) = tail.split_at(unit_len);
        let step = match unit {
            "h" => std::time::Duration::from_secs(value.saturating_mul(3600)),
            "m" => std::time::Duration::from_secs(value.saturating_mul(60)),
            "s" => std::time::Duration::from_secs(value),
            "ms" => std::time::Duration::from_millis(value),
            _ => {
                return Err(format!(
                    "invalid duration {text:?}: unknown unit {unit:?} (h, m, s, ms)"
                ));
            }
        };
        total = total.saturating_add(step);
        rest = next;
    }
    if total.is_zero() {
        return Err(format!("invalid duration {text:?}: must be positive"));
    }
    Ok(total)
}

/// Parses one `key=value` tag.
pub fn parse_tag(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((key, value)) if !key.trim().is_empty() => {
            Ok((key.trim().to_owned(), value.trim().to_owned()))
        }
        _ => Err(format!("invalid tag {text:?}: want key=value")),
    }
}

#[derive(Clone, Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Manifest files or directories (multi-document YAML or JSON).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Clone, Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub controller: ControllerArgs,
    /// Manifest files or directories (multi-document YAML or JSON).
    #[arg(short = 'f', long = "filename", required = true)]
    pub files: Vec<PathBuf>,
    /// Output format.
    #[arg(short = 'o', long = "output", default_value = "table", value_parser = ["table", "json"])]
    pub output: String,
    /// Compare with AWS: show what deploying the planned stacks would create, modify and delete
    /// (and which stacks of the cluster in AWS are no longer planned), with read calls only.
    /// Needs credentials; the endpoint may be set with `AWS_ENDPOINT_URL`.
    #[arg(long)]
    pub diff: bool,
    /// AWS region for `--diff`; default: from the environment (`AWS_REGION`, profile).
    #[arg(long, env = "AWS_REGION")]
    pub aws_region: Option<String>,
}

#[cfg(test)]
mod reconcile_flag_tests {
    use std::time::Duration;

    use clap::Parser as _;

    use super::*;

    #[test]
    fn durations_and_tags_parse() {
        assert_eq!(parse_duration("10h"), Ok(Duration::from_secs(36_000)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5_400)));
        assert_eq!(parse_duration("90"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("10d").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("0s").is_err());
        assert_eq!(parse_tag("team=web"), Ok(("team".into(), "web".into())));
        assert!(parse_tag("=x").is_err());
        assert!(parse_tag("novalue").is_err());
    }

    #[test]
    fn reconcile_flags_have_upstream_defaults_and_accept_overrides() {
        let cli = Cli::try_parse_from(["lbc", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        let r = &args.reconcile;
        assert!(r.enable_leader_election);
        assert_eq!(r.leader_election_id, "aws-load-balancer-controller-leader");
        assert_eq!(r.sync_period, Duration::from_secs(36_000));
        assert_eq!(r.ingress_max_concurrent_reconciles, 3);
        assert_eq!(r.service_max_concurrent_reconciles, 3);
        assert_eq!(r.health_probe_bind_addr.port(), 61779);
        let cli = Cli::try_parse_from([
            "lbc",
            "serve",
            "--enable-leader-election=false",
            "--sync-period=30m",
            "--default-tags=a=1,b=2",
            "--targetgroupbinding-max-concurrent-reconciles=7",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert!(!args.reconcile.enable_leader_election);
        assert_eq!(args.reconcile.sync_period, Duration::from_secs(1800));
        assert_eq!(
            args.reconcile.default_tags,
            [("a".into(), "1".into()), ("b".into(), "2".into())]
        );
        assert_eq!(
            args.reconcile.targetgroupbinding_max_concurrent_reconciles,
            7
        );
    }

    #[test]
    fn service_target_eni_security_group_tags_parse_like_default_tags() {
        let cli = Cli::try_parse_from(["lbc", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert!(
            args.reconcile
                .service_target_eni_security_group_tags
                .is_empty()
        );
        let cli = Cli::try_parse_from([
            "lbc",
            "serve",
            "--service-target-eni-security-group-tags=role=pod,team=web",
        ])
        .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(
            args.reconcile.service_target_eni_security_group_tags,
            [("role".into(), "pod".into()), ("team".into(), "web".into())]
        );
        let err = Cli::try_parse_from([
            "lbc",
            "serve",
            "--service-target-eni-security-group-tags=role",
        ])
        .expect_err("a tag without a value");
        assert!(
            err.to_string()
                .contains("invalid tag \"role\": want key=value"),
            "{err}"
        );
    }

    #[test]
    fn aws_vpc_tags_parse_like_default_tags() {
        let cli = Cli::try_parse_from(["lbc", "serve"]).expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert!(args.controller.aws_vpc_tags.is_empty());
        assert_eq!(args.controller.aws_vpc_id, None);
        let cli = Cli::try_parse_from(["lbc", "serve", "--aws-vpc-tags=Name=my-vpc,env=prod"])
            .expect("parses");
        let Command::Serve(args) = cli.command else {
            panic!("serve")
        };
        assert_eq!(
            args.controller.aws_vpc_tags,
            [
                ("Name".into(), "my-vpc".into()),
                ("env".into(), "prod".into())
            ]
        );
        let err = Cli::try_parse_from(["lbc", "serve", "--aws-vpc-tags=Name"])
            .expect_err("a tag without a value");
        assert!(
            err.to_string()
                .contains("invalid tag \"Name\": want key=value"),
            "{err}"
        );
    }

    fn serve(args: &[&str]) -> ServeArgs {
        let cli = Cli::try_parse_from([&["alb", "serve"], args].concat()).expect("flags parse");
        match cli.command {
            Command::Serve(args) => args,
            _ => unreachable!("parsed a serve command"),
        }
    }

    #[test]
    fn upstream_flags_reach_the_model_and_runtime() {
        let args = serve(&[
            "--cluster-name=c",
            "--feature-gates=EnableIPTargetType=false,ALBSingleSubnet=true,NLBSecurityGroup=true",
            "--default-ssl-policy=ELBSecurityPolicy-TLS13-1-2-2021-06",
            "--default-load-balancer-scheme=internet-facing",
            "--tolerate-non-existent-backend-service=false",
            "--tolerate-non-existent-backend-action=false",
            "--enable-manage-backend-security-group-rules",
            "--log-level=debug",
            "--aws-max-retries=3",
            "--targetgroupbinding-max-exponential-backoff-delay=60s",
        ]);
        let facts = args.controller.model_facts("vpc-1".to_owned());
        assert!(!facts.features.enable_ip_target_type);
        assert!(facts.features.alb_single_subnet);
        assert_eq!(
            facts.default_ssl_policy,
            "ELBSecurityPolicy-TLS13-1-2-2021-06"
        );
        assert_eq!(facts.default_scheme, model::stack::Scheme::InternetFacing);
        assert!(!facts.tolerate_non_existent_backend_service);
        assert!(!facts.tolerate_non_existent_backend_action);
        assert!(facts.enable_manage_backend_security_group_rules);
        assert!(args.controller.unknown_feature_gates().is_empty());
        let gated = serve(&["--feature-gates=NoSuchGate=true,ServiceTypeLoadBalancerOnly=true"]);
        assert_eq!(gated.controller.unknown_feature_gates(), ["NoSuchGate"]);
        assert!(gated.controller.service_selection().load_balancer_type_only);
        assert!(
            gated
                .controller
                .webhook_config()
                .service_type_load_balancer_only
        );
        assert_eq!(args.reconcile.log_level, "debug");
        assert_eq!(
            serve(&["--watch-namespace=team-a"])
                .reconcile
                .watch_namespace
                .as_deref(),
            Some("team-a")
        );
        assert_eq!(args.reconcile.aws_max_retries, 3);
        assert_eq!(
            args.reconcile
                .targetgroupbinding_max_exponential_backoff_delay,
            Duration::from_secs(60)
        );
        // Upstream's defaults.
        let defaults = serve(&["--cluster-name=c"])
            .controller
            .model_facts("vpc-1".to_owned());
        assert_eq!(defaults, model::ClusterFacts::new("c", "vpc-1"));
    }

    #[test]
    fn load_balancer_class_reaches_the_webhook() {
        let defaults = serve(&[]);
        assert_eq!(
            defaults.controller.webhook_config().load_balancer_class,
            "service.k8s.aws/nlb"
        );
        let args = serve(&["--load-balancer-class=example.com/nlb"]);
        assert_eq!(
            args.controller.webhook_config().load_balancer_class,
            "example.com/nlb"
        );
        assert!(args.reconcile.startup_warnings().is_empty());
    }

    #[test]
    fn aws_client_flags_take_upstreams_formats() {
        let defaults = serve(&[]);
        assert_eq!(
            defaults.reconcile.aws_api_throttle,
            ThrottleConfig::default()
        );
        assert!(defaults.reconcile.aws_api_endpoints.is_empty());
        assert!(
            defaults
                .reconcile
                .allowed_certificate_authority_arns
                .is_empty()
        );
        assert!(defaults.reconcile.enable_endpoint_slices);

        let args = serve(&[
            "--aws-api-throttle=Elastic Load Balancing v2:^DescribeTargetHealth=10:20",
            "--aws-api-endpoints=EC2=https://ec2.vpce.example,elasticloadbalancing=https://elb.vpce.example,globalaccelerator=https://ga.example",
            "--allowed-certificate-authority-arns=arn:aws:acm-pca:us-west-2:1:certificate-authority/x,arn:aws:acm-pca:us-west-2:1:certificate-authority/y",
            "--enable-endpoint-slices=false",
        ]);
        let reconcile = &args.reconcile;
        assert_eq!(
            reconcile
                .aws_api_throttle
                .rules("Elastic Load Balancing v2")[0]
                .operations
                .as_str(),
            "^DescribeTargetHealth"
        );
        assert_eq!(
            reconcile.aws_api_endpoints.get("Elastic Load Balancing v2"),
            Some("https://elb.vpce.example")
        );
        assert_eq!(reconcile.allowed_certificate_authority_arns.len(), 2);
        assert!(!reconcile.enable_endpoint_slices);
        let warnings = reconcile.startup_warnings();
        assert_eq!(warnings.len(), 2, "{warnings:?}");
        assert!(
            warnings[0].ends_with("ignored: globalaccelerator"),
            "{warnings:?}"
        );
        assert!(warnings[1].starts_with("--enable-endpoint-slices=false ignored"));
        assert!(defaults.reconcile.startup_warnings().is_empty());

        let err = Cli::try_parse_from(["alb", "serve", "--aws-api-throttle=EC2=1:2"])
            .expect_err("no operation regex");
        assert!(
            err.to_string()
                .contains("EC2 must be formatted as serviceID:operationRegex"),
            "{err}"
        );
    }

    #[test]
    fn bind_addresses_take_upstreams_port_only_form() {
        let args = serve(&[
            "--metrics-bind-addr=:8080",
            "--health-probe-bind-addr=:61779",
        ]);
        assert_eq!(args.metrics_bind_addr.to_string(), "0.0.0.0:8080");
        assert_eq!(
            args.reconcile.health_probe_bind_addr.to_string(),
            "0.0.0.0:61779"
        );
        assert!(parse_bind_addr("nowhere").is_err());
    }

    #[test]
    fn a_malformed_feature_gate_is_refused() {
        let err = Cli::try_parse_from(["alb", "serve", "--feature-gates=EnableIPTargetType"])
            .expect_err("no value");
        assert!(err.to_string().contains("want Name=true|false"), "{err}");
    }
}
