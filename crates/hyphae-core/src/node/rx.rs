//! Receiving: parse, identify the sender, forward or hand the body to the sequencer.

use hyphae_link::{LinkAddr, RxMeta};
use hyphae_wire::frame::{Body, Frame};
use hyphae_wire::notice::Code;
use hyphae_wire::status::Repr as StatusRepr;
use hyphae_wire::{
    AckRepr, Address, BeaconRepr, FragmentRepr, NodeId, NoticeRepr, PackageRepr, RoutingRepr,
    SingleRepr,
};

use super::routing::Inbound;
use super::transfer::{InTransfer, MAX_FRAGMENTS, OutState, RECV_WINDOW};
use super::{Node, is_broadcast_transfer};
use crate::event::{DropReason, Event, FailReason};
use crate::links::LinkId;
use crate::peers::Touch;
use crate::time::Instant;

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    pub(super) fn receive(
        &mut self,
        now: Instant,
        link: LinkId,
        from: LinkAddr,
        meta: RxMeta,
        bytes: &[u8],
    ) {
        if usize::from(link.0) >= self.links.len() {
            self.counters.drop(DropReason::Unsupported);
            return;
        }
        let Ok(frame) = Frame::parse(bytes) else {
            self.counters.drop(DropReason::Malformed);
            return;
        };
        if frame.security.is_some() {
            // Sealed frames need hyphae-crypto's keys; this node has none.
            self.counters.drop(DropReason::Unsupported);
            return;
        }
        let Ok(body) = frame.body() else {
            self.counters.drop(DropReason::Malformed);
            return;
        };
        if let Body::Beacon(b) = &body {
            self.on_beacon(now, link, from, meta, b);
            return;
        }
        let Some(peer) = self.peers.by_addr_mut(link, &from) else {
            self.counters.drop(DropReason::UnknownSender);
            return;
        };
        peer.heard(now, link, from, meta);
        let neighbour = peer.id;
        self.tree_heard(now, &neighbour);
        self.rx_hop_limit_left = frame.routing.map(|r| r.hop_limit);
        self.rx_meta = meta;
        let origin = match frame.routing {
            None => neighbour,
            Some(r) => match self.routed_in(now, bytes, &frame, &r, neighbour, meta) {
                Inbound::Done => return,
                Inbound::Local(src) => src,
                Inbound::Pass => {
                    let for_us = match r.dst {
                        Address::Node(d) => d == self.id,
                        Address::Short(s) => s == self.id.short(),
                        Address::Coords(_) => false,
                    };
                    if !for_us {
                        self.forward(now, bytes, &frame, &r);
                        return;
                    }
                    let Address::Node(src) = r.src else {
                        self.counters.drop(DropReason::Unsupported);
                        return;
                    };
                    src
                }
            },
        };
        if self.peers.is_banned(&origin) {
            self.counters.drop(DropReason::Banned);
            return;
        }
        let flags = frame.header.flags;
        match body {
            Body::Single(s) => self.on_single(now, origin, &s),
            Body::Fragment(f) => self.on_fragment(now, origin, &f, flags.ack_requested()),
            Body::Ack { ack, retransmit } => {
                self.on_ack(now, origin, &ack, retransmit, flags.throttle());
            }
            Body::Status(StatusRepr::RequestNodeStatus) => {
                self.awake_until = now + self.config.awake_window;
                let awake_ms =
                    u16::try_from(self.config.awake_window.as_millis()).unwrap_or(u16::MAX);
                self.queue_status(origin, true, awake_ms);
            }
            Body::Status(StatusRepr::NodeIsActive { awake_ms }) => {
                if let Some(p) = self.peers.get_mut(&origin) {
                    p.awake_until = now + core::time::Duration::from_millis(u64::from(awake_ms));
                }
                for t in self.outbound.iter_mut() {
                    if t.dest == Some(origin) && matches!(t.state, OutState::Waking { .. }) {
                        t.state = OutState::Active;
                        t.last_progress = now;
                    }
                }
            }
            Body::Notice(n) => self.on_notice(origin, &n),
            Body::Beacon(_) => {}
            Body::SignedTree(msg, _) => {
                // Signed claims (`claims.rs`) and signed tree messages (`signed.rs`).
                if msg.op == hyphae_wire::tree::Op::Claim {
                    self.tree_claim(now, origin, &msg, frame.body);
                } else {
                    self.tree_signed(now, origin, &msg, frame.body);
                }
            }
            Body::Tree(msg)
                if msg.op == hyphae_wire::tree::Op::Claim
                    && !self.tree_claim(now, origin, &msg, frame.body) => {}
            Body::Tree(msg) if !self.tree_unsigned(&msg) => {}
            b @ (Body::Tree(_) | Body::Gossip(_) | Body::Service(_) | Body::Trace(_)) => {
                if !self.routing_body(now, origin, &b) {
                    self.counters.drop(DropReason::Unsupported);
                }
            }
            Body::Handshake(h) => {
                self.on_handshake(now, neighbour, origin, frame.routing.is_some(), h);
            }
        }
    }

    fn on_beacon(
        &mut self,
        now: Instant,
        link: LinkId,
        from: LinkAddr,
        meta: RxMeta,
        b: &BeaconRepr,
    ) {
        if b.node == self.id {
            return;
        }
        let rt = &self.rt;
        let keep = |id: &NodeId| super::routing::keeps_peer(rt, id);
        match self
            .peers
            .touch_keeping(now, b.node, link, from, meta, keep)
        {
            Touch::Banned => {
                self.counters.drop(DropReason::Banned);
                return;
            }
            Touch::Known => {}
            Touch::New => self.push(Event::PeerUp(b.node)),
            Touch::Evicted(old) => {
                self.counters.evictions += 1;
                self.push(Event::PeerEvicted(old));
                self.push(Event::PeerUp(b.node));
            }
        }
        // A new node id at a known address: the neighbour was re-flashed with a new identity
        // (`security.md` §12). Its old entry (and with it its link session) goes now, so
        // frames from the address are not attributed to the old identity meanwhile.
        while let Some(old) = self.peers.forget_addr(link, &from, &b.node) {
            self.push(Event::PeerDown(old));
        }
        if let Some(p) = self.peers.get_mut(&b.node) {
            p.caps = b.caps.0;
            p.apps.clear();
            for a in b.apps().take(crate::peers::APPS_PER_PEER) {
                let _ = p.apps.push(a.0);
            }
            p.beacon_seq(b.seq);
        }
        self.routing_on_beacon(now, b);
        self.link_on_beacon(now, b.node);
        self.activate(now);
    }

    fn forward(&mut self, now: Instant, bytes: &[u8], frame: &Frame<'_>, r: &RoutingRepr) {
        let src = match r.src {
            Address::Node(n) => Some(n),
            _ => None,
        };
        let transfer = transfer_of(frame);
        if r.hop_limit <= 1 {
            self.counters.drop(DropReason::HopLimit);
            if let (Some(s), Some(t)) = (src, transfer) {
                self.queue_notice(now, s, Code::HopLimitExceeded, t);
            }
            return;
        }
        let Address::Node(dest) = r.dst else {
            self.counters.drop(DropReason::NoRoute);
            return;
        };
        let Some(route) = self.route_to(&dest) else {
            self.counters.drop(DropReason::NoRoute);
            if let (Some(s), Some(t)) = (src, transfer) {
                self.queue_notice(now, s, Code::Unreachable, t);
            }
            return;
        };
        if bytes.len() > M || self.control.is_full() {
            self.counters.drop(DropReason::QueueFull);
            return;
        }
        let mut q = super::Queued {
            link: route.link,
            to: route.to,
            len: bytes.len(),
            control: false,
            retries: 0,
            bytes: [0; M],
        };
        q.bytes[..bytes.len()].copy_from_slice(bytes);
        let off = hyphae_wire::header::HEADER_LEN
            + frame
                .security
                .map_or(0, |_| hyphae_wire::security::HEADER_LEN);
        let mut rp = hyphae_wire::routing::Packet::new_unchecked(&mut q.bytes[off..]);
        rp.set_hop_limit(r.hop_limit - 1);
        if self.congested() {
            // Tell the ends to slow down: the throttle flag rides on the frames we forward.
            let mut hp = hyphae_wire::HeaderPacket::new_unchecked(&mut q.bytes[..]);
            let f = hp.flags().with_throttle(true);
            hp.set_flags_byte(hp.control(), f);
        }
        let _ = self.control.push_back(q);
        self.counters.forwarded += 1;
    }

    fn on_single(&mut self, now: Instant, origin: NodeId, s: &SingleRepr<'_>) {
        let broadcast = is_broadcast_transfer(s.transfer);
        if self.completed_count(&origin, s.transfer).is_some() {
            self.counters.duplicates += 1;
            if !broadcast {
                self.queue_final_ack(now, origin, s.transfer, 1);
            }
            return;
        }
        if !self.apps.contains(&s.app) {
            self.counters.drop(DropReason::NoSuchApplication);
            if !broadcast {
                self.queue_notice(now, origin, Code::NoSuchApplication, s.transfer);
            }
            return;
        }
        let Some(region) = self.in_arena.alloc(s.payload.len()) else {
            self.counters.drop(DropReason::Busy);
            if !broadcast {
                self.queue_notice(now, origin, Code::Busy, s.transfer);
            }
            return;
        };
        self.in_arena.get_mut(region).copy_from_slice(s.payload);
        let plain = if broadcast {
            Some((0, s.payload.len()))
        } else {
            self.e2e_open(now, origin, s.app, region, 0, s.payload.len())
        };
        let Some((offset, len)) = plain else {
            // Not remembered as completed: a retransmission is rejected again, never acked.
            self.in_arena.free(region);
            self.queue_notice(now, origin, Code::Rejected, s.transfer);
            return;
        };
        self.remember_completed(origin, s.transfer, 1, now);
        self.deliver(now, s.app, origin, region, offset, len, broadcast);
        if !broadcast {
            self.queue_final_ack(now, origin, s.transfer, 1);
        }
    }

    fn on_fragment(&mut self, now: Instant, origin: NodeId, f: &FragmentRepr<'_>, ack_req: bool) {
        let broadcast = is_broadcast_transfer(f.transfer);
        if let Some(count) = self.completed_count(&origin, f.transfer) {
            self.counters.duplicates += 1;
            if !broadcast {
                self.queue_final_ack(now, origin, f.transfer, count);
            }
            return;
        }
        let count = f.count();
        let last = f.index as u32 + 1 == count;
        let reject = |this: &mut Self, reason: DropReason, code: Code| {
            this.counters.drop(reason);
            if !broadcast {
                this.queue_notice(now, origin, code, f.transfer);
            }
        };
        if count > MAX_FRAGMENTS {
            return reject(self, DropReason::TooLarge, Code::TooLarge);
        }
        let pos = self
            .inbound
            .iter()
            .position(|t| t.from == origin && t.id == f.transfer);
        let i = match pos {
            Some(i) => i,
            None => {
                if last && count > 1 {
                    // Fragment size unknown until a full fragment arrives; it will be resent.
                    self.counters.drop(DropReason::OutOfWindow);
                    return;
                }
                let bound = count as usize * f.data.len();
                if bound
                    > self.config.max_transfer + hyphae_wire::package::HEADER_LEN + f.data.len()
                    || bound > IN
                {
                    return reject(self, DropReason::TooLarge, Code::TooLarge);
                }
                if self.inbound.is_full() {
                    return reject(self, DropReason::Busy, Code::Busy);
                }
                let _ = self
                    .inbound
                    .push(InTransfer::new(origin, f.transfer, count, broadcast, now));
                self.inbound.len() - 1
            }
        };
        let t = &mut self.inbound[i];
        if t.count != count {
            self.counters.drop(DropReason::Malformed);
            return;
        }
        if t.region.is_none() {
            if last && count > 1 {
                self.counters.drop(DropReason::OutOfWindow);
                return;
            }
            let frag_len = f.data.len();
            let Some(region) = u16::try_from(frag_len)
                .ok()
                .filter(|l| *l > 0)
                .and_then(|_| self.in_arena.alloc(count as usize * frag_len))
            else {
                self.inbound.swap_remove(i);
                return reject(self, DropReason::Busy, Code::Busy);
            };
            let t = &mut self.inbound[i];
            t.frag_len = frag_len as u16;
            t.region = Some(region);
        }
        let t = &mut self.inbound[i];
        let frag_len = usize::from(t.frag_len);
        let ok_len = if last {
            (1..=frag_len).contains(&f.data.len())
        } else {
            f.data.len() == frag_len
        };
        if !ok_len {
            self.counters.drop(DropReason::Malformed);
            return;
        }
        let index = u32::from(f.index);
        if index >= t.base + RECV_WINDOW {
            self.counters.drop(DropReason::OutOfWindow);
            return;
        }
        t.last_activity = now;
        if t.has(index) {
            self.counters.duplicates += 1;
        } else if let Some(region) = t.region {
            let start = index as usize * frag_len;
            self.in_arena.get_mut(region)[start..start + f.data.len()].copy_from_slice(f.data);
            let t = &mut self.inbound[i];
            if last {
                t.last_len = Some(f.data.len() as u16);
            }
            t.set(index);
        }
        let t = &mut self.inbound[i];
        if !broadcast {
            if ack_req {
                t.ack_now = true;
            } else if t.ack_due.is_none() {
                t.ack_due = Some(now + self.config.ack_delay);
            }
        }
        if t.complete() {
            self.finish_inbound(now, i);
        }
    }

    fn finish_inbound(&mut self, now: Instant, i: usize) {
        let t = self.inbound.swap_remove(i);
        let Some(region) = t.region else { return };
        let len = t.content_len();
        let region = self.in_arena.shrink(region, len);
        let content = self.in_arena.get(region);
        let header = PackageRepr::parse(content);
        let verdict = header.and_then(|h| {
            h.verify(&content[hyphae_wire::package::HEADER_LEN..])
                .map(|()| h)
        });
        if let Ok(h) = verdict
            && self.apps.contains(&h.app)
        {
            let plain = if t.broadcast {
                Some((hyphae_wire::package::HEADER_LEN, h.length as usize))
            } else {
                self.e2e_open(
                    now,
                    t.from,
                    h.app,
                    region,
                    hyphae_wire::package::HEADER_LEN,
                    h.length as usize,
                )
            };
            let Some((offset, len)) = plain else {
                // Not remembered as completed: a retransmission is rejected again, never acked.
                self.in_arena.free(region);
                self.queue_notice(now, t.from, Code::Rejected, t.id);
                return;
            };
            self.remember_completed(t.from, t.id, t.count, now);
            self.deliver(now, h.app, t.from, region, offset, len, t.broadcast);
            if !t.broadcast {
                self.queue_final_ack(now, t.from, t.id, t.count);
            }
            return;
        }
        self.remember_completed(t.from, t.id, t.count, now);
        match verdict {
            Ok(_) => {
                self.in_arena.free(region);
                self.counters.drop(DropReason::NoSuchApplication);
                if !t.broadcast {
                    self.queue_notice(now, t.from, Code::NoSuchApplication, t.id);
                }
            }
            Err(_) => {
                self.in_arena.free(region);
                self.counters.drop(DropReason::BadChecksum);
                if !t.broadcast {
                    self.queue_notice(now, t.from, Code::Rejected, t.id);
                }
            }
        }
    }

    fn on_ack(
        &mut self,
        now: Instant,
        origin: NodeId,
        ack: &AckRepr<'_>,
        retransmit: bool,
        throttle: bool,
    ) {
        let Some(i) = self
            .outbound
            .iter()
            .position(|t| t.dest == Some(origin) && t.id == ack.transfer)
        else {
            self.counters.drop(DropReason::Stale);
            return;
        };
        let window = self.config.effective_window();
        let hold = self.config.throttle_hold;
        let t = &mut self.outbound[i];
        if t.state != OutState::Active {
            t.state = OutState::Active;
        }
        let first_sample = t.srtt_us == 0;
        let progress = if retransmit {
            t.mark_lost(u32::from(ack.base), ack.bitmap);
            false
        } else {
            t.on_ack(
                now,
                u32::from(ack.base),
                ack.bitmap,
                ack.window,
                self.config.rto_min,
                self.config.rto_max,
            )
        };
        if first_sample && t.srtt_us != 0 {
            self.path_rtt.sample(t.srtt_us, t.hops);
        }
        let t = &mut self.outbound[i];
        // The destination (or a forwarder on the way) is congested: halve the window once per
        // hold period, not on every throttled acknowledgement, and do not grow it meanwhile.
        let holding = now < t.throttled_until;
        if throttle {
            if !holding {
                t.cwnd = (t.cwnd / 2).max(2);
                t.throttled_until = now + hold;
            }
        } else if progress && t.cwnd < window && !holding {
            t.cwnd += 1;
        }
        if t.complete() {
            self.succeed(i);
        }
    }

    fn on_notice(&mut self, origin: NodeId, n: &NoticeRepr) {
        // A notice concerns our transfer only if it comes from its destination, or (for a
        // destination we reach through other nodes) from a node that reports itself: an
        // unrelated node cannot cancel a one-hop transfer by guessing its id.
        let direct = |d: &NodeId| self.route_to(d).is_some_and(|r| r.header_len == 0);
        let reporter_is_origin = matches!(n.reporter, Address::Node(r) if r == origin);
        let Some(i) = self.outbound.iter().position(|t| {
            t.id == n.transfer
                && t.dest
                    .is_some_and(|d| d == origin || (!direct(&d) && reporter_is_origin))
        }) else {
            self.counters.drop(DropReason::Stale);
            return;
        };
        let reason = match n.code {
            Code::Unreachable => FailReason::Unreachable,
            Code::HopLimitExceeded => FailReason::HopLimitExceeded,
            Code::TooLarge => FailReason::TooLarge,
            Code::Busy => FailReason::Busy,
            Code::Rejected => FailReason::Rejected,
            Code::NoSuchApplication => FailReason::NoSuchApplication,
            Code::TimedOut => FailReason::TimedOut,
        };
        let at = match n.reporter {
            Address::Node(id) => Some(id),
            _ => None,
        };
        if reason == FailReason::Rejected && self.e2e_retry(i) {
            // The destination lost our end-to-end session (evicted, or a restart): the
            // transfer goes again, once, under a new one.
            return;
        }
        self.fail(i, reason, at);
    }

    /// Drop partial transfers past their lifetime; turn due delayed acks into acks.
    pub(super) fn expire_inbound(&mut self, now: Instant) {
        let mut i = 0;
        while i < self.inbound.len() {
            let life = self.inbound_lifetime(&self.inbound[i]);
            let t = &mut self.inbound[i];
            if now.saturating_since(t.last_activity) > life {
                if let Some(r) = t.region {
                    self.in_arena.free(r);
                }
                self.inbound.swap_remove(i);
                self.counters.drop(DropReason::Stale);
                continue;
            }
            if t.ack_due.is_some_and(|d| d <= now) {
                t.ack_due = None;
                t.ack_now = true;
            }
            i += 1;
        }
    }
}

fn transfer_of(frame: &Frame<'_>) -> Option<u16> {
    match frame.body().ok()? {
        Body::Single(s) => Some(s.transfer),
        Body::Fragment(f) => Some(f.transfer),
        _ => None,
    }
}
