//! What the node reports to its shell and applications, and the counters it keeps.

use core::fmt;

use hyphae_wire::{AppId, NodeId};

use crate::time::Instant;

/// Identifies one `send` or `broadcast` call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SendId(pub u32);

/// Progress of an outbound transfer (for progress displays and diagnostics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendProgress {
    /// Fragments in the transfer (0 until it has a route).
    pub fragments: u32,
    /// Fragments acknowledged in order (every index below is acknowledged).
    pub acked: u32,
    /// Current congestion window in fragments.
    pub cwnd: u16,
    /// Smoothed round-trip time (zero before the first sample).
    pub srtt: core::time::Duration,
    /// Current retransmission timeout, back-off included.
    pub rto: core::time::Duration,
}

/// Identifies a delivered payload held by the node until the shell takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeliveryId(pub u32);

/// Why a send failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FailReason {
    /// No route to the destination (or it could not be woken).
    Unreachable,
    /// No progress within the transfer timeout.
    TimedOut,
    /// The destination refused it.
    Rejected,
    /// Larger than the destination (or this node) admits.
    TooLarge,
    /// The destination had no room; retry later.
    Busy,
    /// No such application at the destination.
    NoSuchApplication,
    /// The hop limit ran out on the way.
    HopLimitExceeded,
}

impl fmt::Display for FailReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Unreachable => "unreachable",
            Self::TimedOut => "timed out",
            Self::Rejected => "rejected",
            Self::TooLarge => "too large",
            Self::Busy => "busy",
            Self::NoSuchApplication => "no such application",
            Self::HopLimitExceeded => "hop limit exceeded",
        })
    }
}

/// A payload delivered to an application.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// Handle for [`crate::Node::take_delivery`].
    pub id: DeliveryId,
    /// The receiving application.
    pub app: AppId,
    /// The sender.
    pub from: NodeId,
    /// Payload length in bytes.
    pub len: usize,
    /// Whether it was broadcast.
    pub broadcast: bool,
    /// The routing header's remaining hop limit on the frame that completed the payload, or
    /// `None` when it came straight from a neighbour (one hop, no routing header). With the
    /// origin's configured hop limit `h`, the path was `h - left + 1` hops long.
    pub hop_limit_left: Option<u8>,
}

/// Something the shell should know.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A payload arrived, exactly once; fetch it with `take_delivery`.
    Delivered(Delivery),
    /// A send completed: every byte acknowledged by the destination (for broadcasts: sent).
    SendDone {
        /// The send.
        id: SendId,
        /// Its application.
        app: AppId,
    },
    /// A send failed; nothing more will happen to it.
    SendFailed {
        /// The send.
        id: SendId,
        /// Its application.
        app: AppId,
        /// Why.
        reason: FailReason,
        /// The node that reported the failure, when one did.
        at: Option<NodeId>,
    },
    /// A neighbour appeared.
    PeerUp(NodeId),
    /// A neighbour went silent.
    PeerDown(NodeId),
    /// The peer table was full: the least recently seen neighbour was dropped.
    PeerEvicted(NodeId),
    /// An application timer fired.
    Timer {
        /// The application.
        app: AppId,
        /// The token given when the timer was set.
        token: u32,
    },
    /// Nothing to do until this instant: the shell may put the radio to sleep.
    MaySleepUntil(Instant),
    /// Security: store this frame-counter reservation durably, then call
    /// [`crate::Node::counter_persisted`]; until then the node seals nothing beyond the last
    /// confirmed reservation (`security` module).
    CounterReserve(u64),
    /// A gossip message on a subscribed topic (tree mode); fetch it with `take_delivery`.
    Gossip {
        /// Handle for [`crate::Node::take_delivery`].
        id: DeliveryId,
        /// Its topic.
        topic: u16,
        /// Short id of the node that published it.
        origin: [u8; 4],
        /// Payload length in bytes.
        len: usize,
    },
    /// A trace route finished ([`crate::Node::trace`]); its hops: `Node::trace_hops(probe)`.
    TraceDone {
        /// The probe id `trace` returned.
        probe: u16,
        /// Hops recorded (forwarding nodes and the destination).
        hops: u8,
        /// Round-trip time of the probe.
        rtt: core::time::Duration,
    },
}

/// Why a received frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum DropReason {
    /// The bytes did not parse.
    Malformed = 0,
    /// From a link address that belongs to no known peer.
    UnknownSender,
    /// From a banned node.
    Banned,
    /// Outside the receive window of its transfer.
    OutOfWindow,
    /// Could not be forwarded: no route.
    NoRoute,
    /// Could not be forwarded: hop limit reached.
    HopLimit,
    /// No room to admit the transfer.
    Busy,
    /// Larger than the node admits.
    TooLarge,
    /// For an application this node does not run.
    NoSuchApplication,
    /// Reassembled payload failed its length or CRC check.
    BadChecksum,
    /// Insecure frame where security is required, or a kind this node does not handle.
    Unsupported,
    /// A queue was full.
    QueueFull,
    /// An ack or notice for a transfer this node does not have.
    Stale,
    /// A frame that did not authenticate (outsider, tampered, wrong network), or an insecure
    /// frame at a secure node, or any frame at a node with neither security nor `insecure`.
    Unauthenticated,
    /// A frame whose sender already used its counter (a replay).
    Replayed,
    /// A frame addressed by coordinates reached the node holding them, but the destination id
    /// names another node (the coordinates changed hands after a renumbering).
    WrongDestination,
    /// Sealed under a key id this node holds no key for: an unknown network generation, a
    /// link session the node does not have (the peer kept a session this node lost, or a
    /// forged key id), an end-to-end session it does not have, or a reserved class.
    UnknownKey,
    /// A unicast frame under the network key from a neighbour that has a link session with this
    /// node: it must use the link key (an insider impersonating that neighbour, or a peer that
    /// lost its session).
    LinkKeyRequired,
    /// A link handshake or end-to-end key exchange message that was refused: bad or foreign
    /// credential, bad signature, identity mismatch, out of order, or not for this node.
    BadHandshake,
    /// An end-to-end envelope that did not open (altered by a relay, or not an envelope where
    /// one is required).
    EndToEnd,
    /// A signed control message (`security.md` §9) that authenticated but whose sender is not
    /// entitled to it: a tree message whose subject is neither its sender nor this node, an
    /// assignment whose coordinates do not extend the parent's own by exactly one level, a
    /// service announcement under another node's provider id.
    Unauthorized,
}

