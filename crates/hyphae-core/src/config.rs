//! Node configuration: every timer and limit, with defaults for small radios.

use core::time::Duration;

use hyphae_wire::beacon::Capabilities;

/// How a node behaves. All timers are configurable; [`Config::default`] suits ESP-NOW.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Interval between neighbour beacons (jittered by ±10 %).
    pub beacon_interval: Duration,
    /// A peer not heard for this many beacon intervals is down.
    pub peer_timeout_beacons: u32,
    /// Capability bits announced in beacons (`hyphae_wire::beacon::Capabilities`).
    pub capabilities: u8,
    /// Most fragments in flight per transfer (1..=64).
    pub window: u16,
    /// Request an acknowledgement every this many fragments.
    pub ack_every: u16,
    /// Receiver: acknowledge at the latest this long after an unacknowledged fragment.
    pub ack_delay: Duration,
    /// First retransmission timeout, before any RTT sample (the floor; a routed transfer's
    /// first timeout grows with its path, see `rto_per_hop`).
    pub rto_initial: Duration,
    /// Round trip assumed per hop of a routed path until the node has measured one: a new
    /// transfer over `h` estimated hops starts with a timeout of `h` times the per-hop round
    /// trip (measured: mean plus four deviations), at least `rto_initial`, at most `rto_max`.
    /// A fixed first timeout shorter than a long path's round trip sends every message
    /// several times and congests large meshes.
    pub rto_per_hop: Duration,
    /// Lower bound of the retransmission timeout.
    pub rto_min: Duration,
    /// Upper bound of the retransmission timeout (back-off stops here).
    pub rto_max: Duration,
    /// A transfer without progress for this long fails with `TimedOut`.
    pub transfer_timeout: Duration,
    /// Receiver keeps a partial transfer this long after its last fragment, so an interrupted
    /// sender resumes where it stopped.
    pub resume_window: Duration,
    /// Largest blob a node sends or admits, in bytes.
    pub max_transfer: usize,
    /// A send to a destination with no route waits this long for one before failing.
    pub route_wait: Duration,
    /// Hop limit of routed frames this node originates (1..=255; 64 leaves room for tree paths
    /// of 32-level coordinates plus backtracking).
    pub hop_limit: u8,
    /// How long completed transfers are remembered to suppress duplicates.
    pub dedup_window: Duration,
    /// Undelivered payloads the shell never took are reclaimed after this long.
    pub delivery_hold: Duration,
    /// This node sleeps between beacons unless woken (modem sleep).
    pub sleepy: bool,
    /// After answering request-node-status, stay awake this long.
    pub awake_window: Duration,
    /// A sleepy node listens this long after each wake-up before it may sleep again (longer
    /// than `wake_probe_interval`, so a waking peer's probe lands in it).
    pub listen_window: Duration,
    /// A sleepy peer not heard for this long needs waking before a send.
    pub peer_awake_assumption: Duration,
    /// Interval between request-node-status probes while waking a peer.
    pub wake_probe_interval: Duration,
    /// Probes before a wake attempt fails (the send fails `Unreachable`).
    pub wake_attempts: u8,
    /// Minimum gap between frames to one peer (pacing); zero disables.
    pub pacing: Duration,
    /// Fill level of the inbound budget (percent) above which acks carry the throttle flag.
    pub throttle_percent: u8,
    /// How long a sender slows down after a throttle signal.
    pub throttle_hold: Duration,
    /// Link-level retries of a unicast frame the link reports unacknowledged
    /// (`LinkEvent::TxDone { ok: false }`); 0 disables (and saves copying each frame).
    pub link_retries: u8,
    /// How many times each fragment of a broadcast transfer is sent.
    pub broadcast_repeats: u8,
    /// How frames reach nodes that are not neighbours (`docs/spec/routing.md` §13).
    pub routing: Routing,
    /// Send and accept unauthenticated frames when no security context is installed. `false`
    /// (the default) is secure by default: a node without [`crate::Node::set_security`] sends
    /// nothing and drops every frame. For lab use and transport-only tests.
    pub insecure: bool,
    /// With a security context: run the X25519 link handshake with each neighbour and seal
    /// unicast frames to it with the per-link key (`docs/spec/security.md` §5, §15). `false`
    /// seals every frame under the network key (comparison runs and tests of an insider relay).
    pub link_sessions: bool,
    /// With a security context: seal every unicast application payload ([`crate::Node::send`])
    /// end to end for its destination (`security.md` §6.4), and require that envelope on every
    /// unicast payload received. Relays can then neither read nor alter it. Off by default:
    /// every new source–destination pair costs a key exchange (about 1.9 KB over three hops),
    /// which a mesh of 1000 nodes sending to random destinations cannot afford
    /// (`docs/BENCHMARKS.md`); turn it on where destinations are few (gateways, management).
    pub e2e: bool,
}

