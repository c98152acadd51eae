//! Any bytes as a received secure frame, credential and management command: the security
//! header parser, `open_frame` (with every body offset), credential, root claim and command verification
//! never panic and never accept forged input.
#![no_main]

use hyphae_crypto::control::{CommandVerifier, verify_claim};
use hyphae_crypto::credential::{AdminKeys, Credential};
use hyphae_crypto::{
    FrameKey, Identity, KeyId, NodeId, Protection, ReplayWindow, SecurityHeader, Suite, open_frame,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = SecurityHeader::parse(data);
    let key = FrameKey::new(
        Suite::ChaCha20Poly1305,
        KeyId(data.get(2).copied().unwrap_or(0)),
        &[9; 32],
    );
    let ccm = FrameKey::new(
        Suite::Aes128Ccm,
        KeyId(data.get(2).copied().unwrap_or(0)),
        &[9; 32],
    );
    for off in [0, 7, 12, data.len()] {
        for p in [Protection::Encrypt, Protection::AuthenticateOnly] {
            let mut f = data.to_vec();
            let mut w = ReplayWindow::new();
            // A random tag verifies with probability 2^-128: treat success as a bug.
            assert!(open_frame(&key, &NodeId([1; 8]), &mut f, off, p, &mut w).is_err());
            let mut f = data.to_vec();
            assert!(open_frame(&ccm, &NodeId([1; 8]), &mut f, off, p, &mut w).is_err());
        }
    }
    let admin = Identity::from_seed(&[1; 32]);
    let mut admins = AdminKeys::<2>::new();
    admins.set(0, *admin.public());
    assert!(Credential::verify(data, &admins, &[0; 32], Some(0)).is_err());
    assert!(verify_claim(&admins, &[0; 32], Some(0), data).is_err());
    let mut v = CommandVerifier::new(admins);
    assert!(v.verify(&NodeId([2; 8]), &[0; 32], data, Some(0)).is_err());
});
