//! Admission: admin keys and the admin-signed membership credential (`security.md` §3).

use crate::control::digest;
use crate::error::{Error, Result};
use crate::identity::{Identity, NodeId, PUBLIC_KEY_LEN, PublicIdentity, SIGNATURE_LEN};

/// Encoded length of a credential.
pub const CREDENTIAL_LEN: usize = 3 + PUBLIC_KEY_LEN + 4 + SIGNATURE_LEN;
/// Credential format version.
pub const CREDENTIAL_VERSION: u8 = 1;
/// Expiry value meaning "never expires".
pub const NEVER: u32 = u32::MAX;

/// Role bits a credential grants.
pub mod roles {
    /// May forward frames for others (route).
    pub const ROUTER: u8 = 1 << 0;
    /// May bridge to MQTT / other networks.
    pub const GATEWAY: u8 = 1 << 1;
    /// May claim to be a tree root (root candidacy is bound to admitted identities).
    pub const ROOT: u8 = 1 << 2;
    /// Bits 7..3 are reserved: a credential with them set is rejected.
    pub const RESERVED: u8 = 0xF8;
}

/// The configured admin public keys, by index (the index travels in credentials and commands).
#[derive(Debug, Clone, Copy)]
pub struct AdminKeys<const N: usize> {
    keys: [Option<PublicIdentity>; N],
}

impl<const N: usize> Default for AdminKeys<N> {
    fn default() -> Self {
        Self { keys: [None; N] }
    }
}

impl<const N: usize> AdminKeys<N> {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }
    /// Install (or replace) the admin key at `index`. Returns false if `index >= N`.
    pub fn set(&mut self, index: u8, key: PublicIdentity) -> bool {
        match self.keys.get_mut(usize::from(index)) {
            Some(slot) => {
                *slot = Some(key);
                true
            }
            None => false,
        }
    }
    /// Remove the admin key at `index` (revocation of an admin).
    pub fn remove(&mut self, index: u8) {
        if let Some(slot) = self.keys.get_mut(usize::from(index)) {
            *slot = None;
        }
    }
    /// The key at `index`, or [`Error::UnknownSigner`].
    pub fn get(&self, index: u8) -> Result<&PublicIdentity> {
        self.keys
            .get(usize::from(index))
            .and_then(Option::as_ref)
            .ok_or(Error::UnknownSigner)
    }
}

/// A verified membership credential: the admin vouches that `node` belongs to the network
/// with `roles` until `expiry`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential {
    /// The admitted node.
    pub node: PublicIdentity,
    /// Granted roles ([`roles`]).
    pub roles: u8,
    /// Index of the admin key that signed.
    pub admin: u8,
    /// Expiry in seconds of network time; [`NEVER`] for none.
    pub expiry: u32,
    /// The admin's signature.
    pub signature: [u8; SIGNATURE_LEN],
}

fn signed_digest(
    network_id: &[u8; 32],
    roles: u8,
    admin: u8,
    pk: &[u8; 32],
    id: &NodeId,
    expiry: u32,
) -> [u8; 32] {
    digest(
        b"credential",
        &[
            network_id,
            &[CREDENTIAL_VERSION, roles, admin],
            pk,
            &id.0,
            &expiry.to_le_bytes(),
        ],
    )
}

impl Credential {
    /// Issue a credential (admin tool side). The signature covers the network id, version,
    /// roles, admin index, node public key, node id and expiry.
    pub fn issue(
        admin: &Identity,
        admin_index: u8,
        network_id: &[u8; 32],
        node: &PublicIdentity,
        roles: u8,
        expiry: u32,
    ) -> Self {
        let d = signed_digest(
            network_id,
            roles,
            admin_index,
            &node.to_bytes(),
            &node.node_id(),
            expiry,
        );
        Self {
            node: *node,
            roles,
            admin: admin_index,
            expiry,
            signature: admin.sign(&d),
        }
    }

    /// Encode: version, roles, admin index, public key (32), expiry (u32 LE), signature (64).
    /// The node id is signed but not sent (it derives from the public key).
    pub fn emit(&self, out: &mut [u8]) -> Result<usize> {
        let o = out.get_mut(..CREDENTIAL_LEN).ok_or(Error::BufferTooSmall)?;
        o[0] = CREDENTIAL_VERSION;
        o[1] = self.roles;
        o[2] = self.admin;
        o[3..35].copy_from_slice(&self.node.to_bytes());
        o[35..39].copy_from_slice(&self.expiry.to_le_bytes());
        o[39..].copy_from_slice(&self.signature);
        Ok(CREDENTIAL_LEN)
    }

