//! Fragments of a transfer, compact and large forms (`frames.md` §4.2).
//!
//! ```text
//! compact (kind Fragment):      transfer u16 | index u8  | count-1 u8  | data
//! large   (kind FragmentLarge): transfer u16 | index u16 | count-1 u16 | data
//! ```
//!
//! The form follows from the transfer's fragment count: compact when it is at most 256, large
//! otherwise. A large fragment of a transfer of ≤ 256 fragments is not canonical and is
//! rejected ([`Error::Malformed`]), so that every parsed fragment re-emits to the same bytes.

use core::fmt;

use crate::{Error, Result};

/// Header length of a compact fragment (≤ 256 fragments).
pub const COMPACT_HEADER_LEN: usize = 4;
/// Header length of a large fragment (≤ 65 536 fragments).
pub const LARGE_HEADER_LEN: usize = 6;
/// Most fragments one transfer may have.
pub const MAX_FRAGMENTS: u32 = 1 << 16;
/// Most fragments a compact-form transfer may have.
pub const MAX_COMPACT_FRAGMENTS: u32 = 256;

/// Which of the two layouts a fragment body uses (given by the frame kind).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Form {
    /// Kind Fragment: 8-bit index and count.
    Compact,
    /// Kind FragmentLarge: 16-bit index and count.
    Large,
}

impl Form {
    /// Header length of this form.
    pub const fn header_len(self) -> usize {
        match self {
            Self::Compact => COMPACT_HEADER_LEN,
            Self::Large => LARGE_HEADER_LEN,
        }
    }
}

/// A read/write view over a Fragment or FragmentLarge body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
    form: Form,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wrap a buffer holding a body of `form` without checking; accessors may panic until
    /// [`Packet::check_len`] has succeeded.
    pub const fn new_unchecked(buffer: T, form: Form) -> Self {
        Self { buffer, form }
    }
    /// Wrap and check the length; after `Ok`, no accessor panics.
    pub fn new_checked(buffer: T, form: Form) -> Result<Self> {
        let p = Self::new_unchecked(buffer, form);
        p.check_len()?;
        Ok(p)
    }
    /// `Err(Truncated)` if shorter than the form's header.
    pub fn check_len(&self) -> Result<()> {
        if self.buffer.as_ref().len() < self.form.header_len() {
            Err(Error::Truncated)
        } else {
            Ok(())
        }
    }
    /// The wrapped buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
    /// The form the view reads.
    pub fn form(&self) -> Form {
        self.form
    }
    fn u16_at(&self, at: usize) -> u16 {
        let b = self.buffer.as_ref();
        u16::from_le_bytes([b[at], b[at + 1]])
    }
    /// The transfer id.
    pub fn transfer(&self) -> u16 {
        self.u16_at(0)
    }
    /// The fragment index.
    pub fn index(&self) -> u16 {
        match self.form {
            Form::Compact => u16::from(self.buffer.as_ref()[2]),
            Form::Large => self.u16_at(2),
        }
    }
    /// The fragment count minus one.
    pub fn last(&self) -> u16 {
        match self.form {
            Form::Compact => u16::from(self.buffer.as_ref()[3]),
            Form::Large => self.u16_at(4),
        }
    }
    /// The fragment data.
    pub fn data(&self) -> &[u8] {
        &self.buffer.as_ref()[self.form.header_len()..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Set the transfer id.
    pub fn set_transfer(&mut self, transfer: u16) {
        self.buffer.as_mut()[0..2].copy_from_slice(&transfer.to_le_bytes());
    }
    /// Set index and count − 1; in the compact form both are truncated to 8 bits.
    pub fn set_index_last(&mut self, index: u16, last: u16) {
        let b = self.buffer.as_mut();
        match self.form {
            Form::Compact => {
                b[2] = index.to_le_bytes()[0];
                b[3] = last.to_le_bytes()[0];
            }
            Form::Large => {
                b[2..4].copy_from_slice(&index.to_le_bytes());
                b[4..6].copy_from_slice(&last.to_le_bytes());
            }
        }
    }
    /// The fragment data, writable.
    pub fn data_mut(&mut self) -> &mut [u8] {
        let at = self.form.header_len();
        &mut self.buffer.as_mut()[at..]
    }
}

/// The meaning of a Fragment or FragmentLarge body.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Repr<'a> {
    /// Transfer id.
    pub transfer: u16,
    /// Index of this fragment (`<= last`).
    pub index: u16,
    /// Number of fragments in the transfer, minus one.
    pub last: u16,
    /// Fragment data.
    pub data: &'a [u8],
}

