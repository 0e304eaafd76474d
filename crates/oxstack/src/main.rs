//! `oxstack`: an OpenStack-compatible compute cloud in one binary.

mod clouds_yaml;
mod config;
mod drivers;
mod serve;

use clap::{Parser, Subcommand};

use crate::config::{Config, ConfigArgs};

/// mimalloc instead of glibc's malloc: a request allocates and frees many
/// small values (JSON views, headers), and glibc's arenas spent a fifth of
/// the server's time there under load (docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(version, about = "An OpenStack-compatible compute cloud in one binary")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run identity, compute and image in one process.
    Serve(ConfigArgs),
    /// Run one compute host (no HTTP API) for a cloud on PostgreSQL; its
    /// name comes from `--host`.
    Compute(ConfigArgs),
    /// Print a clouds.yaml for this cloud (clouds `oxstack` and `oxstack-demo`).
    CloudsYaml(ConfigArgs),
    /// Apply database migrations and exit (for deployments that migrate before rolling out).
    Migrate(ConfigArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            let config = Config::load(&args)?;
            serve::init_logging(&config.log_level)?;
            runtime()?.block_on(serve::serve(config))
        }
        Command::Compute(args) => {
            let config = Config::load(&args)?;
            serve::init_logging(&config.log_level)?;
            runtime()?.block_on(serve::compute(config))
        }
        Command::CloudsYaml(args) => {
            print!("{}", clouds_yaml::render(&Config::load(&args)?));
            Ok(())
        }
        Command::Migrate(args) => {
            let config = Config::load(&args)?;
            serve::init_logging(&config.log_level)?;
            runtime()?.block_on(serve::migrate(config))
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
