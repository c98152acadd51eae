//! Links the parts of hyphae-crypto selected by features into a bare-metal binary, so that
//! `llvm-size` shows what each costs in flash. Inputs go through `black_box` so nothing folds.
#![no_std]
#![no_main]

use core::hint::black_box;

use hyphae_crypto::*;

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {}
}

#[allow(dead_code)]
fn frame_ops(suite: Suite) {
    let key = FrameKey::new(suite, KeyId::link(1), black_box(&[7; 32]));
    let sender = black_box(NodeId([1; 8]));
    let mut f = black_box([0u8; 250]);
    let _ = black_box(seal_frame(&key, &sender, 1, &mut f, 7, Protection::Encrypt));
    let mut w = ReplayWindow::new();
    let _ = black_box(open_frame(
        &key,
        &sender,
        &mut f,
        7,
        Protection::Encrypt,
        &mut w,
    ));
}

/// The entry point lld looks for by default.
#[unsafe(no_mangle)]
pub extern "C" fn _start() -> ! {
    #[cfg(feature = "chacha")]
    frame_ops(Suite::ChaCha20Poly1305);
    #[cfg(feature = "ccm")]
    frame_ops(black_box(Suite::Aes128Ccm));
    #[cfg(feature = "verify")]
    {
        let tag = black_box([0u8; 32]);
        let mut admins = AdminKeys::<2>::new();
        if let Ok(k) = PublicIdentity::from_bytes(black_box(&[9; 32])) {
            admins.set(0, k);
        }
        let _ = black_box(Credential::verify(
            black_box(&[0u8; 103]),
            &admins,
            &tag,
            None,
        ));
    }
    #[cfg(feature = "sign")]
    {
        let id = Identity::from_seed(black_box(&[3; 32]));
        black_box(id.sign(black_box(&[4; 32])));
    }
    #[cfg(feature = "handshake")]
    {
        struct Z;
        impl rand_core_shim::TryRng for Z {
            type Error = core::convert::Infallible;
            fn try_next_u32(&mut self) -> core::result::Result<u32, Self::Error> {
                Ok(black_box(4))
            }
            fn try_next_u64(&mut self) -> core::result::Result<u64, Self::Error> {
                Ok(black_box(4))
            }
            fn try_fill_bytes(&mut self, d: &mut [u8]) -> core::result::Result<(), Self::Error> {
                d.fill(black_box(4));
                Ok(())
            }
        }
        impl rand_core_shim::TryCryptoRng for Z {}
        let id = Identity::from_seed(black_box(&[3; 32]));
        let tag = black_box([0u8; 32]);
        let admins = AdminKeys::<2>::new();
        let cred = Credential::issue(&id, 0, &tag, id.public(), 0, 0);
        let ctx = handshake::Context {
            identity: &id,
            credential: &cred,
            admins: &admins,
            network_id: &tag,
            now: None,
            suite: Suite::default(),
        };
        let mut out = [0u8; 256];
        if let Ok((i, _)) = handshake::Initiator::start(&ctx, 0, &mut Z, &mut out) {
            let m = black_box(out);
            let _ = black_box(
                i.finish(&ctx, &m[..209], &mut out)
                    .map(|(s, _)| s.send.id()),
            );
            if let Ok((r, _)) = handshake::Responder::respond(&ctx, &m[..145], &mut Z, &mut out) {
                let _ = black_box(r.finish(&m[..74]).map(|s| s.recv.id()));
            }
        }
    }
    loop {}
}
