//! `hyphae security`: keygen writes a 0600 key, issue + verify round-trip a credential, and a
//! credential for another network or a tampered one is refused.

use std::path::PathBuf;
use std::process::Command;

fn hyphae(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_hyphae"))
        .args(args)
        .output()
        .expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn field<'a>(out: &'a str, name: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .expect("field present")
}

/// A temporary directory of its own per test (tests run in parallel in one process).
fn dir(test: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("hyphae-security-cli-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn keygen_issue_verify() {
    let d = dir("keys");
    let admin_key = d.join("admin.key");
    let node_key = d.join("node.key");
    let (ok, admin, e) = hyphae(&["security", "keygen", "--key", admin_key.to_str().unwrap()]);
    assert!(ok, "{e}");
    assert_eq!(field(&admin, "state"), "NewIdentity");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&admin_key).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    // Loading again gives the same identity.
    let (_, again, _) = hyphae(&["security", "keygen", "--key", admin_key.to_str().unwrap()]);
    assert_eq!(field(&again, "state"), "Resumed");
    assert_eq!(field(&again, "node_id"), field(&admin, "node_id"));

    let (_, node, _) = hyphae(&["security", "keygen", "--key", node_key.to_str().unwrap()]);
    let (ok, cred, e) = hyphae(&[
        "security",
        "issue",
        "--admin-key",
        admin_key.to_str().unwrap(),
        "--network",
        "test-mesh",
        "--public-key",
        field(&node, "public_key"),
        "--roles",
        "router,root",
        "--expiry",
        "1000",
    ]);
    assert!(ok, "{e}");
    let cred = cred.trim();
    assert_eq!(cred.len(), 206);

    let admin_pub = field(&admin, "public_key");
    let (ok, v, e) = hyphae(&[
        "security",
        "verify",
        "--admin-public-key",
        admin_pub,
        "--network",
        "test-mesh",
        "--now",
        "10",
        cred,
    ]);
    assert!(ok, "{e}");
    assert_eq!(field(&v, "node_id"), field(&node, "node_id"));
    assert_eq!(field(&v, "roles"), "router,root");

    // Another network, expired, tampered: refused.
    let (ok, _, _) = hyphae(&[
        "security",
        "verify",
        "--admin-public-key",
        admin_pub,
        "--network",
        "other",
        cred,
    ]);
    assert!(!ok);
    let (ok, _, e) = hyphae(&[
        "security",
        "verify",
        "--admin-public-key",
        admin_pub,
        "--network",
        "test-mesh",
        "--now",
        "1001",
        cred,
    ]);
    assert!(!ok);
    assert!(e.contains("refused"), "{e}");
    let mut t = cred.to_string();
    t.replace_range(2..4, "07"); // roles byte: router|gateway|root
    let (ok, _, _) = hyphae(&[
        "security",
        "verify",
        "--admin-public-key",
        admin_pub,
        "--network",
        "test-mesh",
        &t,
    ]);
    assert!(!ok);

    // A signed management command for the node verifies there, once.
    let (ok, cmd, e) = hyphae(&[
        "security",
        "command",
        "--admin-key",
        admin_key.to_str().unwrap(),
        "--network",
        "test-mesh",
        "--target",
        field(&node, "node_id"),
        "--sequence",
        "7",
        "reboot",
    ]);
    assert!(ok, "{e}");
    let cmd = cmd.trim();
    assert_eq!(cmd.len(), 2 * (85 + 6));
    let bytes: Vec<u8> = (0..cmd.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&cmd[i..i + 2], 16).unwrap())
        .collect();
    let admin_pk: Vec<u8> = (0..64)
        .step_by(2)
        .map(|i| u8::from_str_radix(&admin_pub[i..i + 2], 16).unwrap())
        .collect();
    let node_id: Vec<u8> = (0..16)
        .step_by(2)
        .map(|i| u8::from_str_radix(&field(&node, "node_id")[i..i + 2], 16).unwrap())
        .collect();
    let mut admins = hyphae_crypto::AdminKeys::<1>::new();
    admins.set(
        0,
        hyphae_crypto::PublicIdentity::from_bytes(&admin_pk.try_into().unwrap()).unwrap(),
    );
    let mut v = hyphae_crypto::control::CommandVerifier::new(admins);
    let me = hyphae_crypto::NodeId(node_id.try_into().unwrap());
    let net = hyphae_crypto::control::network_id(b"test-mesh");
    let (h, p) = v.verify(&me, &net, &bytes, None).unwrap();
    assert_eq!((h.sequence, p), (7, &b"reboot"[..]));
    assert!(v.verify(&me, &net, &bytes, None).is_err());

    let (ok, k, _) = hyphae(&["security", "network-key"]);
    assert!(ok);
    assert_eq!(k.trim().len(), 64);
    let (_, id1, _) = hyphae(&["security", "network-id", "test-mesh"]);
    let (_, id2, _) = hyphae(&["security", "network-id", "test-mesh"]);
    assert_eq!(id1, id2);
    std::fs::remove_dir_all(&d).ok();
}

