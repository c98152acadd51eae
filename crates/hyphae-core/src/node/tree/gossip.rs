//! Gossip in the node (`routing.md` §8): positions, position requests, services and
//! application topics, flooded with a hop limit and a duplicate cache; payloads larger than a
//! frame are announced and fetched on demand from the neighbour that announced them (the holder
//! sends the payload as a transfer to the internal application `hyphae/gossip`); stored
//! payloads are re-announced to neighbours within an airtime budget (anti-entropy).

use hyphae_crypto::control::SERVICE_OVERHEAD;
use hyphae_routing::gossip::{Key, Reception};
use hyphae_wire::GossipRepr;

use super::*;

/// The internal application fetched gossip payloads travel on.
pub(crate) const GOSSIP_APP: &str = "hyphae/gossip";
/// Bytes before the payload of a fetched-gossip transfer: origin short id, message id.
const FETCH_HEADER: usize = 6;
/// Largest fetched-gossip transfer.
pub(crate) const GOSSIP_FETCH_MAX: u16 =
    (FETCH_HEADER + hyphae_routing::gossip::STORE_BYTES) as u16;

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    crate::node::Node<P, T, IN, OUT, M>
{
    /// A gossip frame from neighbour `from`.
    pub(super) fn tree_gossip(&mut self, now: Instant, from: NodeId, g: &GossipRepr<'_>) {
        let rnow = ri(now);
        let id = self.id;
        // Service announcements are verified before they are cached or relayed (`signed.rs`).
        if g.topic == SERVICE_TOPIC && !self.service_gossip_ok(now, g) {
            return;
        }
        let signed = self.security.is_some();
        let Some(t) = self.tree_mut() else {
            return;
        };
        let nb = t.nb_of(&from).unwrap_or(NeighbourId(u16::MAX));
        let rec = t.gossip.on_gossip(rnow, nb, g);
        if rec.deliver
            && let hyphae_wire::gossip::Body::Data(p) = g.body
        {
            match g.topic {
                POSITION_TOPIC => {
                    if let Some((node, coords)) = decode_position::<MAX_TREES>(p)
                        && node != id
                    {
                        t.names.learn_all(rnow, node, &coords);
                    }
                }
                POSITION_REQUEST_TOPIC => {
                    if p.get(..8) == Some(&id.0[..]) {
                        // The requester's own position follows the wanted id.
                        let requester = p
                            .get(8..)
                            .and_then(decode_position::<MAX_TREES>)
                            .filter(|(n, _)| *n != id);
                        if let Some((node, coords)) = requester {
                            t.names.learn_all(rnow, node, &coords);
                        }
                        let travelled =
                            hyphae_wire::gossip::MAX_HOPS.saturating_sub(g.hops_left) + 1;
                        self.answer_position(now, requester.map(|r| r.0), travelled);
                    }
                }
                SERVICE_TOPIC => {
                    // Verified above; a signed payload ends with signature and credential.
                    let trailer = if signed { SERVICE_OVERHEAD } else { 0 };
                    let body = p.get(..p.len().saturating_sub(trailer)).unwrap_or_default();
                    if let Ok(s) = ServiceRepr::parse(&ServicePacket::new_unchecked(body)) {
                        t.services.on_announcement(rnow, &s);
                    }
                }
                topic => self.deliver_gossip(now, topic, g.origin.0, p),
            }
        }
        self.fetch_and_serve(now, from, g, &rec);
        if let (Some(hops), Some(_)) = (rec.forward, rec.fetch)
            && let hyphae_wire::gossip::Body::Announce { length, digest } = g.body
        {
            // Store and forward: the announcement goes on once the payload is here to serve.
            let relay = GossipRepr {
                hops_left: hops,
                origin: g.origin,
                id: g.id,
                topic: g.topic,
                body: hyphae_wire::gossip::Body::Announce { length, digest },
            };
            if let Some(t) = self.tree_mut() {
                let slot = t
                    .pending_gossip
                    .iter()
                    .position(Option::is_none)
                    .unwrap_or(0);
                t.pending_gossip[slot] = Some(relay);
            }
            return;
        }
        if let Some(hops) = rec.forward {
            let mut relay = *g;
            relay.hops_left = hops;
            let mut buf = [0u8; M];
            if let Ok(len) = FrameRepr::new(Body::Gossip(relay)).emit(&mut buf)
                && self.push_broadcast(&buf[..len], true)
            {
                self.rstats.gossip_sent += 1;
            }
        }
    }

    /// Ask for an announced payload, or answer such a request with a transfer.
    fn fetch_and_serve(&mut self, now: Instant, from: NodeId, g: &GossipRepr<'_>, rec: &Reception) {
        if rec.fetch.is_some() {
            // The announcement back to its sender, unicast, with 0 hops left.
            let mut ask = *g;
            ask.hops_left = 0;
            let mut buf = [0u8; M];
            if let (Ok(len), Some((link, to))) = (
                FrameRepr::new(Body::Gossip(ask)).emit(&mut buf),
                self.neighbour_link(&from),
            ) {
                self.push_frame(link, to, &buf[..len], true);
            }
        }
        if let Some(key) = rec.serve {
            let mut out = [0u8; FETCH_HEADER + hyphae_routing::gossip::STORE_BYTES];
            let Some(t) = self.tree() else { return };
            let Some(p) = t.gossip.serve(key) else { return };
            let n = FETCH_HEADER + p.len();
            out[..4].copy_from_slice(&key.origin.0);
            out[4..6].copy_from_slice(&key.id.to_le_bytes());
            out[FETCH_HEADER..n].copy_from_slice(p);
            if let Some(app) = AppId::from_name(GOSSIP_APP)
                && self.send(now, app, from, &out[..n]).is_err()
            {
                self.counters.drop(DropReason::Busy);
            }
        }
    }

    /// A fetched payload arrived (a transfer to [`GOSSIP_APP`]): checked against the
    /// announcement, stored, delivered to the topic's subscribers. `false` if it is not one.
    pub(in crate::node) fn on_fetched_gossip(
        &mut self,
        now: Instant,
        app: AppId,
        bytes: &[u8],
    ) -> bool {
        if AppId::from_name(GOSSIP_APP) != Some(app) {
            return false;
        }
        let (Some(head), Some(payload)) = (bytes.get(..FETCH_HEADER), bytes.get(FETCH_HEADER..))
        else {
            self.counters.drop(DropReason::Malformed);
            return true;
        };
        let key = Key {
            origin: hyphae_wire::ShortId([head[0], head[1], head[2], head[3]]),
            id: u16::from_le_bytes([head[4], head[5]]),
        };
        let Some(t) = self.tree_mut() else {
            return true;
        };
        let Ok(topic) = t.gossip.on_fetched(key, payload) else {
            self.counters.drop(DropReason::BadChecksum);
            return true;
        };
        if topic == SERVICE_TOPIC {
            // Verified before it is used or relayed (`signed.rs`), then used here, not
            // delivered to applications.
            let parsed = self
                .service_body(payload)
                .map(|b| ServiceRepr::parse(&ServicePacket::new_unchecked(b)));
            if let Some(Err(_)) = parsed {
                self.counters.drop(DropReason::Malformed);
            }
            let Some(t) = self.tree_mut() else {
                return true;
            };
            match parsed {
                Some(Ok(s)) => {
                    t.services.on_announcement(ri(now), &s);
                }
                Some(Err(_)) => {}
                None => {
                    for p in t.pending_gossip.iter_mut() {
                        if p.is_some_and(|p| p.origin == key.origin && p.id == key.id) {
                            *p = None;
                        }
                    }
                    return true;
                }
            }
        }
        let Some(t) = self.tree_mut() else {
            return true;
        };
        let relay = t
            .pending_gossip
            .iter_mut()
            .find(|p| p.is_some_and(|p| p.origin == key.origin && p.id == key.id))
            .and_then(Option::take);
        let subscribed = t.gossip.subscribed(topic);
        if let Some(relay) = relay {
            let mut buf = [0u8; M];
            if let Ok(len) = FrameRepr::new(Body::Gossip(relay)).emit(&mut buf)
                && self.push_broadcast(&buf[..len], true)
            {
                self.rstats.gossip_sent += 1;
            }
        }
        if subscribed && topic != SERVICE_TOPIC {
            self.deliver_gossip(now, topic, key.origin.0, payload);
        }
        true
    }

    /// Anti-entropy: re-announce one stored payload to the neighbours when the budget allows.
    pub(super) fn gossip_anti_entropy(&mut self, now: Instant) {
        let Some(t) = self.tree_mut() else { return };
        let Some(msg) = t.gossip.poll_anti_entropy(ri(now)) else {
            return;
        };
        let mut buf = [0u8; M];
        if let Ok(len) = FrameRepr::new(Body::Gossip(msg)).emit(&mut buf)
            && self.push_broadcast(&buf[..len], true)
        {
            self.rstats.gossip_sent += 1;
        }
    }
}
