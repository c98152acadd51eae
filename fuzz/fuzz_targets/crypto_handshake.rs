//! Any bytes as a Handshake body (kind 12): what parses re-emits to the same bytes; feeding it to
//! the responder and to a pending initiator never panics.
#![no_main]

use std::sync::OnceLock;

use hyphae_crypto::credential::{AdminKeys, Credential, roles};
use hyphae_crypto::handshake::{Context, Initiator, Message, Responder};
use hyphae_crypto::{Identity, Suite};
use libfuzzer_sys::fuzz_target;

struct Fixed;
impl rand_core::TryRng for Fixed {
    type Error = core::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(7)
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(7)
    }
    fn try_fill_bytes(&mut self, d: &mut [u8]) -> Result<(), Self::Error> {
        d.fill(7);
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Fixed {}

struct World {
    admin: Identity,
    node: Identity,
}

fn world() -> &'static World {
    static W: OnceLock<World> = OnceLock::new();
    W.get_or_init(|| World {
        admin: Identity::from_seed(&[1; 32]),
        node: Identity::from_seed(&[2; 32]),
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::parse(data) {
        let mut out = [0u8; 256];
        let n = m.emit(&mut out).expect("re-emits");
        assert_eq!(&out[..n], data);
    }
    let w = world();
    let tag = [5u8; 32];
    let mut admins = AdminKeys::<1>::new();
    admins.set(0, *w.admin.public());
    let cred = Credential::issue(&w.admin, 0, &tag, w.node.public(), roles::ROUTER, u32::MAX);
    let ctx = Context {
        identity: &w.node,
        credential: &cred,
        admins: &admins,
        network_id: &tag,
        now: Some(0),
        suite: Suite::default(),
    };
    let mut out = [0u8; 256];
    let _ = Responder::respond(&ctx, data, &mut Fixed, &mut out);
    if let Ok((i, _)) = Initiator::start(&ctx, 0, &mut Fixed, &mut out) {
        let _ = i.finish(&ctx, data, &mut out);
    }
});