/// The ESP32-C3 provisioning flow on a simulated board: the node creates its identity in
/// (in-memory) flash and logs its public key, the admin issues a credential for it and writes
/// the record with `flash-record`, `espflash write-bin` puts the file into the flash, and the
/// node boots secure. A record for another key (a re-flashed node) or with a credential for
/// another network is refused by the tool and by the node.
#[test]
fn flash_record_provisions_a_board() {
    use hyphae_fw_logic::secure::{Hex, Unprovisioned, start};
    use hyphae_fw_logic::storage::{Flash, MemFlash, Nvs, PROVISION, REGION_LEN};

    let d = dir("flash-record");
    let admin_key = d.join("admin.key");
    let (ok, admin, e) = hyphae(&["security", "keygen", "--key", admin_key.to_str().unwrap()]);
    assert!(ok, "{e}");
    let admin_pub = field(&admin, "public_key").to_owned();
    let (_, net_key, _) = hyphae(&["security", "network-key"]);
    let net_key = net_key.trim().to_owned();

    // The board's first boot: a new identity, unprovisioned; it logs its public key.
    let mut n = 0u8;
    let mut board = Nvs::new(MemFlash::<{ REGION_LEN as usize }>::new()).unwrap();
    let Err(Unprovisioned::NoRecord {
        public, node_id, ..
    }) = start(
        &mut board,
        |b: &mut [u8]| {
            for x in b {
                n = n.wrapping_mul(31).wrapping_add(17);
                *x = n;
            }
        },
        None,
    )
    else {
        panic!("a board without a record must be unprovisioned");
    };
    let public = Hex(&public).to_string();

    let issue = |network: &str, key: &str| {
        let (ok, c, e) = hyphae(&[
            "security",
            "issue",
            "--admin-key",
            admin_key.to_str().unwrap(),
            "--network",
            network,
            "--public-key",
            key,
        ]);
        assert!(ok, "{e}");
        c.trim().to_owned()
    };
    let cred = issue("c3-mesh", &public);
    let out = d.join("node.bin");
    let record = |cred: &str, public: &str| {
        hyphae(&[
            "security",
            "flash-record",
            "--network",
            "c3-mesh",
            "--network-key",
            &net_key,
            "--generation",
            "2",
            "--credential",
            cred,
            "--admins",
            &admin_pub,
            "--public-key",
            public,
            "-o",
            out.to_str().unwrap(),
        ])
    };
    let (ok, o, e) = record(&cred, &public);
    assert!(ok, "{e}");
    assert_eq!(field(&o, "node_id"), Hex(&node_id.0).to_string());
    assert_eq!(
        field(&o, "flash"),
        format!("espflash write-bin 0xa000 {}", out.display())
    );
    let bin = std::fs::read(&out).unwrap();
    assert_eq!(bin.len(), 308);

    // espflash write-bin: erase, then program the file.
    board.flash_mut().erase(PROVISION).unwrap();
    board.flash_mut().program(PROVISION, &bin).unwrap();
    let Ok(s) = start(&mut board, |_| panic!("the identity must resume"), None) else {
        panic!("a provisioned board must boot secure");
    };
    assert_eq!(s.node_id, node_id);
    assert_eq!(s.record.network(), b"c3-mesh");
    assert_eq!(s.record.generation(), 2);

    // A credential issued for another key (the board was re-flashed and has a new identity).
    let (_, other, _) = hyphae(&[
        "security",
        "keygen",
        "--key",
        d.join("o.key").to_str().unwrap(),
    ]);
    let other_cred = issue("c3-mesh", field(&other, "public_key"));
    let (ok, _, e) = record(&other_cred, &public);
    assert!(!ok && e.contains("re-flashed"), "{e}");
    // Another network's credential: the tool refuses it.
    let (ok, _, e) = record(&issue("other-mesh", &public), &public);
    assert!(!ok && e.contains("refused"), "{e}");
    // Forced onto the board anyway, the node refuses it and stays unprovisioned.
    let without_check = record(&other_cred, field(&other, "public_key"));
    assert!(without_check.0, "{}", without_check.2);
    let bin = std::fs::read(&out).unwrap();
    board.flash_mut().erase(PROVISION).unwrap();
    board.flash_mut().program(PROVISION, &bin).unwrap();
    assert!(matches!(
        start(&mut board, |_| panic!("the identity must resume"), None),
        Err(Unprovisioned::Refused { .. })
    ));
    std::fs::remove_dir_all(&d).ok();
}
