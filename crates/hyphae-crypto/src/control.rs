//! Signed control plane and management authorization (`security.md` §9, §11).
//!
//! Every signature in hyphae is an Ed25519 signature over a 32-byte digest:
//! `SHA-256("hyphae/v1/" ‖ label ‖ 0x00 ‖ for each part: len (u32 LE) ‖ part)`. The label
//! separates domains, so a signature made for one purpose never verifies for another.

use sha2::{Digest, Sha256};

use crate::credential::{AdminKeys, CREDENTIAL_LEN, Credential, roles};
use crate::error::{Error, Result};
use crate::identity::{Identity, NodeId, PublicIdentity, SIGNATURE_LEN};

/// The digest every hyphae signature covers.
pub fn digest(label: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"hyphae/v1/");
    h.update(label);
    h.update([0u8]);
    for p in parts {
        // u32 lengths: a management payload may span a multi-fragment transfer; parts beyond
        // 4 GiB cannot exist on a microcontroller, and saturating keeps the call total.
        h.update(u32::try_from(p.len()).unwrap_or(u32::MAX).to_le_bytes());
        h.update(p);
    }
    h.finalize().into()
}

/// The network id: a stable, public 32-byte value naming the network,
/// `digest("network-id", [name])`. Every signature (credentials, handshakes, control bodies,
/// management commands) covers it, so nothing signed for one network verifies in another; it
/// does not change when the network key rotates, so credentials survive rotations.
pub fn network_id(name: &[u8]) -> [u8; 32] {
    digest(b"network-id", &[name])
}

/// What a signed control body is; each has its own signing label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Signed {
    /// A Tree body (`frames.md` §5.2): claims are signed by the root (the subject), assigns and
    /// lease grants by the parent (the sender), join/leave/lease requests by the sender.
    Tree,
    /// A Service body (§5.4), signed by the provider.
    Service,
    /// A Beacon body (§5.1). Not signed on air by default (the group AEAD tag authenticates it);
    /// available for networks that want insider-proof beacons at 64 B each.
    Beacon,
}

impl Signed {
    const fn label(self) -> &'static [u8] {
        match self {
            Self::Tree => b"tree",
            Self::Service => b"service",
            Self::Beacon => b"beacon",
        }
    }
}

/// Sign a control body: the signature covers the label, the network id, the signer's node id
/// and the body bytes exactly as sent. Append the 64 bytes after the body.
pub fn sign_control(
    what: Signed,
    signer: &Identity,
    network_id: &[u8; 32],
    body: &[u8],
) -> [u8; SIGNATURE_LEN] {
    let d = digest(what.label(), &[network_id, &signer.node_id().0, body]);
    signer.sign(&d)
}

/// Verify a control body signed by `signer`.
pub fn verify_control(
    what: Signed,
    signer: &PublicIdentity,
    network_id: &[u8; 32],
    body: &[u8],
    signature: &[u8; SIGNATURE_LEN],
) -> Result<()> {
    let d = digest(what.label(), &[network_id, &signer.node_id().0, body]);
    signer.verify(&d, signature)
}

/// Split a signed body into (body, signature): the signature is its last 64 bytes.
pub fn split_signed(signed: &[u8]) -> Result<(&[u8], &[u8; SIGNATURE_LEN])> {
    let at = signed
        .len()
        .checked_sub(SIGNATURE_LEN)
        .ok_or(Error::Malformed)?;
    let (body, sig) = signed.split_at(at);
    let sig: &[u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| Error::Malformed)?;
    Ok((body, sig))
}

/// Offset of the subject node id in a Tree body (`frames.md` §5.2).
const TREE_SUBJECT: core::ops::Range<usize> = 4..12;
/// Tree op of a root claim.
const TREE_OP_CLAIM: u8 = 1;

/// Bytes a root claim adds to its Tree body: signature and the root's credential.
pub const CLAIM_OVERHEAD: usize = SIGNATURE_LEN + CREDENTIAL_LEN;

/// Build a self-verifying root claim into `out`: Tree body (op 1, subject = this node) ‖
/// signature ‖ the root's credential (`security.md` §9). Returns its length.
pub fn sign_claim(
    root: &Identity,
    credential: &Credential,
    network_id: &[u8; 32],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    if body.first() != Some(&TREE_OP_CLAIM) || body.get(TREE_SUBJECT) != Some(&root.node_id().0[..])
    {
        return Err(Error::BadValue);
    }
    sign_carrying(Signed::Tree, root, credential, network_id, body, out)
}

