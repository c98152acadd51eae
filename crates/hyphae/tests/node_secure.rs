//! Secure by default, end to end with the real tools: keys made with `hyphae security`
//! (keygen, network-key, issue), two `hyphae node` processes over UDP that find each other and
//! deliver a message, and a third node provisioned for another network that neither of them
//! ever admits. A configuration without `[security]` is refused, naming the field.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use hyphae_host::api::{Client, event_data};

use common::{Proc, free_tcp, free_udp, start_hyphae};

const BIN: &str = env!("CARGO_BIN_EXE_hyphae");

fn run(args: &[&str]) -> String {
    let out = Command::new(BIN).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn field(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name}: ")))
        .unwrap()
        .trim()
        .to_owned()
}

/// A provisioned node: key file, node id, config text (without links).
fn provision(
    dir: &Path,
    name: &str,
    admin: &str,
    admin_pub: &str,
    network: &str,
    key: &str,
) -> (String, String) {
    let key_file = dir.join(format!("{name}.key"));
    let k = run(&["security", "keygen", "--key", key_file.to_str().unwrap()]);
    let cred = run(&[
        "security",
        "issue",
        "--admin-key",
        admin,
        "--network",
        network,
        "--public-key",
        &field(&k, "public_key"),
        "--roles",
        "router,root",
    ]);
    let sec = format!(
        "[security]\nkey = \"{}\"\nnetwork = \"{network}\"\nnetwork_key = \"{}\"\ncredential = \"{}\"\nadmins = [\"{admin_pub}\"]\n",
        key_file.display(),
        key.trim(),
        cred.trim()
    );
    (field(&k, "node_id"), sec)
}

fn start(dir: &Path, name: &str, udp: u16, peers: &[u16], api: u16, security: &str) -> Proc {
    let peers: Vec<String> = peers.iter().map(|p| format!("\"127.0.0.1:{p}\"")).collect();
    let conf = format!(
        "apps = [\"chat\"]\n[node]\nbeacon_ms = 200\n[[links]]\ntype = \"udp\"\nbind = \"127.0.0.1:{udp}\"\npeers = [{}]\ndiscovery = \"none\"\n[api]\nlisten = \"tcp:127.0.0.1:{api}\"\n{security}",
        peers.join(", ")
    );
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, conf).unwrap();
    start_hyphae(&["node"], &path)
}

fn unhex8(s: &str) -> [u8; 8] {
    let mut o = [0u8; 8];
    for (i, b) in o.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap();
    }
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn provisioned_nodes_talk_and_an_outsider_is_never_admitted() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let admin = d.join("admin.key");
    let admin_pub = field(
        &run(&["security", "keygen", "--key", admin.to_str().unwrap()]),
        "public_key",
    );
    let key = run(&["security", "network-key"]);
    let other_key = run(&["security", "network-key"]);
    let admin = admin.to_str().unwrap();
    let (id_a, sec_a) = provision(d, "a", admin, &admin_pub, "lab mesh", &key);
    let (id_b, sec_b) = provision(d, "b", admin, &admin_pub, "lab mesh", &key);
    // Same admin and network name, another network key: an outsider.
    let (_id_c, sec_c) = provision(d, "c", admin, &admin_pub, "lab mesh", &other_key);
    let (ua, ub, uc) = (free_udp(), free_udp(), free_udp());
    let (pa, pb, pc) = (free_tcp(), free_tcp(), free_tcp());
    let _a = start(d, "a", ua, &[ub, uc], pa, &sec_a);
    let _b = start(d, "b", ub, &[ua, uc], pb, &sec_b);
    let _c = start(d, "c", uc, &[ua, ub], pc, &sec_c);
    let mut a = Client::connect(&format!("127.0.0.1:{pa}")).await.unwrap();
    let mut b = Client::connect(&format!("127.0.0.1:{pb}")).await.unwrap();
    let mut c = Client::connect(&format!("127.0.0.1:{pc}")).await.unwrap();
    a.register("chat").await.unwrap();
    b.register("chat").await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let v = a.call(serde_json::json!({"op": "info"})).await.unwrap();
        if v["peers"].as_array().map_or(0, Vec::len) >= 1 {
            assert_eq!(v["id"], id_a);
            break;
        }
        assert!(Instant::now() < deadline, "a never admitted b: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    a.send("chat", &unhex8(&id_b), b"hello, sealed")
        .await
        .unwrap();
    loop {
        let v = tokio::time::timeout(Duration::from_secs(10), b.next_event())
            .await
            .expect("delivery in time")
            .unwrap();
        if v["event"] == "delivered" {
            assert_eq!(event_data(&v).unwrap(), b"hello, sealed");
            assert_eq!(v["from"], id_a);
            break;
        }
    }
    // Authenticated management: an admin-signed `ping` for b, sent by a over the mesh to b's
    // `hyphae/mgmt`, is answered; the same envelope again is a replay and refused; a command
    // for another node is refused.
    a.register("hyphae/mgmt").await.unwrap();
    let ping = run(&[
        "security",
        "command",
        "--admin-key",
        admin,
        "--network",
        "lab mesh",
        "--target",
        &id_b,
        "--sequence",
        "7",
        "ping",
    ]);
    let envelope = unhex_vec(ping.trim());
    let to_b = unhex8(&id_b);
    for want in [format!("reply: pong {id_b}"), "reply: refused".to_owned()] {
        a.send("hyphae/mgmt", &to_b, &envelope).await.unwrap();
        let got = next_delivery(&mut a).await;
        assert!(got.starts_with(&want), "{got:?} should start with {want:?}");
    }
    let for_a = run(&[
        "security",
        "command",
        "--admin-key",
        admin,
        "--network",
        "lab mesh",
        "--target",
        &id_a,
        "--sequence",
        "8",
        "ping",
    ]);
    a.send("hyphae/mgmt", &to_b, &unhex_vec(for_a.trim()))
        .await
        .unwrap();
    assert!(next_delivery(&mut a).await.starts_with("reply: refused"));

    // Two seconds of beacons later, the honest pair know only each other and the outsider
    // knows no one.
    tokio::time::sleep(Duration::from_secs(2)).await;
    for (client, want) in [(&mut a, 1usize), (&mut b, 1), (&mut c, 0)] {
        let v = client
            .call(serde_json::json!({"op": "info"}))
            .await
            .unwrap();
        assert_eq!(v["peers"].as_array().map_or(0, Vec::len), want, "{v}");
    }
}

fn unhex_vec(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

async fn next_delivery(c: &mut Client) -> String {
    loop {
        let v = tokio::time::timeout(Duration::from_secs(10), c.next_event())
            .await
            .expect("reply in time")
            .unwrap();
        if v["event"] == "delivered" {
            return String::from_utf8(event_data(&v).unwrap()).unwrap();
        }
    }
}

#[test]
fn a_node_without_security_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("n.toml");
    std::fs::write(&path, "[[links]]\ntype = \"udp\"\nbind = \"127.0.0.1:0\"\n").unwrap();
    let out = Command::new(BIN)
        .args(["node", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("security.key") && err.contains("insecure"),
        "{err}"
    );
}