impl DropReason {
    /// Number of reasons.
    pub const COUNT: usize = 21;
    /// Every reason, in counter order.
    pub const ALL: [Self; Self::COUNT] = [
        Self::Malformed,
        Self::UnknownSender,
        Self::Banned,
        Self::OutOfWindow,
        Self::NoRoute,
        Self::HopLimit,
        Self::Busy,
        Self::TooLarge,
        Self::NoSuchApplication,
        Self::BadChecksum,
        Self::Unsupported,
        Self::QueueFull,
        Self::Stale,
        Self::Unauthenticated,
        Self::Replayed,
        Self::WrongDestination,
        Self::UnknownKey,
        Self::LinkKeyRequired,
        Self::BadHandshake,
        Self::EndToEnd,
        Self::Unauthorized,
    ];

    /// A stable snake_case name for metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownSender => "unknown_sender",
            Self::Banned => "banned",
            Self::OutOfWindow => "out_of_window",
            Self::NoRoute => "no_route",
            Self::HopLimit => "hop_limit",
            Self::Busy => "busy",
            Self::TooLarge => "too_large",
            Self::NoSuchApplication => "no_such_application",
            Self::BadChecksum => "bad_checksum",
            Self::Unsupported => "unsupported",
            Self::QueueFull => "queue_full",
            Self::Stale => "stale",
            Self::Unauthenticated => "unauthenticated",
            Self::Replayed => "replayed",
            Self::WrongDestination => "wrong_destination",
            Self::UnknownKey => "unknown_key",
            Self::LinkKeyRequired => "link_key_required",
            Self::BadHandshake => "bad_handshake",
            Self::EndToEnd => "end_to_end",
            Self::Unauthorized => "unauthorized",
        }
    }
}

/// Counters a node keeps; the shell exports them as metrics.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counters {
    /// Frames received.
    pub frames_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Control bytes sent: beacons (with their tree entries), tree messages, gossip, acks,
    /// status and notices this node originates. Data frames, forwarded frames and flood
    /// rebroadcasts are not control.
    pub control_bytes_out: u64,
    /// Control frames sent (the frames counted in `control_bytes_out`).
    pub control_frames_out: u64,
    /// Drops by [`DropReason`].
    pub drops: [u64; DropReason::COUNT],
    /// Fragments sent again.
    pub retransmissions: u64,
    /// Retransmission timeouts that fired.
    pub timeouts: u64,
    /// Frames forwarded for others.
    pub forwarded: u64,
    /// Payloads delivered to applications.
    pub delivered: u64,
    /// Duplicate frames of completed transfers (re-acknowledged, not delivered).
    pub duplicates: u64,
    /// Sends completed.
    pub sends_done: u64,
    /// Sends failed.
    pub sends_failed: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Neighbours evicted from the peer table.
    pub evictions: u64,
    /// Frames sent again after the link reported them unacknowledged (`LinkEvent::TxDone`).
    pub link_retries: u64,
    /// Frames the link reported unacknowledged after every link retry.
    pub link_failures: u64,
    /// Completed transfers forgotten by the duplicate filter before `dedup_window` ended.
    pub dedup_evictions: u64,
    /// Frames not sent because they could not be sealed (no counter reservation confirmed
    /// yet, counter space exhausted, or no security context at a secure-by-default node).
    pub seal_failures: u64,
    /// Link handshakes this node completed (as initiator or responder).
    pub link_handshakes: u64,
    /// Link handshakes this node started (first attempts and retries).
    pub link_handshakes_started: u64,
    /// End-to-end sessions this node established (offer accepted, or accept received).
    pub e2e_sessions: u64,
}

impl Counters {
    /// All zero.
    pub const fn new() -> Self {
        Self {
            frames_in: 0,
            frames_out: 0,
            bytes_in: 0,
            bytes_out: 0,
            control_bytes_out: 0,
            control_frames_out: 0,
            drops: [0; DropReason::COUNT],
            retransmissions: 0,
            timeouts: 0,
            forwarded: 0,
            delivered: 0,
            duplicates: 0,
            sends_done: 0,
            sends_failed: 0,
            events_dropped: 0,
            evictions: 0,
            link_retries: 0,
            link_failures: 0,
            dedup_evictions: 0,
            seal_failures: 0,
            link_handshakes: 0,
            link_handshakes_started: 0,
            e2e_sessions: 0,
        }
    }
    /// The count for one drop reason.
    pub fn drop_count(&self, reason: DropReason) -> u64 {
        self.drops[reason as usize]
    }
    pub(crate) fn drop(&mut self, reason: DropReason) {
        self.drops[reason as usize] += 1;
    }
    /// All drops.
    pub fn total_drops(&self) -> u64 {
        self.drops.iter().sum()
    }
}