/// Verify a root claim as relayed: the credential is admin-signed and grants the
/// *root-eligible* role, its node is the claim's subject, and the subject signed the body.
/// Returns the Tree body (to parse with hyphae-wire) and the root's credential.
pub fn verify_claim<'a, const N: usize>(
    admins: &AdminKeys<N>,
    network_id: &[u8; 32],
    now: Option<u32>,
    signed: &'a [u8],
) -> Result<(&'a [u8], Credential)> {
    let body_len = signed
        .len()
        .checked_sub(CLAIM_OVERHEAD)
        .ok_or(Error::Malformed)?;
    if signed[..body_len].first() != Some(&TREE_OP_CLAIM) {
        return Err(Error::BadValue);
    }
    let carried = Carried {
        label: Signed::Tree,
        signer_at: TREE_SUBJECT,
        role: Some(roles::ROOT),
    };
    carried.verify(admins, network_id, now, signed)
}

/// Bytes a signed service announcement adds to its Service body: the provider's signature
/// and credential (`security.md` §9: carried, so every receiver verifies it on the spot).
pub const SERVICE_OVERHEAD: usize = SIGNATURE_LEN + CREDENTIAL_LEN;
/// Length of the provider node id that opens a Service body (`frames.md` §5.4).
const SERVICE_PROVIDER: core::ops::Range<usize> = 0..8;

/// Build a signed service announcement into `out`: Service body (provider = this node) ‖
/// signature over `digest("service", [network id, provider id, body])` ‖ the provider's
/// credential. Returns its length.
pub fn sign_service(
    provider: &Identity,
    credential: &Credential,
    network_id: &[u8; 32],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    if body.get(SERVICE_PROVIDER) != Some(&provider.node_id().0[..]) {
        return Err(Error::BadValue);
    }
    sign_carrying(Signed::Service, provider, credential, network_id, body, out)
}

/// Verify a signed service announcement as relayed: the credential is admin-signed, its node
/// is the body's provider (an insider cannot announce for another node: [`Error::IdMismatch`]),
/// and the provider signed the body. Returns the Service body and the provider's credential.
pub fn verify_service<'a, const N: usize>(
    admins: &AdminKeys<N>,
    network_id: &[u8; 32],
    now: Option<u32>,
    signed: &'a [u8],
) -> Result<(&'a [u8], Credential)> {
    let carried = Carried {
        label: Signed::Service,
        signer_at: SERVICE_PROVIDER,
        role: None,
    };
    carried.verify(admins, network_id, now, signed)
}

/// `body ‖ signature ‖ credential` signed by `signer` under `label` into `out` (the caller has
/// checked that the body names the signer). Returns its length.
fn sign_carrying(
    label: Signed,
    signer: &Identity,
    credential: &Credential,
    network_id: &[u8; 32],
    body: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    if credential.node_id() != signer.node_id() {
        return Err(Error::IdMismatch);
    }
    let len = body.len() + SIGNATURE_LEN + CREDENTIAL_LEN;
    let o = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    o[..body.len()].copy_from_slice(body);
    let sig = sign_control(label, signer, network_id, body);
    o[body.len()..body.len() + SIGNATURE_LEN].copy_from_slice(&sig);
    credential.emit(&mut o[body.len() + SIGNATURE_LEN..])?;
    Ok(len)
}

/// How a `body ‖ signature ‖ credential` message is checked: the signing label, where the
/// body names its signer, and the role the credential must grant, if any.
struct Carried {
    label: Signed,
    signer_at: core::ops::Range<usize>,
    role: Option<u8>,
}

