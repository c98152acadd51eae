//! The embedded broker (rumqttd) a gateway starts when no broker URL is given.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// Start rumqttd listening on `listen` on its own threads (it has no graceful shutdown: it lives
/// as long as the process) and wait until it accepts connections.
pub fn start_embedded(listen: SocketAddr) -> std::io::Result<()> {
    let mut v4 = HashMap::new();
    v4.insert(
        "1".to_owned(),
        ServerSettings {
            name: "hyphae".into(),
            listen,
            tls: None,
            next_connection_delay_ms: 1,
            connections: ConnectionSettings {
                connection_timeout_ms: 5000,
                max_payload_size: 1 << 20,
                max_inflight_count: 500,
                auth: None,
                external_auth: None,
                dynamic_filters: true,
            },
        },
    );
    let config = Config {
        id: 0,
        router: RouterConfig {
            max_connections: 1000,
            max_outgoing_packet_count: 1000,
            max_segment_size: 64 << 20,
            max_segment_count: 10,
            ..RouterConfig::default()
        },
        v4: Some(v4),
        prometheus: None,
        ..Config::default()
    };
    std::thread::Builder::new()
        .name("rumqttd".into())
        .spawn(move || {
            let mut broker = Broker::new(config);
            if let Err(e) = broker.start() {
                tracing::error!(error = %e, "embedded broker stopped");
            }
        })?;
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match TcpStream::connect_timeout(&listen, Duration::from_millis(200)) {
            Ok(_) => return Ok(()),
            Err(e) if Instant::now() > deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

/// A free TCP port on 127.0.0.1 (bound, read, released: rumqttd cannot report a port-0 bind).
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}
