//! The two greedy metrics of `ROUTING.md` §3 on tree coordinates, as integers.
//!
//! - mode 0, tree distance: `d_td(a, b) = |a| + |b| - 2 cpl(a, b)`;
//! - mode 1, common prefix: `d_cpl(a, b) = L - cpl(a, b) - 1 / (|a| + |b| + 1)` for `a != b`, `0`
//!   for `a == b`, encoded without fractions as `(L + 1 - cpl) * 256 + |a| + |b|`, which orders
//!   exactly like the real-valued form (more common prefix first, then the shorter pair).

use hyphae_wire::Coords;
use hyphae_wire::address::MAX_DEPTH;

/// Which distance greedy forwarding minimises (the header's metric-mode bit).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Metric {
    /// Mode 0: hop count through the tree.
    #[default]
    TreeDistance,
    /// Mode 1: longest common prefix, then the shorter coordinates.
    CommonPrefix,
}

impl Metric {
    /// The metric for a header mode bit.
    pub const fn from_mode(bit: bool) -> Self {
        if bit {
            Self::CommonPrefix
        } else {
            Self::TreeDistance
        }
    }

    /// The distance between `a` and `b`; 0 exactly when `a == b`.
    pub fn distance(self, a: &Coords, b: &Coords) -> u32 {
        match self {
            Self::TreeDistance => tree_distance(a, b),
            Self::CommonPrefix => cpl_distance(a, b),
        }
    }
}

/// Number of leading equal child indices.
pub fn cpl(a: &Coords, b: &Coords) -> u32 {
    a.common_prefix_len(b) as u32
}

/// Hop distance through the tree (mode 0).
pub fn tree_distance(a: &Coords, b: &Coords) -> u32 {
    a.depth() as u32 + b.depth() as u32 - 2 * cpl(a, b)
}

/// Integer form of the common-prefix distance (mode 1).
pub fn cpl_distance(a: &Coords, b: &Coords) -> u32 {
    if a == b {
        return 0;
    }
    let l = MAX_DEPTH as u32 + 1;
    (l - cpl(a, b)) * 256 + a.depth() as u32 + b.depth() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn c(v: &[u16]) -> Coords {
        Coords::new(v).unwrap()
    }

    #[test]
    fn examples() {
        assert_eq!(tree_distance(&c(&[1, 2, 3]), &c(&[1, 4])), 3);
        assert_eq!(tree_distance(&c(&[]), &c(&[1, 4])), 2);
        assert!(cpl_distance(&c(&[1, 2]), &c(&[1, 2, 3])) < cpl_distance(&c(&[1]), &c(&[1, 2, 3])));
        // among equal prefixes, the shorter coordinate is closer
        assert!(cpl_distance(&c(&[1, 5]), &c(&[1, 2])) < cpl_distance(&c(&[1, 5, 7]), &c(&[1, 2])));
        assert_eq!(Metric::from_mode(true), Metric::CommonPrefix);
    }

    fn coords() -> impl Strategy<Value = Coords> {
        // a narrow alphabet so that prefixes are shared often
        proptest::collection::vec(0u16..4, 0..12).prop_map(|v| Coords::new(&v).unwrap())
    }

    proptest! {
        #[test]
        fn tree_distance_is_a_metric(a in coords(), b in coords(), x in coords()) {
            prop_assert_eq!(tree_distance(&a, &a), 0);
            prop_assert_eq!(tree_distance(&a, &b) == 0, a == b);
            prop_assert_eq!(tree_distance(&a, &b), tree_distance(&b, &a));
            prop_assert!(tree_distance(&a, &b) <= tree_distance(&a, &x) + tree_distance(&x, &b));
        }

        #[test]
        fn cpl_distance_is_zero_only_on_equality(a in coords(), b in coords()) {
            prop_assert_eq!(cpl_distance(&a, &b) == 0, a == b);
            prop_assert_eq!(cpl_distance(&a, &b), cpl_distance(&b, &a));
        }

        /// In an intact tree the parent or the child toward the destination is strictly closer
        /// in both metrics, so greedy on tree edges alone always makes progress.
        #[test]
        fn tree_neighbour_strictly_closer(x in coords(), y in coords()) {
            prop_assume!(x != y);
            let next = if x.is_prefix_of(&y) {
                y.levels().nth(x.depth()).map(|i| x.child(i).unwrap()).unwrap()
            } else {
                x.parent().unwrap()
            };
            for m in [Metric::TreeDistance, Metric::CommonPrefix] {
                prop_assert!(m.distance(&next, &y) < m.distance(&x, &y));
            }
        }
    }
}
