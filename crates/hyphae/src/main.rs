//! `hyphae`: one binary for every hyphae tool. Each subcommand lives in its own module.

use clap::{Parser, Subcommand};

mod bridge;
mod demo;
mod gateway;
mod node;
mod security;
mod sim;
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
    /// Run a host node (UDP links, local application API, metrics) from a TOML file.
    Node(node::Args),
    /// Run a node that also bridges the device–gateway protocol to MQTT.
    Gateway(gateway::Args),
    /// Zero-configuration demo: a simulated ESP-NOW mesh publishing through a gateway to MQTT.
    Demo(demo::Args),
    /// Discrete-event simulator: run a scenario of real nodes over modelled radios.
    Sim(sim::Args),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command {
        Command::Spec(args) => spec::run(&args),
        Command::Security(args) => security::run(&args),
        Command::Bridge(args) => bridge::run(&args),
        Command::Node(args) => node::run(&args),
        Command::Gateway(args) => gateway::run(&args),
        Command::Demo(args) => demo::run(&args),
        Command::Sim(args) => sim::run(&args),
    }
}
