//! Names and gossip of tree routing (`routing.md` §7, §9, §13.2): position announcements and
//! requests (node id → coordinates), application gossip topics and service discovery.

use super::*;

impl<const P: usize, const T: usize, const IN: usize, const OUT: usize, const M: usize>
    crate::node::Node<P, T, IN, OUT, M>
{
    /// Put `node`'s coordinates into the name cache (tree mode; `false` otherwise), e.g. from
    /// an out-of-band directory or a simulator's oracle. Position announcements (gossip) fill
    /// it too.
    pub fn learn_position(
        &mut self,
        now: Instant,
        node: NodeId,
        coords: &[Option<Coords>; MAX_TREES],
    ) -> bool {
        let Some(t) = self.tree_mut() else {
            return false;
        };
        t.names.learn_all(ri(now), node, coords);
        true
    }

    /// The coordinates the name cache holds for `node`.
    pub fn resolve(&self, node: &NodeId) -> Option<[Option<Coords>; MAX_TREES]> {
        self.tree()?.names.resolve(ri(self.last_now), *node)
    }

    /// Subscribe to gossip `topic`: messages on it arrive as [`crate::Event::Gossip`].
    pub fn gossip_subscribe(&mut self, topic: u16) -> bool {
        self.tree_mut().is_some_and(|t| t.gossip.subscribe(topic))
    }

    /// Flood `data` on gossip `topic` (tree mode) within the configured announcement hops. A
    /// payload larger than one gossip frame (up to 1 KiB) is announced and fetched on demand by
    /// the subscribers (`routing.md` §8); `TooLarge` above that.
    pub fn gossip_publish(
        &mut self,
        now: Instant,
        topic: u16,
        data: &[u8],
    ) -> Result<(), SendError> {
        let Some(t) = self.tree_mut() else {
            return Err(SendError::BadDestination);
        };
        let mut buf = [0u8; M];
        let msg = t
            .gossip
            .publish(ri(now), topic, data)
            .map_err(|_| SendError::TooLarge)?;
        let len = FrameRepr::new(Body::Gossip(msg))
            .emit(&mut buf)
            .map_err(|_| SendError::TooLarge)?;
        if self.push_broadcast(&buf[..len], true) {
            self.rstats.gossip_sent += 1;
            Ok(())
        } else {
            Err(SendError::Busy)
        }
    }

    /// Announce that `app` provides service `name` (1..=32 bytes) here: published by gossip now
    /// and every 300 s; other nodes find it with [`crate::Node::find_service`].
    pub fn announce_service(
        &mut self,
        now: Instant,
        name: &str,
        app: AppId,
    ) -> Result<(), SendError> {
        if name.is_empty() || name.len() > 32 {
            return Err(SendError::TooLarge);
        }
        let Some(t) = self.tree_mut() else {
            return Err(SendError::BadDestination);
        };
        t.own_services.retain(|(_, n)| n.as_str() != name);
        let mut s = heapless::String::new();
        let _ = s.push_str(name);
        t.own_services
            .push((app, s))
            .map_err(|_| SendError::AppTable)?;
        t.next_service_announce = Some(now);
        self.announce_services(now);
        Ok(())
    }

    /// The nearest known provider of service `name` (smallest tree distance over the trees;
    /// providers whose position is unknown rank last). This node's own services count.
    pub fn find_service(&self, name: &str) -> Option<ServiceProvider> {
        let t = self.tree()?;
        let now = ri(self.last_now);
        if let Some((app, _)) = t.own_services.iter().find(|(_, n)| n.as_str() == name) {
            return Some(ServiceProvider {
                node: self.id,
                app: *app,
                distance: Some(0),
            });
        }
        let (r, d) = t.services.nearest(now, name, &t.position(), &t.names)?;
        Some(ServiceProvider {
            node: r.provider,
            app: r.app,
            distance: (d != u32::MAX).then_some(d),
        })
    }

    /// Publish this node's position when it changed and stayed for two intervals, at most once
    /// per five intervals, and refresh it every two minutes.
    pub(super) fn announce_position(&mut self, now: Instant) {
        let id = self.id;
        let Some(t) = self.tree_mut() else { return };
        if t.announce_hops == 0 {
            return;
        }
        let pos = t.position();
        if pos.iter().all(Option::is_none) {
            t.changed_at = None;
            return;
        }
        if pos == t.announced {
            t.changed_at = None;
        } else if t.changed_at.is_none() {
            t.changed_at = Some(now);
        }
        let settled = t
            .changed_at
            .is_some_and(|c| now >= c + t.interval * 2 && now >= t.next_announce);
        // Refresh every two minutes, or every 60 intervals on a slow (duty-cycled) link.
        let every = ANNOUNCE_REFRESH.max(t.interval * 60);
        let refresh = t.changed_at.is_none() && now >= t.next_announce + every;
        if !(settled || refresh) {
            return;
        }
        t.announced = pos;
        t.changed_at = None;
        t.next_announce = now + t.interval * 5;
        let hops = t.gossip.hop_limit;
        let _ = id;
        self.publish_position(now, hops);
    }

    /// Flood this node's position (topic [`POSITION_TOPIC`]) within `hops`.
    fn publish_position(&mut self, now: Instant, hops: u8) {
        let id = self.id;
        let Some(t) = self.tree_mut() else { return };
        let pos = t.position();
        if pos.iter().all(Option::is_none) {
            return;
        }
        let mut payload = [0u8; 200];
        let Some(n) = encode_position(id, &pos[..t.router.tree_count()], &mut payload) else {
            return;
        };
        let mut buf = [0u8; M];
        let Ok(mut msg) = t.gossip.publish(ri(now), POSITION_TOPIC, &payload[..n]) else {
            return;
        };
        msg.hops_left = hops.clamp(1, hyphae_wire::gossip::MAX_HOPS);
        if let Ok(len) = FrameRepr::new(Body::Gossip(msg)).emit(&mut buf)
            && self.push_broadcast(&buf[..len], true)
        {
            self.rstats.gossip_sent += 1;
        }
    }

    /// Answer a position request: routed to the requester when its position is known (one
    /// path), else flooded as far as the request travelled, plus one.
    pub(super) fn answer_position(
        &mut self,
        now: Instant,
        requester: Option<NodeId>,
        travelled: u8,
    ) {
        let id = self.id;
        if let Some(to) = requester
            && let Some(route) = self.route_to(&to)
            && let Some(t) = self.tree_mut()
        {
            let pos = t.position();
            let mut payload = [0u8; 200];
            if let Some(n) = encode_position(id, &pos[..t.router.tree_count()], &mut payload)
                && let Ok(mut msg) = t.gossip.publish(ri(now), POSITION_TOPIC, &payload[..n])
            {
                // Not flooded any further: it travels as a routed frame to the requester.
                msg.hops_left = 0;
                let mut buf = [0u8; M];
                if let Some(len) =
                    self.emit_to(&mut buf, to, &route, Body::Gossip(msg), Flags::default())
                    && self.push_frame(route.link, route.to, &buf[..len], true)
                {
                    self.rstats.gossip_sent += 1;
                    return;
                }
            }
        }
        let hops = travelled
            .saturating_add(1)
            .min(hyphae_wire::gossip::MAX_HOPS);
        self.publish_position(now, hops);
    }

    /// Ask for the position of destinations that transfers wait for (at most once per
    /// [`REQUEST_GAP`] per destination).
    pub(super) fn request_positions(&mut self, now: Instant) {
        let me = self.id;
        for i in 0..self.outbound.len() {
            let t = &self.outbound[i];
            if t.state != crate::node::transfer::OutState::WaitRoute {
                continue;
            }
            let Some(dest) = t.dest else { continue };
            if self.route_to(&dest).is_some() {
                continue;
            }
            let Some(st) = self.tree_mut() else { return };
            if st
                .requested
                .iter()
                .flatten()
                .any(|(d, at)| *d == dest && now < *at + REQUEST_GAP)
            {
                continue;
            }
            let slot = st
                .requested
                .iter()
                .position(|e| e.is_none_or(|(_, at)| now >= at + REQUEST_GAP))
                .unwrap_or(0);
            st.requested[slot] = Some((dest, now));
            let mut buf = [0u8; M];
            // Payload: the wanted id, then this node's own position announcement, so the
            // destination can answer along one routed path.
            let mut payload = [0u8; 200];
            payload[..8].copy_from_slice(&dest.0);
            let pos = st.position();
            let n = encode_position(me, &pos[..st.router.tree_count()], &mut payload[8..])
                .map_or(8, |n| 8 + n);
            let Ok(mut msg) = st
                .gossip
                .publish(ri(now), POSITION_REQUEST_TOPIC, &payload[..n])
            else {
                continue;
            };
            // A lookup must reach the destination wherever it is: the widest gossip radius.
            msg.hops_left = hyphae_wire::gossip::MAX_HOPS;
            if let Ok(len) = FrameRepr::new(Body::Gossip(msg)).emit(&mut buf)
                && self.push_broadcast(&buf[..len], true)
            {
                self.rstats.gossip_sent += 1;
            }
        }
    }

    pub(super) fn announce_services(&mut self, now: Instant) {
        let id = self.id;
        let Some(t) = self.tree_mut() else { return };
        if t.next_service_announce.is_none_or(|at| now < at) || t.own_services.is_empty() {
            return;
        }
        t.service_seq = t.service_seq.wrapping_add(1);
        t.next_service_announce = Some(now + Duration::from_secs(u64::from(SERVICE_TTL) * 5));
        let mut s = ServiceRepr::new(id, t.service_seq, SERVICE_TTL);
        for (app, name) in &t.own_services {
            let _ = s.push(hyphae_wire::service::Entry {
                app: *app,
                name: name.as_str(),
            });
        }
        let mut body = [0u8; 200];
        let Ok(n) = Body::Service(s).emit(&mut body) else {
            return;
        };
        // Signed by this node, with its credential, in a secured network (`signed.rs`).
        let mut payload = [0u8; signed::SERVICE_MAX];
        let Some(n) = self.service_payload(&body[..n], &mut payload) else {
            return;
        };
        let Some(t) = self.tree_mut() else { return };
        let mut buf = [0u8; M];
        let Ok(msg) = t.gossip.publish(ri(now), SERVICE_TOPIC, &payload[..n]) else {
            return;
        };
        if let Ok(len) = FrameRepr::new(Body::Gossip(msg)).emit(&mut buf)
            && self.push_broadcast(&buf[..len], true)
        {
            self.rstats.gossip_sent += 1;
        }
    }
}
