//! Authenticated remote management (`security.md` §11): the application `hyphae/mgmt`.
//!
//! A command is an admin-signed envelope (`hyphae security command …`) sent to a node's
//! `hyphae/mgmt` application by any node of the mesh. The node verifies the signature against
//! its configured admin keys, the target (this node or all), the expiry and the per-admin
//! sequence (strictly increasing, persisted next to the identity so a restart does not reopen
//! old commands), runs it, and answers the sender with `reply: <text>`. Anything else is refused
//! and answered `reply: refused: <why>`; replies are never answered, so two nodes cannot loop.
//!
//! Commands (payload text): `ping` → `pong <node id>`; `status` → a JSON line with the node id,
//! neighbours and frame counters.

use std::path::PathBuf;

/// The application name.
pub const APP_NAME: &str = "hyphae/mgmt";
/// Prefix of every answer.
pub const REPLY: &[u8] = b"reply: ";

/// Where the last accepted sequence per admin is kept (`<key>.commands`: 4 × u64 LE).
#[derive(Debug, Clone)]
pub struct SequenceFile(pub PathBuf);

impl SequenceFile {
    /// The sequences stored, or zeros.
    pub fn load(&self) -> [u64; hyphae_core::security::MAX_ADMINS] {
        let mut out = [0u64; hyphae_core::security::MAX_ADMINS];
        if let Ok(b) = std::fs::read(&self.0) {
            for (i, c) in b.chunks_exact(8).take(out.len()).enumerate() {
                let mut w = [0u8; 8];
                w.copy_from_slice(c);
                out[i] = u64::from_le_bytes(w);
            }
        }
        out
    }

    /// Store the sequences (write a temporary file, then rename).
    pub fn store(&self, seq: &[u64]) -> std::io::Result<()> {
        let bytes: Vec<u8> = seq.iter().flat_map(|s| s.to_le_bytes()).collect();
        let tmp = self.0.with_extension("commands.tmp");
        std::fs::write(&tmp, bytes)?;
        std::fs::rename(tmp, &self.0)
    }
}
