//! How many application bytes fit one frame on a link: computed from the layout constants,
//! never from a per-link schema table (`frames.md` §7).

use crate::{fragment, package, routing, security, single};

/// Which frame layout a size refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// A one-hop Single frame.
    Single,
    /// A one-hop compact Fragment frame (data bytes per fragment).
    Fragment,
    /// A routed Single frame with both addresses as coordinates of the given depth.
    Routed {
        /// Tree depth of both addresses.
        depth: usize,
    },
}

/// Bytes of a coordinate address of `depth` levels whose child indices are all below 15 (one
/// nibble each) — the common case the figures assume.
pub const fn coords_len(depth: usize) -> usize {
    1 + depth.div_ceil(2)
}

/// Bytes of a routing header whose two addresses are coordinates of `depth` levels.
pub const fn routing_len(depth: usize) -> usize {
    routing::FIXED_LEN + 2 * coords_len(depth)
}

/// Bytes every frame spends before its body and after it: common header, plus the security
/// header and tag when `secure`.
pub const fn frame_overhead(secure: bool) -> usize {
    crate::header::HEADER_LEN + if secure { security::OVERHEAD } else { 0 }
}

/// Application bytes that fit one frame of `layout` on a link with frame MTU `mtu`
/// (0 if nothing fits).
pub const fn max_payload(mtu: usize, layout: Layout, secure: bool) -> usize {
    let used = frame_overhead(secure)
        + match layout {
            Layout::Single => single::HEADER_LEN,
            Layout::Fragment => fragment::COMPACT_HEADER_LEN,
            Layout::Routed { depth } => routing_len(depth) + single::HEADER_LEN,
        };
    mtu.saturating_sub(used)
}

/// Fragment data bytes per frame for a transfer over a link with frame MTU `mtu`, when each
/// frame carries a routing header of `routing_header_len` bytes (0 for one hop) and the
/// transfer has `fragments` fragments (which decides compact or large form).
pub const fn fragment_capacity(
    mtu: usize,
    routing_header_len: usize,
    secure: bool,
    fragments: u32,
) -> usize {
    let header = if fragments <= 256 {
        fragment::COMPACT_HEADER_LEN
    } else {
        fragment::LARGE_HEADER_LEN
    };
    mtu.saturating_sub(frame_overhead(secure) + routing_header_len + header)
}

/// Bytes a transfer of `payload` application bytes occupies before fragmentation (the Package
/// header plus the payload).
pub const fn transfer_len(payload: usize) -> usize {
    package::HEADER_LEN + payload
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The table of `frames.md` §7, asserted against the layout constants.
    #[test]
    fn spec_table() {
        let cases: [(usize, Layout, bool, usize); 8] = [
            (250, Layout::Single, false, 244),
            (250, Layout::Single, true, 223),
            (250, Layout::Fragment, false, 244),
            (250, Layout::Routed { depth: 8 }, false, 231),
            (250, Layout::Routed { depth: 8 }, true, 210),
            (240, Layout::Routed { depth: 8 }, true, 200),
            (250, Layout::Routed { depth: 12 }, true, 206),
            (1232, Layout::Single, true, 1205),
        ];
        for (mtu, layout, secure, want) in cases {
            assert_eq!(
                max_payload(mtu, layout, secure),
                want,
                "{mtu} {layout:?} {secure}"
            );
        }
        assert_eq!(fragment_capacity(250, 0, false, 300), 242);
        assert_eq!(max_payload(10, Layout::Routed { depth: 8 }, true), 0);
    }
}
