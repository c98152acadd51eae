//! Transmitting: the control queue, acknowledgements, then transfer fragments in fair order.

use hyphae_link::LinkAddr;
use hyphae_wire::beacon::Capabilities;
use hyphae_wire::frame::{Body, FrameRepr};
use hyphae_wire::notice::Code;
use hyphae_wire::status::Repr as StatusRepr;
use hyphae_wire::{
    AckRepr, Address, BeaconRepr, Flags, FragmentRepr, NodeId, NoticeRepr, SingleRepr,
};

use super::transfer::OutState;
use super::{Node, Queued, Route, Transmit};
use crate::event::DropReason;
use crate::links::LinkId;
use crate::time::{Instant, earliest};

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    Node<P, T, IN, OUT, M>
{
    /// The next frame to send, written to the front of `buf` (at least the link MTU long),
    /// sealed when the node has a security context (`crate::security`). Call until it returns
    /// `None` after every input and timeout.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        loop {
            let t = self.poll_transmit_plain(now, buf)?;
            // A frame that cannot be sealed is dropped (counted); try the next one.
            if let Some(len) = self.seal_out(now, t.link, &t.to, buf, t.len) {
                return Some(Transmit { len, ..t });
            }
        }
    }

    fn poll_transmit_plain(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.handle_timeout(now);
        self.blocked_until = None;
        self.tx_retries = 0;
        let t = self
            .transmit_control(now, buf)
            .or_else(|| self.transmit_ack(now, buf))
            .or_else(|| self.transmit_data(now, buf))?;
        if self.config.link_retries > 0 && !t.to.is_broadcast() && t.len <= M {
            // Kept until the link reports the outcome (`LinkEvent::TxDone`).
            let mut q = Queued {
                link: t.link,
                to: t.to,
                len: t.len,
                control: true,
                retries: self.tx_retries,
                bytes: [0; M],
            };
            q.bytes[..t.len].copy_from_slice(&buf[..t.len]);
            self.pending_tx = Some(q);
        }
        Some(t)
    }

    fn link_ready(&mut self, now: Instant, link: LinkId, len: usize) -> bool {
        let Some(l) = self.links.get_mut(usize::from(link.0)) else {
            return false;
        };
        let blocked = self.link_blocked.get(usize::from(link.0)).copied();
        let at = l.ready_at(now, len).max(blocked.unwrap_or(now));
        if at > now {
            self.blocked_until = earliest(self.blocked_until, Some(at));
            return false;
        }
        true
    }

    fn sent(&mut self, now: Instant, link: LinkId, len: usize, control: bool) {
        if let Some(l) = self.links.get_mut(usize::from(link.0)) {
            l.charge(now, len);
        }
        self.counters.frames_out += 1;
        self.counters.bytes_out += len as u64;
        if control {
            self.counters.control_bytes_out += len as u64;
            self.counters.control_frames_out += 1;
        }
    }

    fn transmit_control(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        // The first queued frame whose link may send now; frames for a link that waits for
        // airtime do not hold back frames for other links (order per link is kept).
        let n = self.control.len();
        let mut chosen = None;
        let mut waiting: heapless::Vec<LinkId, { super::MAX_LINKS }> = heapless::Vec::new();
        for _ in 0..n {
            let q = self.control.pop_front()?;
            let ready = chosen.is_none()
                && !waiting.contains(&q.link)
                && buf.len() >= q.len
                && self.link_ready(now, q.link, q.len);
            if ready {
                chosen = Some(q);
            } else {
                if !waiting.contains(&q.link) {
                    let _ = waiting.push(q.link);
                }
                // Cannot fail: one entry was popped just before.
                let _ = self.control.push_back(q);
            }
        }
        let q = chosen?;
        let len = q.len;
        self.tx_retries = q.retries;
        buf[..len].copy_from_slice(&q.bytes[..len]);
        self.sent(now, q.link, len, q.control);
        Some(Transmit {
            link: q.link,
            to: q.to,
            len,
        })
    }

    fn transmit_ack(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let throttle = self.congested();
        for i in 0..self.inbound.len() {
            let t = &self.inbound[i];
            if !t.ack_now || t.broadcast {
                continue;
            }
            let Some(route) = self.route_to(&t.from) else {
                continue;
            };
            let mut map = [0u8; 32];
            let n = t.bitmap(&mut map);
            let free = (super::transfer::RECV_WINDOW - (t.highest.saturating_sub(t.base)).min(255))
                .min(255) as u8;
            let body = Body::Ack {
                ack: AckRepr {
                    transfer: t.id,
                    base: t.base as u16,
                    window: if throttle { free.min(4) } else { free },
                    bitmap: &map[..n],
                },
                retransmit: false,
            };
            let flags = Flags::default().with_throttle(throttle);
            let from = t.from;
            let Some(len) = self.emit_to(buf, from, &route, body, flags) else {
                continue;
            };
            if !self.link_ready(now, route.link, len) {
                continue;
            }
            let t = &mut self.inbound[i];
            t.ack_now = false;
            t.ack_due = None;
            self.sent(now, route.link, len, true);
            return Some(Transmit {
                link: route.link,
                to: route.to,
                len,
            });
        }
        None
    }

    fn transmit_data(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let napps = self.apps.len();
        for k in 0..napps {
            let app_index = (self.rr_cursor + k) % napps;
            let app = self.apps[app_index];
            let mut i = 0;
            while i < self.outbound.len() {
                if self.outbound[i].app != app || self.outbound[i].state != OutState::Active {
                    i += 1;
                    continue;
                }
                let before = self.outbound.len();
                let sent = if self.outbound[i].dest.is_some() {
                    self.transmit_unicast(now, i, buf)
                } else {
                    self.transmit_broadcast(now, i, buf)
                };
                if let Some(t) = sent {
                    self.rr_cursor = app_index + 1;
                    return Some(t);
                }
                // A transfer that ended (failed or done) was swapped out: index `i` now holds
                // another one.
                if self.outbound.len() == before {
                    i += 1;
                }
            }
        }
        None
    }

    fn transmit_unicast(&mut self, now: Instant, i: usize, buf: &mut [u8]) -> Option<Transmit> {
        let dest = self.outbound[i].dest?;
        let route = self.route_to(&dest)?;
        let pacing = self.config.pacing;
        if let Some(p) = self.peers.get(&dest)
            && !pacing.is_zero()
            && now < p.last_tx + pacing
        {
            self.blocked_until = earliest(self.blocked_until, Some(p.last_tx + pacing));
            return None;
        }
        let t = &self.outbound[i];
        let index = t.next_fragment()?;
        let content = self.out_arena.get(t.region);
        let window_full =
            t.in_flight() + 1 >= u32::from(t.cwnd.max(1)) || index + 1 >= t.base + t.span_limit();
        let retransmission = index < t.next_new;
        let ack_every = u32::from(self.config.ack_every.max(1));
        let ack = t.single
            || retransmission
            || window_full
            || (index + 1) % ack_every == 0
            || index + 1 == t.count;
        let body = transfer_body(t, content, index);
        let flags = Flags::default().with_ack_requested(ack);
        let len = self.emit_to(buf, dest, &route, body, flags);
        let Some(len) = len else {
            // The route changed to a link that cannot carry this transfer's fragments.
            self.fail(i, crate::event::FailReason::TooLarge, None);
            return None;
        };
        if !self.link_ready(now, route.link, len) {
            // Waiting for airtime (duty cycle) is not the destination's silence.
            self.outbound[i].last_progress = now;
            return None;
        }
        let t = &mut self.outbound[i];
        if t.on_sent(index, now, ack) {
            self.counters.retransmissions += 1;
        }
        if let Some(p) = self.peers.get_mut(&dest) {
            p.last_tx = now;
        }
        self.sent(now, route.link, len, false);
        Some(Transmit {
            link: route.link,
            to: route.to,
            len,
        })
    }

    fn transmit_broadcast(&mut self, now: Instant, i: usize, buf: &mut [u8]) -> Option<Transmit> {
        let bcast_links: heapless::Vec<LinkId, { super::MAX_LINKS }> = self
            .links
            .iter()
            .enumerate()
            .filter(|(n, l)| l.info.broadcast && self.link_up[*n])
            .map(|(n, _)| LinkId(n as u8))
            .collect();
        if bcast_links.is_empty() {
            // Every broadcast link is down: wait (the transfer times out if none comes back).
            return None;
        }
        let repeats = u32::from(self.config.broadcast_repeats.max(1));
        let t = &self.outbound[i];
        let per_link = t.count * repeats;
        let total = per_link * bcast_links.len() as u32;
        if t.bcast_pos >= total {
            self.succeed(i);
            return None;
        }
        // In range: bcast_pos < total = per_link × bcast_links.len().
        let link = bcast_links[(t.bcast_pos / per_link) as usize];
        let index = t.bcast_pos % t.count;
        let content = self.out_arena.get(t.region);
        let body = transfer_body(t, content, index);
        let len = FrameRepr::new(body).emit(buf).ok()?;
        if !self.link_ready(now, link, len) {
            self.outbound[i].last_progress = now;
            return None;
        }
        self.outbound[i].bcast_pos += 1;
        self.outbound[i].last_progress = now;
        self.sent(now, link, len, false);
        if self.outbound[i].bcast_pos >= total {
            self.succeed(i);
        }
        Some(Transmit {
            link,
            to: LinkAddr::BROADCAST,
            len,
        })
    }

    /// Emit a frame to `dest` along `route` (routed header when `route` goes via another node).
    pub(super) fn emit_to(
        &self,
        buf: &mut [u8],
        dest: NodeId,
        route: &Route,
        body: Body<'_>,
        flags: Flags,
    ) -> Option<usize> {
        let routing = self.routing_header(dest, route);
        let mut frame = FrameRepr {
            flags: self.routing_flags(flags, route),
            security: None,
            routing,
            body,
        };
        let mtu = self.links.get(usize::from(route.link.0))?.info.mtu;
        // Alternates (`frames.md` §3) are optional: a frame that would not fit sheds them, last
        // first, so they never cost a message its size limit.
        let mut shed = frame.routing.as_ref().map_or(0, |r| r.alt.len());
        while frame.buffer_len() > mtu && shed > 0 {
            shed -= 1;
            if let Some(r) = frame.routing.as_mut() {
                r.alt[shed] = None;
            }
        }
        if frame.buffer_len() > mtu {
            return None;
        }
        frame.emit(buf).ok()
    }

    pub(super) fn queue(
        &mut self,
        link: LinkId,
        to: LinkAddr,
        build: impl FnOnce(&mut [u8]) -> Option<usize>,
    ) {
        if self.control.is_full() {
            self.counters.drop(DropReason::QueueFull);
            return;
        }
        let mut q = Queued {
            link,
            to,
            len: 0,
            control: true,
            retries: 0,
            bytes: [0; M],
        };
        match build(&mut q.bytes) {
            Some(len) => {
                q.len = len;
                let _ = self.control.push_back(q);
            }
            None => self.counters.drop(DropReason::QueueFull),
        }
    }

    pub(super) fn queue_to(&mut self, dest: NodeId, body: Body<'_>) {
        let Some(route) = self.route_to(&dest) else {
            self.counters.drop(DropReason::NoRoute);
            return;
        };
        let mut tmp = [0u8; M];
        if let Some(len) = self.emit_to(&mut tmp, dest, &route, body, Flags::default()) {
            self.queue(route.link, route.to, |b| {
                b[..len].copy_from_slice(&tmp[..len]);
                Some(len)
            });
        }
    }

    pub(super) fn queue_final_ack(&mut self, _now: Instant, to: NodeId, transfer: u16, count: u32) {
        let body = Body::Ack {
            ack: AckRepr {
                transfer,
                base: count as u16,
                window: 255,
                bitmap: &[],
            },
            retransmit: false,
        };
        self.queue_to(to, body);
    }

    pub(super) fn queue_notice(&mut self, _now: Instant, to: NodeId, code: Code, transfer: u16) {
        let body = Body::Notice(NoticeRepr {
            code,
            transfer,
            reporter: Address::Node(self.id),
        });
        self.queue_to(to, body);
    }

    pub(super) fn queue_status(&mut self, to: NodeId, nia: bool, awake_ms: u16) {
        let body = Body::Status(if nia {
            StatusRepr::NodeIsActive { awake_ms }
        } else {
            StatusRepr::RequestNodeStatus
        });
        self.queue_to(to, body);
    }

    pub(super) fn queue_beacons(&mut self, now: Instant) {
        let interval = (self.config.beacon_interval.as_millis() / 100).clamp(1, 255) as u8;
        let mut caps = self.config.capabilities & 0x0f;
        if self.config.sleepy {
            caps |= Capabilities::SLEEPY;
        }
        let mut beacon = BeaconRepr::new(self.id, Capabilities(caps), self.beacon_seq, interval);
        self.beacon_seq = self.beacon_seq.wrapping_add(1);
        for app in self.apps.iter().take(hyphae_wire::beacon::MAX_APPS) {
            let _ = beacon.push_app(*app);
        }
        self.routing_beacon(&mut beacon);
        let len = FrameRepr::new(Body::Beacon(beacon)).buffer_len();
        for n in 0..self.links.len() {
            if !self.links[n].info.broadcast || !self.link_up[n] {
                continue;
            }
            // On a duty-cycled link beacons may use at most a tenth of the airtime budget, and
            // never stack up behind each other in the queue.
            let link = LinkId(n as u8);
            let min_gap = self.links[n].beacon_gap(len);
            let queued = self
                .control
                .iter()
                .any(|q| q.link == link && q.control && q.to.is_broadcast());
            if queued || now < self.links[n].last_beacon + min_gap && self.links[n].beaconed {
                continue;
            }
            self.links[n].last_beacon = now;
            self.links[n].beaconed = true;
            self.queue(link, LinkAddr::BROADCAST, |b| {
                FrameRepr::new(Body::Beacon(beacon)).emit(b).ok()
            });
        }
    }
}

/// The body carrying fragment `index` of `t` (whose content, Package header first, is
/// `content`): the whole payload as a Single, or one Fragment.
fn transfer_body<'a>(t: &super::transfer::OutTransfer, content: &'a [u8], index: u32) -> Body<'a> {
    if t.single {
        return Body::Single(SingleRepr {
            transfer: t.id,
            app: t.app,
            payload: &content[hyphae_wire::package::HEADER_LEN..],
        });
    }
    let fl = usize::from(t.frag_len);
    let start = index as usize * fl;
    let end = (start + fl).min(content.len());
    Body::Fragment(FragmentRepr {
        transfer: t.id,
        // index < count <= 65 535 (checked at activation).
        index: index as u16,
        last: (t.count - 1) as u16,
        data: &content[start..end],
    })
}