impl Carried {
    /// The credential is admin-signed (and grants the role), its node is the one the body
    /// names ([`Error::IdMismatch`]), and that node signed the body. Returns the body and the
    /// credential.
    fn verify<'a, const N: usize>(
        &self,
        admins: &AdminKeys<N>,
        network_id: &[u8; 32],
        now: Option<u32>,
        signed: &'a [u8],
    ) -> Result<(&'a [u8], Credential)> {
        let body_len = signed
            .len()
            .checked_sub(SIGNATURE_LEN + CREDENTIAL_LEN)
            .ok_or(Error::Malformed)?;
        let (body, rest) = signed.split_at(body_len);
        let (sig, cred) = rest.split_at(SIGNATURE_LEN);
        let named = body.get(self.signer_at.clone()).ok_or(Error::Malformed)?;
        let credential = Credential::verify(cred, admins, network_id, now)?;
        if credential.node_id().0[..] != *named {
            return Err(Error::IdMismatch);
        }
        if let Some(role) = self.role {
            credential.check(now, role)?;
        }
        let sig: &[u8; SIGNATURE_LEN] = sig.try_into().map_err(|_| Error::Malformed)?;
        verify_control(self.label, &credential.node, network_id, body, sig)?;
        Ok((body, credential))
    }
}

/// Management command envelope header length: admin index (1), sequence (u64), target node id
/// (8), expiry (u32).
pub const COMMAND_HEADER_LEN: usize = 1 + 8 + 8 + 4;
/// Bytes a command envelope adds to its payload.
pub const COMMAND_OVERHEAD: usize = COMMAND_HEADER_LEN + SIGNATURE_LEN;
/// Target meaning "every node".
pub const BROADCAST_TARGET: NodeId = NodeId([0xFF; 8]);

/// Fields of a management command envelope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandHeader {
    /// Index of the admin key that signed.
    pub admin: u8,
    /// Strictly increasing per admin (e.g. milliseconds since the epoch).
    pub sequence: u64,
    /// The node the command is for, or [`BROADCAST_TARGET`].
    pub target: NodeId,
    /// Last second (network time) the command may be executed; `u32::MAX` for none.
    pub expiry: u32,
}

/// Build a signed command into `out`: header ‖ payload ‖ signature. Returns its length.
pub fn sign_command(
    admin: &Identity,
    header: &CommandHeader,
    network_id: &[u8; 32],
    payload: &[u8],
    out: &mut [u8],
) -> Result<usize> {
    let len = COMMAND_OVERHEAD + payload.len();
    let o = out.get_mut(..len).ok_or(Error::BufferTooSmall)?;
    o[0] = header.admin;
    o[1..9].copy_from_slice(&header.sequence.to_le_bytes());
    o[9..17].copy_from_slice(&header.target.0);
    o[17..21].copy_from_slice(&header.expiry.to_le_bytes());
    o[21..21 + payload.len()].copy_from_slice(payload);
    let d = digest(b"mgmt", &[network_id, &o[..21 + payload.len()]]);
    o[21 + payload.len()..].copy_from_slice(&admin.sign(&d));
    Ok(len)
}

/// The node-side verifier of management commands: only configured admins, only for this
/// node, only unexpired, and each admin's sequence strictly increasing (replay protection).
#[derive(Debug, Clone, Copy)]
pub struct CommandVerifier<const N: usize> {
    admins: AdminKeys<N>,
    last: [u64; N],
}

impl<const N: usize> CommandVerifier<N> {
    /// A verifier trusting `admins`, with no command seen yet.
    pub fn new(admins: AdminKeys<N>) -> Self {
        Self {
            admins,
            last: [0; N],
        }
    }

    /// Restore the highest accepted sequence per admin (persist [`CommandVerifier::sequences`]
    /// after every accepted command, or replays become possible after a reboot).
    pub fn restore(&mut self, last: [u64; N]) {
        self.last = last;
    }

    /// The highest accepted sequence per admin, to persist.
    pub fn sequences(&self) -> [u64; N] {
        self.last
    }

    /// The admin list (for credential checks).
    pub fn admins(&self) -> &AdminKeys<N> {
        &self.admins
    }

