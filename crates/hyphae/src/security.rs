//! `hyphae security`: the admin's key tool — node and admin identities, network ids and keys,
//! membership credentials (`docs/spec/security.md` §2–3).

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use anyhow::{Context, Result, anyhow, bail};
use clap::Subcommand;
use hyphae_core::security::MAX_ADMINS;
use hyphae_crypto::control::{
    BROADCAST_TARGET, COMMAND_OVERHEAD, CommandHeader, network_id, sign_command,
};
use hyphae_crypto::credential::{AdminKeys, CREDENTIAL_LEN, Credential, NEVER, roles};
use hyphae_crypto::replay::{FileCounterStore, boot};
use hyphae_crypto::{FileKeyStore, Identity, KeyStore, NodeId, PublicIdentity};

/// Arguments of `hyphae security`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(Debug, Subcommand)]
enum What {
    /// Create (or load) an identity: the seed goes to KEY (mode 0600), the frame counter to
    /// KEY.counter. Prints the node id, short id and public key.
    Keygen {
        /// Key file.
        #[arg(long)]
        key: PathBuf,
    },
    /// Print the network id of a network name.
    NetworkId {
        /// Network name.
        name: String,
    },
    /// Print 32 fresh random bytes for a network key.
    NetworkKey,
    /// Issue a membership credential for a node's public key, signed with an admin key file.
    Issue {
        /// The admin's key file (created with `keygen`).
        #[arg(long)]
        admin_key: PathBuf,
        /// Index of this admin key in the nodes' configuration.
        #[arg(long, default_value_t = 0)]
        admin_index: u8,
        /// Network name.
        #[arg(long)]
        network: String,
        /// The node's Ed25519 public key (64 hex digits).
        #[arg(long)]
        public_key: String,
        /// Comma-separated roles: router, gateway, root.
        #[arg(long, default_value = "router")]
        roles: String,
        /// Expiry in seconds of network time (default: never).
        #[arg(long)]
        expiry: Option<u32>,
    },
    /// Sign a management command (`security.md` §11); prints the envelope in hex.
    Command {
        /// The admin's key file.
        #[arg(long)]
        admin_key: PathBuf,
        /// Index of this admin key in the nodes' configuration.
        #[arg(long, default_value_t = 0)]
        admin_index: u8,
        /// Network name.
        #[arg(long)]
        network: String,
        /// Target node id (16 hex digits) or `all`.
        #[arg(long)]
        target: String,
        /// Sequence, strictly increasing per admin (default: milliseconds since the Unix epoch).
        #[arg(long)]
        sequence: Option<u64>,
        /// Last second (network time) the command may run (default: none).
        #[arg(long)]
        expiry: Option<u32>,
        /// Command payload as text.
        payload: String,
    },
    /// Write the provisioning record of an ESP32-C3 node (`security.md` §16): network, key,
    /// the node's credential and the admin keys, checked here, in the 308-byte flash format
    /// the firmware reads. Flash it with `espflash write-bin 0xa000 FILE` (nvs partition + 0x1000).
    FlashRecord {
        /// Network name (1..=32 bytes).
        #[arg(long)]
        network: String,
        /// Network key, 64 hex digits (`hyphae security network-key`).
        #[arg(long)]
        network_key: String,
        /// Network key generation (0..=63).
        #[arg(long, default_value_t = 0)]
        generation: u8,
        /// The node's credential, 206 hex digits (`hyphae security issue --public-key <the key
        /// the node logs at boot>`).
        #[arg(long)]
        credential: String,
        /// Admin public keys by index, comma-separated (64 hex digits each, at most 4).
        #[arg(long, value_delimiter = ',')]
        admins: Vec<String>,
        /// The node's public key as it logs it: refuse a credential issued for another key.
        #[arg(long)]
        public_key: Option<String>,
        /// Output file.
        #[arg(short, long)]
        output: PathBuf,
    },
    /// Verify a credential (hex) against an admin public key.
    Verify {
        /// The admin's public key (hex) at index 0.
        #[arg(long)]
        admin_public_key: String,
        /// Network name.
        #[arg(long)]
        network: String,
        /// Current time in seconds, for the expiry check.
        #[arg(long)]
        now: Option<u32>,
        /// The credential, 206 hex digits.
        credential: String,
    },
}

