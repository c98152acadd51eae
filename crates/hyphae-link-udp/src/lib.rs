#![doc = include_str!("../README.md")]
#![forbid(unsafe_code)]

use std::collections::HashSet;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use hyphae_link::{LinkAddr, LinkError, LinkInfo, LinkKind};
use serde::Deserialize;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

/// Default MTU: 1232 bytes, safe on any IPv6 path.
pub const DEFAULT_MTU: usize = 1232;
/// Default multicast discovery group.
pub const DEFAULT_GROUP: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(239, 255, 72, 89), 7272);
/// Most neighbours remembered from received traffic (the oldest insertion is forgotten first).
pub const MAX_NEIGHBOURS: usize = 256;
/// Size of a receive buffer able to hold any UDP datagram.
pub const MAX_DATAGRAM: usize = 65_536;

/// How a link finds neighbours on the LAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Discovery {
    /// Static peers only.
    None,
    /// Broadcast frames also go to an IPv4 multicast group every node joins.
    #[default]
    Multicast,
    /// Broadcast frames also go to the IPv4 limited/subnet broadcast address.
    Broadcast,
}

/// Configuration of one UDP link (the `[[links]]` table with `type = "udp"`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UdpConfig {
    /// Local socket address (`"0.0.0.0:7000"`; port 0 picks a free one).
    pub bind: SocketAddr,
    /// Neighbours always sent broadcast frames.
    pub peers: Vec<SocketAddr>,
    /// LAN autodiscovery mode.
    pub discovery: Discovery,
    /// The multicast group (with `discovery = "multicast"`) or broadcast address (with
    /// `discovery = "broadcast"`, e.g. `"192.168.1.255:7272"`); its port is the discovery port.
    pub group: SocketAddrV4,
    /// Largest frame in bytes (at most 65 507).
    pub mtu: usize,
}

impl Default for UdpConfig {
    fn default() -> Self {
        Self {
            bind: SocketAddr::from(([0, 0, 0, 0], 0)),
            peers: Vec::new(),
            discovery: Discovery::Multicast,
            group: DEFAULT_GROUP,
            mtu: DEFAULT_MTU,
        }
    }
}

impl UdpConfig {
    /// Check the values; the error names the field and the reason.
    pub fn validate(&self) -> Result<(), String> {
        if !(64..=65_507).contains(&self.mtu) {
            return Err(format!("mtu: {} is outside 64..=65507", self.mtu));
        }
        if self.discovery == Discovery::Multicast && !self.group.ip().is_multicast() {
            return Err(format!("group: {} is not a multicast address", self.group));
        }
        if self.discovery != Discovery::None && self.group.port() == 0 {
            return Err("group: the discovery port must not be 0".into());
        }
        Ok(())
    }
}

/// A UDP socket used as a hyphae link.
#[derive(Debug)]
pub struct UdpLink {
    socket: UdpSocket,
    discovery: Option<UdpSocket>,
    config: UdpConfig,
    local: SocketAddr,
    neighbours: Mutex<Neighbours>,
    oversize: AtomicU64,
}

#[derive(Debug, Default)]
struct Neighbours {
    set: HashSet<SocketAddr>,
    order: std::collections::VecDeque<SocketAddr>,
}

impl Neighbours {
    fn insert(&mut self, addr: SocketAddr) {
        if self.set.insert(addr) {
            self.order.push_back(addr);
            if self.order.len() > MAX_NEIGHBOURS
                && let Some(old) = self.order.pop_front()
            {
                self.set.remove(&old);
            }
        }
    }
}