impl<'a> Repr<'a> {
    /// Number of fragments in the transfer (1..=65 536).
    pub fn count(&self) -> u32 {
        u32::from(self.last) + 1
    }

    /// The form this fragment is sent in: compact for transfers of at most 256 fragments.
    pub fn form(&self) -> Form {
        if self.count() <= MAX_COMPACT_FRAGMENTS {
            Form::Compact
        } else {
            Form::Large
        }
    }

    /// Whether the compact form carries this fragment.
    pub fn is_compact(&self) -> bool {
        self.form() == Form::Compact
    }

    /// Header length for this fragment's form.
    pub fn header_len(&self) -> usize {
        self.form().header_len()
    }

    /// Parse a body. `Err(Malformed)` if index > count − 1 or a large body describes a
    /// transfer the compact form carries.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<Self> {
        packet.check_len()?;
        let r = Self {
            transfer: packet.transfer(),
            index: packet.index(),
            last: packet.last(),
            data: &packet.buffer.as_ref()[packet.form.header_len()..],
        };
        if r.index > r.last || r.form() != packet.form {
            return Err(Error::Malformed);
        }
        Ok(r)
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.data.len()
    }

    /// Emit into `packet`, whose form must be [`Repr::form`]. `Err(Malformed)` if
    /// index > last or the form differs, `Err(TooLong)` if the buffer is too short.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, packet: &mut Packet<T>) -> Result<()> {
        if self.index > self.last || packet.form != self.form() {
            return Err(Error::Malformed);
        }
        if packet.buffer.as_ref().len() < self.buffer_len() {
            return Err(Error::TooLong);
        }
        packet.set_transfer(self.transfer);
        packet.set_index_last(self.index, self.last);
        packet.data_mut()[..self.data.len()].copy_from_slice(self.data);
        Ok(())
    }
}

impl fmt::Display for Repr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "fragment #{} {}/{} {} B",
            self.transfer,
            self.index,
            self.count(),
            self.data.len()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // frames.md §8: transfer 5, fragment 2 of 10, data AA BB.
    static COMPACT: [u8; 6] = [0x05, 0x00, 0x02, 0x09, 0xaa, 0xbb];
    // frames.md §8: transfer 5, fragment 299 of 301, data CC.
    static LARGE: [u8; 7] = [0x05, 0x00, 0x2b, 0x01, 0x2c, 0x01, 0xcc];

    fn compact() -> Repr<'static> {
        Repr {
            transfer: 5,
            index: 2,
            last: 9,
            data: &[0xaa, 0xbb],
        }
    }

    fn large() -> Repr<'static> {
        Repr {
            transfer: 5,
            index: 299,
            last: 300,
            data: &[0xcc],
        }
    }

    #[test]
    fn test_parse() {
        let p = Packet::new_checked(&COMPACT[..], Form::Compact).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), compact());
        assert_eq!(compact().count(), 10);
        let p = Packet::new_checked(&LARGE[..], Form::Large).unwrap();
        assert_eq!(Repr::parse(&p).unwrap(), large());
        // index beyond the count
        let bad = [5, 0, 10, 9];
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad[..], Form::Compact)),
            Err(Error::Malformed)
        );
        // a 10-fragment transfer in the large form is not canonical
        let bad = [5, 0, 2, 0, 9, 0];
        assert_eq!(
            Repr::parse(&Packet::new_unchecked(&bad[..], Form::Large)),
            Err(Error::Malformed)
        );
        assert_eq!(
            Packet::new_checked(&LARGE[..5], Form::Large).unwrap_err(),
            Error::Truncated
        );
    }

    #[test]
    fn test_emit() {
        let mut buf = [0u8; 6];
        compact()
            .emit(&mut Packet::new_unchecked(&mut buf, Form::Compact))
            .unwrap();
        assert_eq!(buf, COMPACT);
        let mut buf = [0u8; 7];
        large()
            .emit(&mut Packet::new_unchecked(&mut buf, Form::Large))
            .unwrap();
        assert_eq!(buf, LARGE);
        assert_eq!(
            large().emit(&mut Packet::new_unchecked(&mut buf, Form::Compact)),
            Err(Error::Malformed)
        );
    }
}