    /// Verify a command addressed to `me`; on success records its sequence and returns the
    /// header and payload. Everything else is refused.
    pub fn verify<'a>(
        &mut self,
        me: &NodeId,
        network_id: &[u8; 32],
        command: &'a [u8],
        now: Option<u32>,
    ) -> Result<(CommandHeader, &'a [u8])> {
        if command.len() < COMMAND_OVERHEAD {
            return Err(Error::Malformed);
        }
        let (signed, sig) = split_signed(command)?;
        let admin = signed[0];
        let key = self.admins.get(admin)?;
        let mut b8 = [0u8; 8];
        b8.copy_from_slice(&signed[1..9]);
        let sequence = u64::from_le_bytes(b8);
        b8.copy_from_slice(&signed[9..17]);
        let target = NodeId(b8);
        let mut b4 = [0u8; 4];
        b4.copy_from_slice(&signed[17..21]);
        let expiry = u32::from_le_bytes(b4);
        key.verify(&digest(b"mgmt", &[network_id, signed]), sig)?;
        if target != *me && target != BROADCAST_TARGET {
            return Err(Error::BadValue);
        }
        if let Some(now) = now
            && expiry != u32::MAX
            && now > expiry
        {
            return Err(Error::NotAdmitted);
        }
        let slot = self
            .last
            .get_mut(usize::from(admin))
            .ok_or(Error::UnknownSigner)?;
        if sequence <= *slot {
            return Err(Error::Replay);
        }
        *slot = sequence;
        Ok((
            CommandHeader {
                admin,
                sequence,
                target,
                expiry,
            },
            &signed[COMMAND_HEADER_LEN..],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: [u8; 32] = [7; 32];

    #[test]
    fn digest_encoding_matches_spec() {
        // "hyphae/v1/" ‖ "tree" ‖ 00 ‖ 02 00 00 00 ‖ "ab" ‖ 00 00 00 00
        let mut m = [0u8; 10 + 4 + 1 + 4 + 2 + 4];
        m[..10].copy_from_slice(b"hyphae/v1/");
        m[10..14].copy_from_slice(b"tree");
        m[15] = 2;
        m[19..21].copy_from_slice(b"ab");
        let want: [u8; 32] = Sha256::digest(m).into();
        assert_eq!(digest(b"tree", &[b"ab", b""]), want);
        assert_ne!(digest(b"tree", &[b"a", b"b"]), want);
    }

    #[test]
    fn control_signatures() {
        let root = Identity::from_seed(&[4; 32]);
        // A tree claim body: op 1, tree 0, epoch 5, subject id, root coordinates (depth 0).
        let mut body = [0u8; 13];
        body[0] = 1;
        body[2] = 5;
        body[4..12].copy_from_slice(&root.node_id().0);
        let sig = sign_control(Signed::Tree, &root, &TAG, &body);
        verify_control(Signed::Tree, root.public(), &TAG, &body, &sig).unwrap();
        // Other label, other network, other signer, tampered body: all refused.
        assert!(verify_control(Signed::Service, root.public(), &TAG, &body, &sig).is_err());
        assert!(verify_control(Signed::Tree, root.public(), &[8; 32], &body, &sig).is_err());
        let forger = Identity::from_seed(&[5; 32]);
        assert!(verify_control(Signed::Tree, forger.public(), &TAG, &body, &sig).is_err());
        let mut b = body;
        b[2] = 6;
        assert!(verify_control(Signed::Tree, root.public(), &TAG, &b, &sig).is_err());
        // Split.
        let mut signed = [0u8; 13 + 64];
        signed[..13].copy_from_slice(&body);
        signed[13..].copy_from_slice(&sig);
        let (b, s) = split_signed(&signed).unwrap();
        assert_eq!(b, body);
        assert_eq!(s, &sig);
        assert_eq!(split_signed(&signed[..63]), Err(Error::Malformed));
    }

    #[test]
    fn root_claims() {
        let admin = Identity::from_seed(&[1; 32]);
        let mut admins = AdminKeys::<1>::new();
        admins.set(0, *admin.public());
        let root = Identity::from_seed(&[4; 32]);
        let claim_body = |who: &Identity| {
            let mut b = [0u8; 13];
            b[0] = 1;
            b[2] = 5;
            b[4..12].copy_from_slice(&who.node_id().0);
            b
        };
        let cred = Credential::issue(
            &admin,
            0,
            &TAG,
            root.public(),
            roles::ROUTER | roles::ROOT,
            500,
        );
        let mut out = [0u8; 200];
        let n = sign_claim(&root, &cred, &TAG, &claim_body(&root), &mut out).unwrap();
        assert_eq!(n, 13 + 64 + 103);
        let (body, c) = verify_claim(&admins, &TAG, Some(10), &out[..n]).unwrap();
        assert_eq!(body, claim_body(&root));
        assert_eq!(c.node_id(), root.node_id());

        // Forged root claims:
        // 1. an admitted router without the root role;
        let plain = Identity::from_seed(&[5; 32]);
        let pc = Credential::issue(&admin, 0, &TAG, plain.public(), roles::ROUTER, 500);
        let mut f = [0u8; 200];
        let m = sign_claim(&plain, &pc, &TAG, &claim_body(&plain), &mut f).unwrap();
        assert_eq!(
            verify_claim(&admins, &TAG, Some(10), &f[..m]).unwrap_err(),
            Error::NotAdmitted
        );
        // 2. that router claiming in the root's name with the root's credential attached;
        let mut f2 = out;
        f2[13..77].copy_from_slice(&sign_control(
            Signed::Tree,
            &plain,
            &TAG,
            &claim_body(&root),
        ));
        assert_eq!(
            verify_claim(&admins, &TAG, Some(10), &f2[..n]).unwrap_err(),
            Error::BadAuth
        );
        // 3. the root's signed claim with a bumped epoch (replayed into a new tree state);
        let mut f3 = out;
        f3[2] = 6;
        assert_eq!(
            verify_claim(&admins, &TAG, Some(10), &f3[..n]).unwrap_err(),
            Error::BadAuth
        );
        // 4. the root's credential attached to someone else's claim body;
        let mut f4 = out;
        f4[4..12].copy_from_slice(&plain.node_id().0);
        assert_eq!(
            verify_claim(&admins, &TAG, Some(10), &f4[..n]).unwrap_err(),
            Error::IdMismatch
        );
        // 5. expired credential, truncated claim, a non-claim op.
        assert_eq!(
            verify_claim(&admins, &TAG, Some(501), &out[..n]).unwrap_err(),
            Error::NotAdmitted
        );
        assert_eq!(
            verify_claim(&admins, &TAG, None, &out[..100]).unwrap_err(),
            Error::Malformed
        );
        let mut f5 = out;
        f5[0] = 3;
        assert_eq!(
            verify_claim(&admins, &TAG, None, &f5[..n]).unwrap_err(),
            Error::BadValue
        );
        // Signing refuses a body that does not name the signer.
        assert_eq!(
            sign_claim(&root, &cred, &TAG, &claim_body(&plain), &mut out).unwrap_err(),
            Error::BadValue
        );
    }

    #[test]
    fn service_announcements() {
        let admin = Identity::from_seed(&[1; 32]);
        let mut admins = AdminKeys::<1>::new();
        admins.set(0, *admin.public());
        let provider = Identity::from_seed(&[4; 32]);
        let insider = Identity::from_seed(&[5; 32]);
        let cred =
            |who: &Identity| Credential::issue(&admin, 0, &TAG, who.public(), roles::ROUTER, 500);
        // Service body: provider, sequence 1, ttl 6, one entry (app 0x1234, "mqtt").
        let body = |who: &Identity| {
            let mut b = [0u8; 19];
            b[..8].copy_from_slice(&who.node_id().0);
            b[8] = 1;
            b[10] = 6;
            b[11] = 1;
            b[12..15].copy_from_slice(&[0x34, 0x12, 4]);
            b[15..].copy_from_slice(b"mqtt");
            b
        };
        let mut out = [0u8; 200];
        let n = sign_service(
            &provider,
            &cred(&provider),
            &TAG,
            &body(&provider),
            &mut out,
        )
        .unwrap();
        assert_eq!(n, 19 + SERVICE_OVERHEAD);
        let (b, c) = verify_service(&admins, &TAG, None, &out[..n]).unwrap();
        assert_eq!(b, body(&provider));
        assert_eq!(c.node_id(), provider.node_id());
        // The insider announces under the provider's id, with its own credential and key.
        let mut f = out;
        f[19..83].copy_from_slice(&sign_control(
            Signed::Service,
            &insider,
            &TAG,
            &body(&provider),
        ));
        cred(&insider).emit(&mut f[83..]).unwrap();
        assert_eq!(
            verify_service(&admins, &TAG, None, &f[..n]).unwrap_err(),
            Error::IdMismatch
        );
        // ... or with the provider's credential attached: the signature does not verify.
        let mut f = out;
        f[19..83].copy_from_slice(&sign_control(
            Signed::Service,
            &insider,
            &TAG,
            &body(&provider),
        ));
        assert_eq!(
            verify_service(&admins, &TAG, None, &f[..n]).unwrap_err(),
            Error::BadAuth
        );
        // A tampered body, a tree signature, a truncated announcement; signing for another id.
        let mut f = out;
        f[8] = 2;
        assert_eq!(
            verify_service(&admins, &TAG, None, &f[..n]).unwrap_err(),
            Error::BadAuth
        );
        let mut f = out;
        f[19..83].copy_from_slice(&sign_control(
            Signed::Tree,
            &provider,
            &TAG,
            &body(&provider),
        ));
        assert_eq!(
            verify_service(&admins, &TAG, None, &f[..n]).unwrap_err(),
            Error::BadAuth
        );
        assert_eq!(
            verify_service(&admins, &TAG, None, &out[..100]).unwrap_err(),
            Error::Malformed
        );
        assert_eq!(
            sign_service(&insider, &cred(&insider), &TAG, &body(&provider), &mut out).unwrap_err(),
            Error::BadValue
        );
    }

    #[test]
    fn management_authorization() {
        let admin = Identity::from_seed(&[1; 32]);
        let node = Identity::from_seed(&[2; 32]);
        let mut admins = AdminKeys::<2>::new();
        admins.set(0, *admin.public());
        let mut v = CommandVerifier::new(admins);
        let me = node.node_id();
        let h = CommandHeader {
            admin: 0,
            sequence: 10,
            target: me,
            expiry: 1000,
        };
        let mut buf = [0u8; 128];
        let n = sign_command(&admin, &h, &TAG, b"reboot", &mut buf).unwrap();
        assert_eq!(n, 6 + COMMAND_OVERHEAD);
        let cmd = &buf[..n];
        let (hh, p) = v.verify(&me, &TAG, cmd, Some(10)).unwrap();
        assert_eq!(hh, h);
        assert_eq!(p, b"reboot");
        // Replay.
        assert_eq!(v.verify(&me, &TAG, cmd, Some(10)), Err(Error::Replay));
        // Replay after a reboot with persisted sequences.
        let mut v2 = CommandVerifier::new(admins);
        v2.restore(v.sequences());
        assert_eq!(v2.verify(&me, &TAG, cmd, Some(10)), Err(Error::Replay));
        // Another node's command.
        let other = CommandHeader {
            sequence: 11,
            target: NodeId([3; 8]),
            ..h
        };
        let n = sign_command(&admin, &other, &TAG, b"x", &mut buf).unwrap();
        assert_eq!(v.verify(&me, &TAG, &buf[..n], None), Err(Error::BadValue));
        // Expired.
        let late = CommandHeader { sequence: 12, ..h };
        let n = sign_command(&admin, &late, &TAG, b"x", &mut buf).unwrap();
        assert_eq!(
            v.verify(&me, &TAG, &buf[..n], Some(1001)),
            Err(Error::NotAdmitted)
        );
        // Signed by a non-admin claiming index 0.
        let n = sign_command(
            &node,
            &CommandHeader { sequence: 13, ..h },
            &TAG,
            b"x",
            &mut buf,
        )
        .unwrap();
        assert_eq!(v.verify(&me, &TAG, &buf[..n], None), Err(Error::BadAuth));
        // Unknown admin index, tampered payload, truncated.
        let n = sign_command(
            &admin,
            &CommandHeader {
                admin: 1,
                sequence: 14,
                ..h
            },
            &TAG,
            b"x",
            &mut buf,
        )
        .unwrap();
        assert_eq!(
            v.verify(&me, &TAG, &buf[..n], None),
            Err(Error::UnknownSigner)
        );
        let n = sign_command(
            &admin,
            &CommandHeader { sequence: 15, ..h },
            &TAG,
            b"x",
            &mut buf,
        )
        .unwrap();
        buf[21] ^= 1;
        assert_eq!(v.verify(&me, &TAG, &buf[..n], None), Err(Error::BadAuth));
        assert_eq!(v.verify(&me, &TAG, &buf[..20], None), Err(Error::Malformed));
        // Broadcast target is accepted; the sequence moves on.
        let n = sign_command(
            &admin,
            &CommandHeader {
                sequence: 20,
                target: BROADCAST_TARGET,
                ..h
            },
            &TAG,
            b"all",
            &mut buf,
        )
        .unwrap();
        v.verify(&me, &TAG, &buf[..n], None).unwrap();
        assert_eq!(v.sequences()[0], 20);
    }
}
