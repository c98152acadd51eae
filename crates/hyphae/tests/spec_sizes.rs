//! `hyphae spec sizes --json` meets the payload figures of issue 2 and 6.
#![allow(missing_docs)]

use std::process::Command;

fn sizes() -> Vec<serde_json::Value> {
    let out = Command::new(env!("CARGO_BIN_EXE_hyphae"))
        .args(["spec", "sizes", "--json"])
        .output()
        .expect("run hyphae");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON array")
}

fn payload(rows: &[serde_json::Value], link: &str, kind: &str, depth: u64, secure: bool) -> u64 {
    rows.iter()
        .find(|r| {
            r["link"] == link && r["kind"] == kind && r["depth"] == depth && r["secure"] == secure
        })
        .and_then(|r| r["payload"].as_u64())
        .expect("row present")
}

#[test]
fn espnow_v1_meets_the_figures() {
    let rows = sizes();
    assert!(payload(&rows, "espnow-v1", "single", 0, false) >= 235);
    assert!(payload(&rows, "espnow-v1", "routed", 8, false) >= 215);
    assert!(payload(&rows, "espnow-v1", "routed", 8, true) >= 200);
}

#[test]
fn other_links() {
    let rows = sizes();
    assert_eq!(payload(&rows, "lora-rylr998", "routed", 8, true), 191);
    assert_eq!(payload(&rows, "udp", "single", 0, true), 1205);
    assert_eq!(payload(&rows, "espnow-v2", "fragment", 0, false), 1464);
    assert_eq!(payload(&rows, "ble", "routed", 12, true), 193);
}

#[test]
fn json_fields_in_order() {
    let out = Command::new(env!("CARGO_BIN_EXE_hyphae"))
        .args(["spec", "sizes", "--json"])
        .output()
        .expect("run hyphae");
    let text = String::from_utf8(out.stdout).expect("UTF-8");
    let first = text.find('{').expect("an object");
    let obj = &text[first..text[first..].find('}').expect("closed") + first];
    let keys: Vec<_> = ["link", "mtu", "kind", "depth", "secure", "payload"]
        .iter()
        .map(|k| obj.find(&format!("\"{k}\"")).expect("key present"))
        .collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]), "{obj}");
}

#[test]
fn every_link_and_layout_is_listed() {
    let rows = sizes();
    assert_eq!(rows.len(), 5 * 2 * 5);
    for r in &rows {
        let mtu = r["mtu"].as_u64().unwrap();
        assert!(r["payload"].as_u64().unwrap() < mtu);
    }
    assert_eq!(payload(&rows, "lora-rylr998", "single", 0, false), 234);
}
