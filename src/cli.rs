//! Command line: upstream's flag names, with environment fallbacks.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
    /// The cluster's VPC.
    #[arg(long, env = "AWS_VPC_ID")]
    pub aws_vpc_id: Option<String>,
    /// Refuse new uses of the `kubernetes.io/ingress.class` annotation.
    #[arg(long, env = "DISABLE_INGRESS_CLASS_ANNOTATION")]
    pub disable_ingress_class_annotation: bool,
    /// Refuse new uses of the `alb.ingress.kubernetes.io/group.name` annotation.
    #[arg(long, env = "DISABLE_INGRESS_GROUP_NAME_ANNOTATION")]
    pub disable_ingress_group_name_annotation: bool,
    /// Tag keys managed outside the controller, which users may not set (comma separated).
    #[arg(long, env = "EXTERNAL_MANAGED_TAGS", value_delimiter = ',')]
    pub external_managed_tags: Vec<String>,
}

impl ControllerArgs {
    pub fn webhook_config(&self) -> webhook::admission::WebhookConfig {
        webhook::admission::WebhookConfig {
            ingress_class: self.ingress_class.clone(),
            default_target_type: self.default_target_type.clone(),
            disable_ingress_class_annotation: self.disable_ingress_class_annotation,
            disable_ingress_group_name_annotation: self.disable_ingress_group_name_annotation,
            external_managed_tags: self.external_managed_tags.clone(),
            vpc_id: self.aws_vpc_id.clone(),
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
    #[arg(long, env = "METRICS_BIND_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_bind_addr: SocketAddr,
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
}
