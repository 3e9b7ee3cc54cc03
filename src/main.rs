use std::process::ExitCode;

use aws_load_balancer_controller::cli::{Cli, Command};
use aws_load_balancer_controller::commands;
use clap::Parser as _;

// mimalloc: the model builder and the caches allocate many small strings and maps; glibc's
// malloc made building a 1,000-rule group ~40% allocation time.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // One crypto provider for the whole process (kube, the webhook server and the AWS SDK).
    if rustls::crypto::aws_lc_rs::default_provider()
        .install_default()
        .is_err()
    {
        eprintln!("a rustls crypto provider was already installed");
    }
    let cli = Cli::parse();
    // `--log-level` (upstream's flag) unless RUST_LOG says more.
    let level = match &cli.command {
        Command::Serve(args) | Command::Run(args) => args.reconcile.log_level.as_str(),
        _ => "info",
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level)),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        match cli.command {
            Command::Serve(args) => commands::serve(args).await,
            Command::Check(args) => commands::check(args).await,
            Command::Plan(args) => commands::plan(args).await,
            Command::Run(args) => commands::run(args).await,
        }
    })
}