    /// Decode exactly [`CREDENTIAL_LEN`] bytes and verify them against `admins` for this
    /// network at `now` (seconds; `None` when the node has no time yet, which skips the expiry
    /// check until it has).
    pub fn verify<const N: usize>(
        bytes: &[u8],
        admins: &AdminKeys<N>,
        network_id: &[u8; 32],
        now: Option<u32>,
    ) -> Result<Self> {
        if bytes.len() != CREDENTIAL_LEN {
            return Err(Error::Malformed);
        }
        if bytes[0] != CREDENTIAL_VERSION || bytes[1] & roles::RESERVED != 0 {
            return Err(Error::BadValue);
        }
        let (roles, admin) = (bytes[1], bytes[2]);
        let mut pk = [0u8; 32];
        pk.copy_from_slice(&bytes[3..35]);
        let mut e = [0u8; 4];
        e.copy_from_slice(&bytes[35..39]);
        let expiry = u32::from_le_bytes(e);
        let mut signature = [0u8; SIGNATURE_LEN];
        signature.copy_from_slice(&bytes[39..]);
        let node = PublicIdentity::from_bytes(&pk)?;
        let signer = admins.get(admin)?;
        let d = signed_digest(network_id, roles, admin, &pk, &node.node_id(), expiry);
        signer.verify(&d, &signature)?;
        let c = Self {
            node,
            roles,
            admin,
            expiry,
            signature,
        };
        c.check(now, 0)?;
        Ok(c)
    }

    /// Check validity at `now` and that every bit of `required` roles is granted.
    pub fn check(&self, now: Option<u32>, required: u8) -> Result<()> {
        if let Some(now) = now
            && self.expiry != NEVER
            && now > self.expiry
        {
            return Err(Error::NotAdmitted);
        }
        if self.roles & required != required {
            return Err(Error::NotAdmitted);
        }
        Ok(())
    }

    /// The admitted node's id.
    pub fn node_id(&self) -> NodeId {
        self.node.node_id()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TAG: [u8; 32] = [0xAA; 32];

    fn setup() -> (Identity, AdminKeys<4>, Identity) {
        let admin = Identity::from_seed(&[1; 32]);
        let mut admins = AdminKeys::new();
        assert!(admins.set(0, *admin.public()));
        (admin, admins, Identity::from_seed(&[2; 32]))
    }

    #[test]
    fn roundtrip() {
        let (admin, admins, node) = setup();
        let c = Credential::issue(&admin, 0, &TAG, node.public(), roles::ROUTER, 1000);
        let mut buf = [0u8; CREDENTIAL_LEN];
        assert_eq!(c.emit(&mut buf).unwrap(), 103);
        let v = Credential::verify(&buf, &admins, &TAG, Some(500)).unwrap();
        assert_eq!(v, c);
        assert_eq!(v.node_id(), node.node_id());
        v.check(Some(10), roles::ROUTER).unwrap();
        assert_eq!(v.check(Some(10), roles::ROOT), Err(Error::NotAdmitted));
    }

    #[test]
    fn forged_and_misused() {
        let (admin, admins, node) = setup();
        let mut buf = [0u8; CREDENTIAL_LEN];
        Credential::issue(&admin, 0, &TAG, node.public(), roles::ROUTER, 1000)
            .emit(&mut buf)
            .unwrap();
        // Expired.
        assert_eq!(
            Credential::verify(&buf, &admins, &TAG, Some(1001)),
            Err(Error::NotAdmitted)
        );
        // Another network.
        assert_eq!(
            Credential::verify(&buf, &admins, &[0xAB; 32], Some(0)),
            Err(Error::BadAuth)
        );
        // Role escalation.
        let mut b = buf;
        b[1] |= roles::ROOT;
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, Some(0)),
            Err(Error::BadAuth)
        );
        // Expiry extended.
        let mut b = buf;
        b[38] = 0xFF;
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, Some(0)),
            Err(Error::BadAuth)
        );
        // Key substitution: an attacker swaps in its own key.
        let mallory = Identity::from_seed(&[9; 32]);
        let mut b = buf;
        b[3..35].copy_from_slice(&mallory.public().to_bytes());
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, Some(0)),
            Err(Error::BadAuth)
        );
        // Self-signed by a non-admin.
        let mut b = [0u8; CREDENTIAL_LEN];
        Credential::issue(&mallory, 0, &TAG, mallory.public(), !roles::RESERVED, NEVER)
            .emit(&mut b)
            .unwrap();
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, Some(0)),
            Err(Error::BadAuth)
        );
        // Unknown admin index.
        let mut b = buf;
        b[2] = 3;
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, Some(0)),
            Err(Error::UnknownSigner)
        );
        // Wrong length, bad version, reserved role bits.
        assert_eq!(
            Credential::verify(&buf[..100], &admins, &TAG, None),
            Err(Error::Malformed)
        );
        let mut b = buf;
        b[0] = 2;
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, None),
            Err(Error::BadValue)
        );
        let mut b = buf;
        b[1] = 0x80;
        assert_eq!(
            Credential::verify(&b, &admins, &TAG, None),
            Err(Error::BadValue)
        );
        // Without a clock the expiry cannot be judged yet.
        Credential::verify(&buf, &admins, &TAG, None).unwrap();
    }
}