/// The operating system's RNG through rand_core 0.10's traits.
struct OsRng(File);

impl rand_core::TryRng for OsRng {
    type Error = std::io::Error;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        let mut b = [0u8; 4];
        self.0.read_exact(&mut b)?;
        Ok(u32::from_le_bytes(b))
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        let mut b = [0u8; 8];
        self.0.read_exact(&mut b)?;
        Ok(u64::from_le_bytes(b))
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        self.0.read_exact(dst)
    }
}

impl rand_core::TryCryptoRng for OsRng {}

fn os_rng() -> Result<OsRng> {
    Ok(OsRng(
        File::open("/dev/urandom").context("opening /dev/urandom")?,
    ))
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex<const N: usize>(s: &str) -> Result<[u8; N]> {
    let s = s.trim();
    if s.len() != 2 * N || !s.is_ascii() {
        bail!("expected {} hex digits, got {}", 2 * N, s.len());
    }
    let mut out = [0u8; N];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).context("not hex")?;
    }
    Ok(out)
}

fn parse_roles(s: &str) -> Result<u8> {
    let mut r = 0;
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        r |= match part {
            "router" => roles::ROUTER,
            "gateway" => roles::GATEWAY,
            "root" => roles::ROOT,
            other => bail!("unknown role {other:?} (router, gateway, root)"),
        };
    }
    Ok(r)
}

fn role_names(r: u8) -> String {
    let names: Vec<&str> = [
        (roles::ROUTER, "router"),
        (roles::GATEWAY, "gateway"),
        (roles::ROOT, "root"),
    ]
    .iter()
    .filter(|(bit, _)| r & bit != 0)
    .map(|(_, n)| *n)
    .collect();
    names.join(",")
}

fn load_identity(path: &std::path::Path) -> Result<Identity> {
    let seed = FileKeyStore::new(path)
        .load()
        .map_err(|e| anyhow!("{}: {e}", path.display()))?
        .ok_or_else(|| anyhow!("{}: no key (run keygen)", path.display()))?;
    Ok(Identity::from_seed(&seed))
}

/// `hyphae security flash-record`: check the pieces as the node will, then write the record.
fn flash_record(
    network: &str,
    network_key: &str,
    generation: u8,
    credential: &str,
    admins: &[String],
    public_key: Option<&str>,
    output: &std::path::Path,
) -> Result<()> {
    use hyphae_fw_logic::provision::{MAX_GENERATION, MAX_NAME, Record};
    use hyphae_fw_logic::storage::PROVISION;

    if network.is_empty() || network.len() > MAX_NAME {
        bail!("--network: 1..={MAX_NAME} bytes");
    }
    if generation > MAX_GENERATION {
        bail!("--generation: 0..={MAX_GENERATION}");
    }
    if admins.is_empty() || admins.len() > MAX_ADMINS {
        bail!("--admins: 1..={MAX_ADMINS} keys");
    }
    let key = unhex::<32>(network_key).context("--network-key")?;
    let cred = unhex::<CREDENTIAL_LEN>(credential).context("--credential")?;
    let mut keys = Vec::new();
    let mut ring = AdminKeys::<MAX_ADMINS>::new();
    for (i, a) in admins.iter().enumerate() {
        let k = unhex::<32>(a).with_context(|| format!("--admins[{i}]"))?;
        let p = PublicIdentity::from_bytes(&k).map_err(|e| anyhow!("--admins[{i}]: {e}"))?;
        ring.set(i as u8, p);
        keys.push(k);
    }
    // The node will verify exactly this; refuse now rather than on the board.
    let c =
        Credential::verify(&cred, &ring, &network_id(network.as_bytes()), None).map_err(|e| {
            anyhow!("--credential refused for network {network:?} and these admins: {e}")
        })?;
    if let Some(p) = public_key {
        let p = PublicIdentity::from_bytes(&unhex::<32>(p).context("--public-key")?)
            .map_err(|e| anyhow!("--public-key: {e}"))?;
        if p.node_id() != c.node_id() {
            bail!(
                "--credential is for node {}, --public-key is node {} (re-flashed node? issue a new credential)",
                c.node_id(),
                p.node_id()
            );
        }
    }
    let record = Record::new(network.as_bytes(), key, generation, cred, &keys)
        .map_err(|e| anyhow!("record: {e}"))?;
    std::fs::write(output, record.encode())
        .with_context(|| format!("writing {}", output.display()))?;
    println!("node_id: {}", c.node_id());
    println!("roles: {}", role_names(c.roles));
    println!(
        "record: {} ({} bytes)",
        output.display(),
        record.encode().len()
    );
    println!(
        "flash: espflash write-bin {:#x} {}",
        DEFAULT_NVS + PROVISION,
        output.display()
    );
    Ok(())
}

