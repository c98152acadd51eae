//! The boilerplate every `Packet<T>` view shares (`STYLE.md` §1).

/// Defines `Packet<T>` with `new_unchecked`, `new_checked` (which calls the module's own
/// `check_len`), `into_inner` and the private helpers the accessors use.
macro_rules! packet_view {
    ($(#[$doc:meta])*) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Packet<T: AsRef<[u8]>> {
            buffer: T,
        }

        impl<T: AsRef<[u8]>> Packet<T> {
            /// Wrap a buffer without checking; accessors may panic until
            /// [`Packet::check_len`] has succeeded.
            pub const fn new_unchecked(buffer: T) -> Self {
                Self { buffer }
            }

            /// Wrap a buffer and check its length; after `Ok`, no accessor panics.
            pub fn new_checked(buffer: T) -> $crate::Result<Self> {
                let packet = Self::new_unchecked(buffer);
                packet.check_len()?;
                Ok(packet)
            }

            /// The wrapped buffer.
            pub fn into_inner(self) -> T {
                self.buffer
            }

            #[allow(dead_code)]
            fn bytes(&self) -> &[u8] {
                self.buffer.as_ref()
            }
        }

        impl<'a, T: AsRef<[u8]> + ?Sized> Packet<&'a T> {
            /// The whole buffer with the lifetime of the borrow the view wraps.
            #[allow(dead_code)]
            fn whole(&self) -> &'a [u8] {
                let buffer: &'a T = self.buffer;
                buffer.as_ref()
            }
        }

        impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
            #[allow(dead_code)]
            fn bytes_mut(&mut self) -> &mut [u8] {
                self.buffer.as_mut()
            }
        }
    };
}

/// `Err(TooLong)` unless the view holds at least `$len` bytes (the first thing every `emit`
/// checks, so that `emit` never panics).
macro_rules! ensure_room {
    ($packet:expr, $len:expr) => {
        if $packet.buffer.as_ref().len() < $len {
            return Err($crate::Error::TooLong);
        }
    };
}
