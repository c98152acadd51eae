//! hyphae security: identities, admission, link and end-to-end keys, frame protection,
//! replay windows, the signed control plane and management authorization.
//!
//! `no_std`, no allocation, no clock and no RNG inside: callers pass `now` (seconds of network
//! time, `None` while unknown) and an RNG implementing [`rand_core::TryCryptoRng`]. The
//! normative description is `docs/spec/security.md`; section numbers in the module docs refer
//! to it.
//!
//! | module | what |
//! |---|---|
//! | [`identity`] | Ed25519 identity, node id = SHA-256(public key)[..8], key stores |
//! | [`credential`] | admin keys, admin-signed membership credentials |
//! | [`keys`] | key ids, labelled HKDF, network key ring with rotation |
//! | [`frame`] | nonce, `seal`/`open`, whole-frame helpers on the `frames.md` §2 layout |
//! | [`replay`] | replay window, persistent frame counter, boot |
//! | [`handshake`] | Handshake bodies (kind 12), link key agreement |
//! | [`e2e`] | end-to-end sessions and the inner envelope |
//! | [`control`] | signed control bodies, management command verifier |
//! | [`node`] | `NodeSecurity`: a node's whole security state, the rules of §6 |
#![no_std]
#![forbid(unsafe_code)]

#[cfg(test)]
extern crate std;

pub mod control;
pub mod credential;
pub mod e2e;
pub mod error;
pub mod frame;
pub mod handshake;
pub mod identity;
pub mod keys;
pub mod node;
pub mod replay;

pub use credential::{AdminKeys, Credential, roles};
pub use error::{Error, Result};
pub use frame::{
    OVERHEAD, Protection, SecurityHeader, claimed_sender, open, open_frame, seal, seal_frame,
};
pub use identity::{Identity, KeyStore, MemoryKeyStore, NodeId, PublicIdentity, ShortId};
pub use keys::{FrameKey, KeyClass, KeyId, KeyRing, NetworkKey, Suite};
pub use node::NodeSecurity;
pub use replay::{CounterStore, FrameCounter, MemoryCounterStore, ReplayWindow};

#[cfg(feature = "std")]
pub use identity::FileKeyStore;
#[cfg(feature = "std")]
pub use replay::FileCounterStore;

/// A deterministic RNG for tests (SplitMix64); never use outside tests.
#[cfg(test)]
pub(crate) mod testing {
    use core::convert::Infallible;

    pub(crate) struct TestRng(pub u64);

    impl rand_core::TryRng for TestRng {
        type Error = Infallible;
        fn try_next_u32(&mut self) -> Result<u32, Infallible> {
            Ok(self.try_next_u64()? as u32)
        }
        fn try_next_u64(&mut self) -> Result<u64, Infallible> {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            Ok(z ^ (z >> 31))
        }
        fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
            for chunk in dst.chunks_mut(8) {
                let v = self.try_next_u64()?.to_le_bytes();
                chunk.copy_from_slice(&v[..chunk.len()]);
            }
            Ok(())
        }
    }

    impl rand_core::TryCryptoRng for TestRng {}
}
