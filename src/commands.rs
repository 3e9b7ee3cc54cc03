//! The subcommands behind `main`.

use std::path::Path;
use std::process::ExitCode;

use webhook::local::LocalVerdict;

use crate::admit::admit_all;

use crate::cli::{CheckArgs, PlanArgs, ServeArgs};
use crate::manifests::Manifests;
use aws_io::{AwsClients, AwsSettings, DeployConfig, Deployer};
use model::ClusterFacts;
use model::facts;
use model::stack::Stack;

/// The bundled examples `run` uses when no cluster is configured.
const EXAMPLES: &[(&str, &str)] = &[
    (
        "examples/00-ingress-class.yaml",
        include_str!("../examples/00-ingress-class.yaml"),
    ),
    (
        "examples/10-services.yaml",
        include_str!("../examples/10-services.yaml"),
    ),
    (
        "examples/20-ingresses.yaml",
        include_str!("../examples/20-ingresses.yaml"),
    ),
    (
        "examples/30-cluster-facts.yaml",
        include_str!("../examples/30-cluster-facts.yaml"),
    ),
    (
        "examples/bad/bad-ingress.yaml",
        include_str!("../examples/bad/bad-ingress.yaml"),
    ),
];

pub async fn serve(args: ServeArgs) -> ExitCode {
    match crate::serve::serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(%error, "controller stopped");
            ExitCode::FAILURE
        }
    }
}

pub async fn check(args: CheckArgs) -> ExitCode {
    let manifests = match crate::manifests::load(&args.files) {
        Ok(m) => m,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    report(&admit_all(&manifests, &args.controller).await)
}

/// Validate like the webhook, then print the planned stacks (with `--diff`: what deploying them
/// would change in AWS). Exit 1 on a denial or a build error, 2 when the manifests cannot be
/// read.
pub async fn plan(args: PlanArgs) -> ExitCode {
    let manifests = match crate::manifests::load(&args.files) {
        Ok(m) => m,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let verdicts = admit_all(&manifests, &args.controller).await;
    let denied: Vec<_> = verdicts.iter().filter(|(_, v)| !v.allowed).collect();
    if !denied.is_empty() {
        for (_, verdict) in denied {
            eprintln!("error: {}", verdict.message.as_deref().unwrap_or("denied"));
        }
        return ExitCode::FAILURE;
    }
    let base = args
        .controller
        .model_facts(args.controller.aws_vpc_id.clone().unwrap_or_default());
    let facts = match facts::overlay(&base, &manifests.cluster_facts) {
        Ok(facts) => facts,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    match model::plan::plan(&manifests, &facts) {
        Ok(stacks) if args.diff => plan_diff(&args, &facts, &stacks).await,
        Ok(stacks) if args.output == "json" => match serde_json::to_string_pretty(&stacks) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        },
        Ok(stacks) => {
            print!("{}", crate::plan_output::table(&stacks));
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// `plan --diff`: what deploying the planned stacks would do to AWS, and what of this cluster's
/// stacks that are no longer planned would be deleted, found with read calls only. Exit 1 when
/// AWS cannot be read, 2 when the cluster name or VPC is unknown.
async fn plan_diff(args: &PlanArgs, facts: &ClusterFacts, stacks: &[Stack]) -> ExitCode {
    if facts.cluster_name.is_empty() || facts.vpc_id.is_empty() {
        eprintln!(
            "error: --diff needs the cluster name and VPC ID (--cluster-name and --aws-vpc-id, or \
             clusterName and vpcId in a ClusterFacts document): AWS resources are ours by their \
             elbv2.k8s.aws/cluster tag"
        );
        return ExitCode::from(2);
    }
    let settings = AwsSettings {
        region: args.aws_region.clone(),
        max_attempts: 3,
        ..AwsSettings::default()
    };
    let clients = AwsClients::from_env(&settings).await;
    let mut config = DeployConfig::new(facts.cluster_name.clone(), facts.vpc_id.clone());
    config.external_managed_tags = facts.external_managed_tags.clone();
    let deployer = Deployer::new(clients.clone(), config);
    // Boxed: the deployer's future is deep enough to overflow the compiler's layout queries
    // when nested in `main`'s.
    let diffs = match Box::pin(deployer.diff_all(stacks)).await {
        Ok(diffs) => diffs,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let calls = clients.calls().snapshot();
    if calls.mutating_total() > 0 {
        eprintln!("error: the comparison made mutating AWS calls ({calls}); this is a bug");
        return ExitCode::FAILURE;
    }
    if args.output == "json" {
        return match serde_json::to_string_pretty(&diffs) {
            Ok(json) => {
                println!("{json}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: {error}");
                ExitCode::FAILURE
            }
        };
    }
    print!("{}", aws_io::diff::table(&diffs));
    eprintln!(
        "compared with {} AWS read calls, 0 mutating",
        calls.read_total()
    );
    ExitCode::SUCCESS
}

/// With KUBECONFIG set: serve against that cluster. Without: the embedded default.
pub async fn run(args: ServeArgs) -> ExitCode {
    if std::env::var_os("KUBECONFIG").is_some() {
        eprintln!("KUBECONFIG is set: serving against that cluster");
        return serve(args).await;
    }
    eprintln!("No KUBECONFIG: running the embedded default (moto + the bundled examples).");
    let manifests = match embedded_examples() {
        Ok(m) => m,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::FAILURE;
        }
    };
    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    match crate::demo::run(repo, manifests, &args.controller).await {
        Ok(_) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// The bundled example manifests, without the offline `ClusterFacts` (the demo asks AWS).
pub fn embedded_examples() -> Result<Manifests, crate::manifests::ManifestError> {
    let mut manifests = Manifests::default();
    for (name, text) in EXAMPLES {
        if !name.contains("cluster-facts") {
            manifests.add_documents(Path::new(name), text)?;
        }
    }
    Ok(manifests)
}

/// Print verdicts; failure when anything was denied.
fn report(verdicts: &[(String, LocalVerdict)]) -> ExitCode {
    let mut denied = 0;
    for (name, verdict) in verdicts {
        if verdict.allowed {
            println!("ALLOWED  {name}");
            if let Some(anns) = verdict.object["metadata"]["annotations"].as_object() {
                for key in [
                    "alb.ingress.kubernetes.io/target-type",
                    "alb.ingress.kubernetes.io/listen-ports",
                ] {
                    if let Some(value) = anns.get(key).and_then(|v| v.as_str()) {
                        println!("         {key}: {value}");
                    }
                }
            }
        } else {
            denied += 1;
            println!("DENIED   {name}");
            let message = verdict.message.as_deref().unwrap_or_default();
            let reasons = message
                .strip_prefix(name.as_str())
                .and_then(|rest| rest.strip_prefix(": "))
                .unwrap_or(message);
            for reason in reasons.split("; ") {
                println!("         {reason}");
            }
        }
        for warning in &verdict.warnings {
            println!("         warning: {warning}");
        }
    }
    println!("{} object(s), {denied} denied", verdicts.len());
    if denied == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