/// Offset of the `nvs` partition in the default partition table espflash writes.
const DEFAULT_NVS: u32 = 0x9000;

pub(crate) fn run(args: &Args) -> Result<()> {
    match &args.what {
        What::Keygen { key } => {
            let mut keys = FileKeyStore::new(key);
            let mut ctr = FileCounterStore::new(key.with_extension("counter"));
            let (id, _, state) = boot(&mut keys, &mut ctr, &mut os_rng()?, 1024)
                .map_err(|e| anyhow!("{}: {e}", key.display()))?;
            println!("state: {state:?}");
            println!("node_id: {}", id.node_id());
            println!("short_id: {:?}", id.node_id().short());
            println!("public_key: {}", hex(&id.public().to_bytes()));
        }
        What::NetworkId { name } => println!("{}", hex(&network_id(name.as_bytes()))),
        What::NetworkKey => {
            let mut k = [0u8; 32];
            rand_core::TryRng::try_fill_bytes(&mut os_rng()?, &mut k)?;
            println!("{}", hex(&k));
        }
        What::Issue {
            admin_key,
            admin_index,
            network,
            public_key,
            roles,
            expiry,
        } => {
            let admin = load_identity(admin_key)?;
            let node = PublicIdentity::from_bytes(&unhex::<32>(public_key)?)
                .map_err(|e| anyhow!("public key: {e}"))?;
            let c = Credential::issue(
                &admin,
                *admin_index,
                &network_id(network.as_bytes()),
                &node,
                parse_roles(roles)?,
                expiry.unwrap_or(NEVER),
            );
            let mut buf = [0u8; CREDENTIAL_LEN];
            c.emit(&mut buf).map_err(|e| anyhow!("{e}"))?;
            println!("{}", hex(&buf));
        }
        What::Command {
            admin_key,
            admin_index,
            network,
            target,
            sequence,
            expiry,
            payload,
        } => {
            let admin = load_identity(admin_key)?;
            let target = if target == "all" {
                BROADCAST_TARGET
            } else {
                NodeId(unhex::<8>(target)?)
            };
            let sequence = match sequence {
                Some(s) => *s,
                None => u64::try_from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)?
                        .as_millis(),
                )?,
            };
            let header = CommandHeader {
                admin: *admin_index,
                sequence,
                target,
                expiry: expiry.unwrap_or(u32::MAX),
            };
            let mut out = vec![0u8; COMMAND_OVERHEAD + payload.len()];
            let n = sign_command(
                &admin,
                &header,
                &network_id(network.as_bytes()),
                payload.as_bytes(),
                &mut out,
            )
            .map_err(|e| anyhow!("{e}"))?;
            println!("{}", hex(&out[..n]));
        }
        What::FlashRecord {
            network,
            network_key,
            generation,
            credential,
            admins,
            public_key,
            output,
        } => flash_record(
            network,
            network_key,
            *generation,
            credential,
            admins,
            public_key.as_deref(),
            output,
        )?,
        What::Verify {
            admin_public_key,
            network,
            now,
            credential,
        } => {
            let mut admins = AdminKeys::<1>::new();
            admins.set(
                0,
                PublicIdentity::from_bytes(&unhex::<32>(admin_public_key)?)
                    .map_err(|e| anyhow!("admin key: {e}"))?,
            );
            let bytes = unhex::<CREDENTIAL_LEN>(credential)?;
            let c = Credential::verify(&bytes, &admins, &network_id(network.as_bytes()), *now)
                .map_err(|e| anyhow!("credential refused: {e}"))?;
            println!("node_id: {}", c.node_id());
            println!("roles: {}", role_names(c.roles));
            if c.expiry == NEVER {
                println!("expiry: never");
            } else {
                println!("expiry: {}", c.expiry);
            }
        }
    }
    Ok(())
}