/// The routing mode: how a node reaches a destination that is not a neighbour. Static routes
/// ([`crate::Node::set_route`]) override every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Routing {
    /// Only neighbours and static routes (no routing state, no tree entries in beacons).
    Static,
    /// Greedy routing on `trees` spanning trees (`hyphae-routing`).
    Tree {
        /// Trees built and used (1..=[`crate::node::MAX_TREES`]).
        trees: u8,
        /// Greedy metric: tree distance (mode 0) or common prefix length (mode 1).
        metric: Metric,
        /// Gossip hops of this node's periodic and on-change position announcements (name
        /// resolution) and of application gossip; 0 disables the announcements (positions are
        /// then learned through on-demand position requests, which reach 15 hops, and
        /// [`crate::Node::learn_position`]). Announcements by every node cost O(n²) frames:
        /// use 0 beyond a few hundred nodes.
        announce_hops: u8,
    },
    /// Managed flooding (Meshtastic-style): frames to non-neighbours are broadcast with a
    /// routing header and rebroadcast once per node after a contention delay.
    Flood {
        /// Hop limit of flooded frames (≤ 31).
        hop_limit: u8,
        /// Contention window: a node waits up to this long before rebroadcasting, shorter for a
        /// weaker link, and cancels if it hears another node rebroadcast first.
        contention: Duration,
    },
}

pub use hyphae_routing::Metric;

impl Routing {
    /// Tree routing with the defaults: 3 trees, tree-distance metric, announcements over 6 hops.
    pub const TREE: Self = Self::Tree {
        trees: 3,
        metric: Metric::TreeDistance,
        announce_hops: 6,
    };
    /// Managed flooding with the defaults: hop limit 7, 20 ms contention window.
    pub const FLOOD: Self = Self::Flood {
        hop_limit: 7,
        contention: Duration::from_millis(20),
    };
}

impl Default for Routing {
    fn default() -> Self {
        Self::TREE
    }
}

impl Default for Config {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl Config {
    /// The defaults (ESP-NOW timings), usable in `const` contexts such as a `static` node.
    pub const DEFAULT: Self = Self {
        beacon_interval: Duration::from_secs(2),
        peer_timeout_beacons: 4,
        capabilities: Capabilities::ROUTER,
        window: 32,
        ack_every: 8,
        ack_delay: Duration::from_millis(10),
        rto_initial: Duration::from_millis(300),
        rto_per_hop: Duration::from_millis(40),
        rto_min: Duration::from_millis(25),
        rto_max: Duration::from_secs(4),
        transfer_timeout: Duration::from_secs(30),
        resume_window: Duration::from_secs(60),
        max_transfer: 64 * 1024,
        route_wait: Duration::from_secs(5),
        hop_limit: 64,
        dedup_window: Duration::from_secs(120),
        delivery_hold: Duration::from_secs(10),
        sleepy: false,
        awake_window: Duration::from_millis(500),
        listen_window: Duration::from_millis(150),
        peer_awake_assumption: Duration::from_millis(400),
        wake_probe_interval: Duration::from_millis(100),
        wake_attempts: 30,
        pacing: Duration::ZERO,
        throttle_percent: 75,
        throttle_hold: Duration::from_millis(250),
        link_retries: 7,
        broadcast_repeats: 1,
        routing: Routing::TREE,
        insecure: false,
        link_sessions: true,
        e2e: false,
    };
}

impl Config {
    /// The window clamped to what the sequencer tracks (1..=64).
    pub(crate) fn effective_window(&self) -> u16 {
        self.window.clamp(1, crate::node::MAX_WINDOW as u16)
    }
}
