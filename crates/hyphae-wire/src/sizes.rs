//! How many application bytes fit one frame on a link: computed from the layout constants,
//! never from a per-link schema table (`frames.md` §7).
//!
//! A frame is `common header | security header? | routing header? | body header | data |
//! tag?`. [`LAYOUTS`] lists, per layout, which of those parts are present; every length comes
//! from the constant of the module that defines the part, so a layout change moves these
//! figures with it.

use crate::{fragment, header, package, routing, security, single};

/// Which frame layout a size refers to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Layout {
    /// A one-hop Single frame: application payload bytes.
    Single,
    /// A one-hop compact Fragment frame: fragment data bytes.
    Fragment,
    /// A Single frame under a routing header whose two addresses are tree coordinates of the
    /// given depth (every child index below 15, one nibble each).
    Routed,
}

impl Layout {
    /// The name used by `hyphae spec sizes --json`.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Single => "single",
            Self::Fragment => "fragment",
            Self::Routed => "routed",
        }
    }
}

/// The parts one layout is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayoutParts {
    /// The layout.
    pub layout: Layout,
    /// Whether a routing header is present.
    pub routed: bool,
    /// Length of the body header before the data.
    pub body_header: usize,
}

/// The layouts and their parts (the table of `frames.md` §7).
pub const LAYOUTS: [LayoutParts; 3] = [
    LayoutParts {
        layout: Layout::Single,
        routed: false,
        body_header: single::HEADER_LEN,
    },
    LayoutParts {
        layout: Layout::Fragment,
        routed: false,
        body_header: fragment::COMPACT_HEADER_LEN,
    },
    LayoutParts {
        layout: Layout::Routed,
        routed: true,
        body_header: single::HEADER_LEN,
    },
];

/// The parts of `layout`.
pub const fn parts(layout: Layout) -> LayoutParts {
    let mut i = 0;
    while i < LAYOUTS.len() {
        if LAYOUTS[i].layout as u8 == layout as u8 {
            return LAYOUTS[i];
        }
        i += 1;
    }
    // Every layout has a row (checked by the `every_layout_has_a_row` test).
    LAYOUTS[0]
}

/// Bytes of a coordinate address of `depth` levels whose child indices are all below 15 (one
/// nibble each): the descriptor byte plus `ceil(depth / 2)`.
pub const fn coords_len(depth: usize) -> usize {
    1 + depth.div_ceil(2)
}

/// Bytes of a coordinate address of `depth` levels in the worst case (every index ≥ 15, three
/// nibbles each).
pub const fn coords_len_max(depth: usize) -> usize {
    1 + (3 * depth).div_ceil(2)
}

/// Bytes of a routing header as `hyphae-core` originates it in tree mode (`frames.md` §3):
/// destination coordinates of `depth` levels (indices below 15) with the destination's short
/// id, the source's full node id, no alternates (they are shed before they cost payload).
pub const fn routing_len(depth: usize) -> usize {
    routing::FIXED_LEN + coords_len(depth) + 4 + 9
}

/// Bytes every frame spends outside its routing header and body: the common header, plus the
/// security header and tag when `secure`.
pub const fn frame_overhead(secure: bool) -> usize {
    header::HEADER_LEN + if secure { security::OVERHEAD } else { 0 }
}

/// Bytes of one frame of `layout` that are not application data.
pub const fn overhead(layout: Layout, depth: usize, secure: bool) -> usize {
    let p = parts(layout);
    frame_overhead(secure) + if p.routed { routing_len(depth) } else { 0 } + p.body_header
}

/// Application bytes that fit one frame of `layout` on a link with frame MTU `mtu`; `depth`
/// is the tree depth of both addresses of a routed frame (ignored otherwise). 0 if nothing
/// fits.
pub const fn max_payload(mtu: usize, layout: Layout, depth: usize, secure: bool) -> usize {
    mtu.saturating_sub(overhead(layout, depth, secure))
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
    let header = if fragments <= fragment::MAX_COMPACT_FRAGMENTS {
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

    #[test]
    fn every_layout_has_a_row() {
        for l in [Layout::Single, Layout::Fragment, Layout::Routed] {
            assert_eq!(parts(l).layout, l);
        }
    }

    /// The part lengths and the ESP-NOW v1 table of `frames.md` §7, asserted against the layout
    /// constants.
    #[test]
    fn spec_table() {
        // Part lengths as §1–§4 state them.
        assert_eq!(header::HEADER_LEN, 2);
        assert_eq!((security::HEADER_LEN, security::TAG_LEN), (5, 16));
        assert_eq!(routing::FIXED_LEN, 4);
        assert_eq!((coords_len(4), coords_len(8), coords_len(12)), (3, 5, 7));
        assert_eq!(coords_len_max(8), 13);
        assert_eq!(single::HEADER_LEN, 4);
        assert_eq!(
            (fragment::COMPACT_HEADER_LEN, fragment::LARGE_HEADER_LEN),
            (4, 6)
        );
        assert_eq!(package::HEADER_LEN, 10);
        // (layout, depth, insecure, secure) for a 250-byte ESP-NOW v1 frame.
        let table = [
            (Layout::Single, 0, 244, 223),
            (Layout::Fragment, 0, 244, 223),
            (Layout::Routed, 4, 224, 203),
            (Layout::Routed, 8, 222, 201),
            (Layout::Routed, 12, 220, 199),
        ];
        for (layout, depth, insecure, secure) in table {
            assert_eq!(max_payload(250, layout, depth, false), insecure);
            assert_eq!(max_payload(250, layout, depth, true), secure);
        }
        // RYLR-998 (240 B) routed at depth 8, secure; UDP single, secure.
        assert_eq!(max_payload(240, Layout::Routed, 8, true), 191);
        assert_eq!(max_payload(1232, Layout::Single, 0, true), 1205);
        assert_eq!(fragment_capacity(250, 0, false, 300), 242);
        assert_eq!(max_payload(10, Layout::Routed, 8, true), 0);
    }

    #[test]
    fn routed_size_matches_an_emitted_frame() {
        use crate::address::{Address, Coords};
        use crate::frame::{Body, FrameRepr};
        use crate::package::AppId;
        let payload = [0u8; 222];
        let c = Address::Coords(Coords::new(&[14; 8]).unwrap());
        let frame = FrameRepr {
            routing: Some(routing::Repr {
                hop_limit: 31,
                tree: 7,
                epoch: 0xffff,
                dst: c,
                dst_id: Some(crate::address::ShortId([1; 4])),
                alt: [None; 2],
                src: Address::Node(crate::address::NodeId([2; 8])),
            }),
            ..FrameRepr::new(Body::Single(single::Repr {
                transfer: 1,
                app: AppId::new(1).unwrap(),
                payload: &payload,
            }))
        };
        assert_eq!(frame.buffer_len(), 250);
        assert_eq!(max_payload(250, Layout::Routed, 8, false), payload.len());
    }
}