impl UdpLink {
    /// Bind the link's socket (and the discovery socket, if enabled).
    pub async fn bind(config: &UdpConfig) -> io::Result<Self> {
        config
            .validate()
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        let socket = UdpSocket::bind(config.bind).await?;
        let local = socket.local_addr()?;
        let discovery = match config.discovery {
            Discovery::None => None,
            Discovery::Multicast => {
                socket.set_multicast_loop_v4(true)?;
                let s = reusable_socket(config.group.port())?;
                let iface = match config.bind {
                    SocketAddr::V4(a) if !a.ip().is_unspecified() => *a.ip(),
                    _ => Ipv4Addr::UNSPECIFIED,
                };
                s.join_multicast_v4(config.group.ip(), &iface)?;
                if !iface.is_unspecified() {
                    socket.set_multicast_loop_v4(true)?;
                    socket2::SockRef::from(&socket).set_multicast_if_v4(&iface)?;
                }
                Some(UdpSocket::from_std(s.into())?)
            }
            Discovery::Broadcast => {
                socket.set_broadcast(true)?;
                let s = reusable_socket(config.group.port())?;
                Some(UdpSocket::from_std(s.into())?)
            }
        };
        let mut neighbours = Neighbours::default();
        for p in &config.peers {
            neighbours.insert(*p);
        }
        Ok(Self {
            socket,
            discovery,
            config: config.clone(),
            local,
            neighbours: Mutex::new(neighbours),
            oversize: AtomicU64::new(0),
        })
    }

    /// The bound local address.
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// This link's properties for the core's links table.
    pub fn info(&self) -> LinkInfo {
        LinkInfo {
            mtu: self.config.mtu,
            ..LinkInfo::for_kind(LinkKind::Udp)
        }
    }

    /// Datagrams dropped because they were larger than the MTU.
    pub fn oversize(&self) -> u64 {
        self.oversize.load(Ordering::Relaxed)
    }

    /// Neighbours known so far (static peers and sources heard).
    pub fn neighbours(&self) -> Vec<SocketAddr> {
        self.neighbours
            .lock()
            .map(|n| n.order.iter().copied().collect())
            .unwrap_or_default()
    }

    /// Send one frame to one socket address.
    pub async fn send(&self, to: SocketAddr, frame: &[u8]) -> io::Result<()> {
        if frame.len() > self.config.mtu {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                LinkError::FrameTooLarge.to_string(),
            ));
        }
        self.socket.send_to(frame, to).await.map(|_| ())
    }

    /// Send one frame to a link address: [`LinkAddr::BROADCAST`] reaches every neighbour and
    /// the discovery group; any other address must encode a socket address.
    pub async fn send_link(&self, to: LinkAddr, frame: &[u8]) -> Result<(), LinkError> {
        if frame.len() > self.config.mtu {
            return Err(LinkError::FrameTooLarge);
        }
        if to.is_broadcast() {
            let targets = self.neighbours();
            for t in targets {
                // One unreachable neighbour must not stop the others.
                if let Err(e) = self.socket.send_to(frame, t).await {
                    tracing::debug!(to = %t, error = %e, "udp broadcast copy failed");
                }
            }
            if self.discovery.is_some()
                && let Err(e) = self
                    .socket
                    .send_to(frame, SocketAddr::V4(self.config.group))
                    .await
            {
                tracing::debug!(error = %e, "udp discovery send failed");
            }
            return Ok(());
        }
        let addr = to.to_socket_addr().ok_or(LinkError::Rejected)?;
        self.socket
            .send_to(frame, addr)
            .await
            .map(|_| ())
            .map_err(|_| LinkError::Unavailable)
    }

    /// Receive one frame into `buf` (give it [`MAX_DATAGRAM`] bytes): its length and sender.
    /// Datagrams larger than the MTU and our own multicast echoes are skipped.
    pub async fn recv(&self, buf: &mut [u8]) -> io::Result<(usize, SocketAddr)> {
        loop {
            let (n, from) = match &self.discovery {
                None => self.socket.recv_from(buf).await?,
                Some(d) => {
                    let sock = tokio::select! {
                        r = self.socket.readable() => { r?; &self.socket }
                        r = d.readable() => { r?; d }
                    };
                    match sock.try_recv_from(buf) {
                        Ok(v) => v,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                        Err(e) => return Err(e),
                    }
                }
            };
            if from == self.local {
                continue;
            }
            if n > self.config.mtu {
                self.oversize.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(%from, len = n, "udp datagram over the MTU dropped");
                continue;
            }
            if let Ok(mut nb) = self.neighbours.lock() {
                nb.insert(from);
            }
            return Ok((n, from));
        }
    }
}

