//! `hyphae`: one binary for every hyphae tool. Each subcommand lives in its own module.

use clap::{Parser, Subcommand};

mod bridge;
mod security;
mod spec;

/// hyphae — a mesh network for cheap radios.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Tables derived from the protocol specification.
    Spec(spec::Args),
    /// Identities, network ids and keys, membership credentials (the admin's key tool).
    Security(security::Args),
    /// Talk to an ESP32 running the radio-bridge firmware (status, listen, send).
    Bridge(bridge::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Spec(args) => spec::run(&args),
        Command::Security(args) => security::run(&args),
        Command::Bridge(args) => bridge::run(&args),
    }
}
