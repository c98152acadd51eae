//! A fixed-size byte arena with first-fit allocation of contiguous regions: the memory budget
//! for reassembly and outbound transfers, owned by the node (and so by the caller).

/// A contiguous region of an [`Arena`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Region {
    pub(crate) start: u32,
    pub(crate) len: u32,
}

impl Region {
    pub(crate) fn range(self) -> core::ops::Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// `N` bytes and at most `R` live regions.
#[derive(Debug)]
pub(crate) struct Arena<const N: usize, const R: usize> {
    bytes: [u8; N],
    /// Live regions, sorted by start.
    live: heapless::Vec<Region, R>,
}

impl<const N: usize, const R: usize> Arena<N, R> {
    pub(crate) const fn new() -> Self {
        Self {
            bytes: [0; N],
            live: heapless::Vec::new(),
        }
    }

    /// Allocate `len` bytes; `None` if no gap is large enough or the region table is full.
    pub(crate) fn alloc(&mut self, len: usize) -> Option<Region> {
        let len32 = u32::try_from(len).ok()?;
        if len > N || self.live.is_full() {
            return None;
        }
        let mut cursor = 0u32;
        let mut at = self.live.len();
        for (i, r) in self.live.iter().enumerate() {
            if r.start - cursor >= len32 {
                at = i;
                break;
            }
            cursor = r.start + r.len;
        }
        if at == self.live.len() && (N as u64) < u64::from(cursor) + u64::from(len32) {
            return None;
        }
        let region = Region {
            start: cursor,
            len: len32,
        };
        self.live.insert(at, region).ok()?;
        Some(region)
    }

    /// Release a region returned by [`Arena::alloc`].
    pub(crate) fn free(&mut self, region: Region) {
        if let Some(i) = self.live.iter().position(|r| *r == region) {
            self.live.remove(i);
        }
    }

    /// Shrink a live region in place to `len` bytes.
    pub(crate) fn shrink(&mut self, region: Region, len: usize) -> Region {
        let len = u32::try_from(len).unwrap_or(region.len).min(region.len);
        match self.live.iter_mut().find(|r| **r == region) {
            Some(r) => {
                r.len = len;
                *r
            }
            None => region,
        }
    }

    pub(crate) fn get(&self, region: Region) -> &[u8] {
        &self.bytes[region.range()]
    }

    pub(crate) fn get_mut(&mut self, region: Region) -> &mut [u8] {
        &mut self.bytes[region.range()]
    }

    /// Bytes currently allocated.
    pub(crate) fn used(&self) -> usize {
        self.live.iter().map(|r| r.len as usize).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_reuses_gaps() {
        let mut a: Arena<100, 4> = Arena::new();
        let x = a.alloc(40).unwrap();
        let y = a.alloc(40).unwrap();
        assert!(a.alloc(30).is_none());
        a.free(x);
        let z = a.alloc(30).unwrap();
        assert_eq!(z.start, 0);
        assert_eq!(y.start, 40);
        assert_eq!(a.used(), 70);
        let w = a.alloc(20).unwrap();
        assert_eq!(w.start, 80);
        assert!(a.alloc(1).is_some());
        assert!(a.alloc(1).is_none()); // region table full
    }
}