fn reusable_socket(port: u16) -> io::Result<Socket> {
    let s = Socket::new(Domain::IPV4, Type::DGRAM, Some(Protocol::UDP))?;
    s.set_reuse_address(true)?;
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&SocketAddr::from(([0, 0, 0, 0], port)).into())?;
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local() -> UdpConfig {
        UdpConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            discovery: Discovery::None,
            ..UdpConfig::default()
        }
    }

    #[tokio::test]
    async fn unicast_round_trip_and_neighbour_learning() {
        let a = UdpLink::bind(&local()).await.unwrap();
        let b = UdpLink::bind(&local()).await.unwrap();
        a.send(b.local_addr(), b"hello").await.unwrap();
        let mut buf = vec![0; MAX_DATAGRAM];
        let (n, from) = b.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"hello");
        assert_eq!(from, a.local_addr());
        assert_eq!(b.neighbours(), vec![a.local_addr()]);
        // A broadcast from b now reaches a, learned from its traffic.
        b.send_link(LinkAddr::BROADCAST, b"all").await.unwrap();
        let (n, _) = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"all");
    }

    #[tokio::test]
    async fn oversize_is_counted_and_skipped() {
        let a = UdpLink::bind(&local()).await.unwrap();
        let raw = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        raw.send_to(&[0u8; 2000], a.local_addr()).await.unwrap();
        raw.send_to(b"ok", a.local_addr()).await.unwrap();
        let mut buf = vec![0; MAX_DATAGRAM];
        let (n, _) = a.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"ok");
        assert_eq!(a.oversize(), 1);
        assert_eq!(
            a.send_link(
                LinkAddr::from_socket_addr(raw.local_addr().unwrap()),
                &[0; 1233]
            )
            .await,
            Err(LinkError::FrameTooLarge)
        );
    }

    #[test]
    fn config_errors_name_the_field() {
        let mut c = UdpConfig {
            mtu: 10,
            ..UdpConfig::default()
        };
        assert!(c.validate().unwrap_err().starts_with("mtu:"));
        c.mtu = DEFAULT_MTU;
        c.group = "10.0.0.1:7272".parse().unwrap();
        assert!(c.validate().unwrap_err().starts_with("group:"));
    }

    #[tokio::test]
    async fn multicast_discovery_finds_a_node_with_no_peers_configured() {
        let port = std::net::UdpSocket::bind("0.0.0.0:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cfg = UdpConfig {
            bind: "0.0.0.0:0".parse().unwrap(),
            discovery: Discovery::Multicast,
            group: SocketAddrV4::new(Ipv4Addr::new(239, 255, 72, 89), port),
            ..UdpConfig::default()
        };
        let a = UdpLink::bind(&cfg).await.unwrap();
        let b = UdpLink::bind(&cfg).await.unwrap();
        a.send_link(LinkAddr::BROADCAST, b"hello lan")
            .await
            .unwrap();
        let mut buf = vec![0; MAX_DATAGRAM];
        let (n, from) = tokio::time::timeout(std::time::Duration::from_secs(2), b.recv(&mut buf))
            .await
            .expect("multicast reaches the other node")
            .unwrap();
        assert_eq!(&buf[..n], b"hello lan");
        assert_eq!(from.port(), a.local_addr().port());
        // b learned a and answers it by unicast.
        assert!(b.neighbours().contains(&from));
    }

    #[tokio::test]
    async fn static_peers_get_broadcasts() {
        let b = UdpLink::bind(&local()).await.unwrap();
        let a = UdpLink::bind(&UdpConfig {
            peers: vec![b.local_addr()],
            ..local()
        })
        .await
        .unwrap();
        a.send_link(LinkAddr::BROADCAST, b"beacon").await.unwrap();
        let mut buf = vec![0; MAX_DATAGRAM];
        let (n, from) = b.recv(&mut buf).await.unwrap();
        assert_eq!((&buf[..n], from), (&b"beacon"[..], a.local_addr()));
    }
}
