//! Cost probe for callgrind: runs one operation `n` times.
//!
//! ```text
//! cargo build --release -p hyphae-crypto --example cost
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/cost seal-chacha 1
//! valgrind --tool=callgrind --callgrind-out-file=/dev/null target/release/examples/cost seal-chacha 101
//! ```
//! The per-operation cost is `(Ir(101) - Ir(1)) / 100`, which removes process start-up and
//! setup. `scripts/cost.sh` in this crate does exactly that for every operation.

// A measurement probe: a failure is a bug that should abort loudly.
#![allow(clippy::unwrap_used)]

use std::hint::black_box;

use hyphae_crypto::control::{Signed, sign_control, verify_control};
use hyphae_crypto::credential::{AdminKeys, CREDENTIAL_LEN, Credential, roles};
use hyphae_crypto::handshake::{Context, Initiator, Responder};
use hyphae_crypto::{
    FrameKey, Identity, KeyId, NodeId, Protection, ReplayWindow, Suite, open_frame, seal_frame,
};

/// Length of the probe frame (the ESP-NOW v1 MTU).
const FRAME: usize = 250;
/// Common header + security header.
const BODY_OFFSET: usize = 7;

struct Rng(u64);
impl rand_core::TryRng for Rng {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(self.try_next_u64()? as u32)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        Ok(self.0 >> 11)
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for b in dst {
            *b = self.try_next_u64()? as u8;
        }
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Rng {}

fn frame() -> [u8; FRAME] {
    let mut f = [0x5Au8; FRAME];
    f[0] = 0x41;
    f[1] = 0;
    f
}

fn main() {
    let mut args = std::env::args().skip(1);
    let op = args.next().unwrap_or_default();
    let n: u32 = args.next().and_then(|s| s.parse().ok()).unwrap_or(1);
    let sender = NodeId([1, 2, 3, 4, 5, 6, 7, 8]);
    let suite = if op.ends_with("ccm") {
        Suite::Aes128Ccm
    } else {
        Suite::ChaCha20Poly1305
    };
    let key = FrameKey::new(suite, KeyId::link(1), &[0x42; 32]);
    let id = Identity::from_seed(&[9; 32]);
    let tag = [0x77u8; 32];
    let body = [0x33u8; 40];
    let sig = sign_control(Signed::Tree, &id, &tag, &body);
    let mut sealed = frame();
    seal_frame(
        &key,
        &sender,
        1,
        &mut sealed,
        BODY_OFFSET,
        Protection::Encrypt,
    )
    .unwrap();
    let admin = Identity::from_seed(&[1; 32]);
    let mut admins = AdminKeys::<1>::new();
    admins.set(0, *admin.public());
    let mut cred = [0u8; CREDENTIAL_LEN];
    Credential::issue(&admin, 0, &tag, id.public(), roles::ROUTER, u32::MAX)
        .emit(&mut cred)
        .unwrap();
    let peer = Identity::from_seed(&[10; 32]);
    let mut rng = Rng(5);

    let c_a = Credential::issue(&admin, 0, &tag, id.public(), roles::ROUTER, u32::MAX);
    let c_b = Credential::issue(&admin, 0, &tag, peer.public(), roles::ROUTER, u32::MAX);
    let mut sink = 0u64;
    for i in 0..n {
        match op.as_str() {
            "seal-chacha" | "seal-ccm" => {
                let mut f = frame();
                seal_frame(
                    black_box(&key),
                    &sender,
                    i,
                    &mut f,
                    BODY_OFFSET,
                    Protection::Encrypt,
                )
                .unwrap();
                sink += u64::from(black_box(&f)[FRAME - 1]);
            }
            "open-chacha" | "open-ccm" => {
                let mut f = black_box(sealed);
                let mut w = ReplayWindow::new();
                let r = open_frame(
                    &key,
                    &sender,
                    &mut f,
                    BODY_OFFSET,
                    Protection::Encrypt,
                    &mut w,
                )
                .unwrap();
                sink += r.len() as u64;
            }
            "sign" => {
                let s = sign_control(Signed::Tree, black_box(&id), &tag, &body);
                sink += u64::from(s[0]);
            }
            "verify" => {
                verify_control(Signed::Tree, black_box(id.public()), &tag, &body, &sig).unwrap();
                sink += 1;
            }
            "credential" => {
                let c = Credential::verify(black_box(&cred), &admins, &tag, Some(0)).unwrap();
                sink += u64::from(c.roles);
            }
            "x25519" => {
                let s = x25519_dalek::StaticSecret::from(black_box([i as u8; 32]));
                let p = x25519_dalek::PublicKey::from([9u8; 32]);
                sink += u64::from(s.diffie_hellman(black_box(&p)).as_bytes()[0]);
            }
            "handshake" => {
                // All three messages, both sides (what two neighbours spend together).
                let ca = Context {
                    identity: &id,
                    credential: &c_a,
                    admins: &admins,
                    network_id: &tag,
                    now: None,
                    suite,
                };
                let cb = Context {
                    identity: &peer,
                    credential: &c_b,
                    ..ca
                };
                let (mut m1, mut m2, mut m3) = ([0u8; 256], [0u8; 256], [0u8; 256]);
                let (ini, n1) = Initiator::start(&ca, 0, &mut rng, &mut m1).unwrap();
                let (res, n2) = Responder::respond(&cb, &m1[..n1], &mut rng, &mut m2).unwrap();
                let (_, n3) = ini.finish(&ca, &m2[..n2], &mut m3).unwrap();
                res.finish(&m3[..n3]).unwrap();
                sink += 1;
            }
            "none" => {}
            _ => {
                eprintln!(
                    "ops: seal-chacha open-chacha seal-ccm open-ccm sign verify credential x25519 handshake none"
                );
                std::process::exit(2);
            }
        }
    }
    println!("{op} x{n}: {sink}");
}
