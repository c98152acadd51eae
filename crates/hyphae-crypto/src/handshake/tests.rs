use super::*;
use crate::credential::roles;
use crate::frame::{Protection, open_frame, seal_frame};
use crate::replay::ReplayWindow;
use crate::testing::TestRng;
use proptest::prelude::*;

const TAG: [u8; 32] = [0x55; 32];

struct Node {
    id: Identity,
    cred: Credential,
}

fn admitted(admin: &Identity, seed: u8) -> Node {
    let id = Identity::from_seed(&[seed; 32]);
    let cred = Credential::issue(admin, 0, &TAG, id.public(), roles::ROUTER, 10_000);
    Node { id, cred }
}

fn admins(admin: &Identity) -> AdminKeys<2> {
    let mut a = AdminKeys::new();
    a.set(0, *admin.public());
    a
}

fn ctx<'a>(n: &'a Node, admins: &'a AdminKeys<2>) -> Context<'a, 2> {
    Context {
        identity: &n.id,
        credential: &n.cred,
        admins,
        network_id: &TAG,
        now: Some(100),
        suite: Suite::default(),
    }
}

fn exchange(
    a: &Node,
    b: &Node,
    adm: &AdminKeys<2>,
    rng: &mut TestRng,
) -> (LinkSession, LinkSession) {
    let mut m1 = [0u8; 256];
    let mut m2 = [0u8; 256];
    let mut m3 = [0u8; 256];
    let (ini, n1) = Initiator::start(&ctx(a, adm), 4, rng, &mut m1).unwrap();
    let (res, n2) = Responder::respond(&ctx(b, adm), &m1[..n1], rng, &mut m2).unwrap();
    let (sa, n3) = ini.finish(&ctx(a, adm), &m2[..n2], &mut m3).unwrap();
    let sb = res.finish(&m3[..n3]).unwrap();
    (sa, sb)
}

fn link_frame(send: &FrameKey, sender: &NodeId, recv: &FrameKey, counter: u32) -> Result<()> {
    let mut f = [
        0x41u8, 0, 0, 0, 0, 0, 0, b'h', b'i', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];
    seal_frame(send, sender, counter, &mut f, 7, Protection::Encrypt)?;
    open_frame(
        recv,
        sender,
        &mut f,
        7,
        Protection::Encrypt,
        &mut ReplayWindow::new(),
    )
    .map(|_| ())
}

#[test]
fn sizes() {
    assert_eq!(INIT_LEN, 145);
    assert_eq!(RESPONSE_LEN, 209);
    assert_eq!(CONFIRM_LEN, 74);
    assert_eq!(E2E_LEN, 114);
    assert_eq!(CREDENTIAL_REQUEST_LEN, 18);
    assert_eq!(CREDENTIAL_MSG_LEN, 113);
    // The largest handshake frame fits the 240-byte RYLR-998 MTU: 2 + 21 + 209.
    const { assert!(2 + crate::frame::OVERHEAD + RESPONSE_LEN <= 240) };
}

#[test]
fn full_handshake_keys_match() {
    let admin = Identity::from_seed(&[1; 32]);
    let adm = admins(&admin);
    let (a, b) = (admitted(&admin, 2), admitted(&admin, 3));
    let mut rng = TestRng(7);
    let (sa, sb) = exchange(&a, &b, &adm, &mut rng);
    assert_eq!(sa.peer.node_id(), b.id.node_id());
    assert_eq!(sb.peer.node_id(), a.id.node_id());
    assert_eq!(sa.send.id(), KeyId::link(4));
    link_frame(&sa.send, &a.id.node_id(), &sb.recv, 1).unwrap();
    link_frame(&sb.send, &b.id.node_id(), &sa.recv, 1).unwrap();
    // Directions differ.
    assert_eq!(
        link_frame(&sa.send, &a.id.node_id(), &sa.recv, 1),
        Err(Error::BadAuth)
    );
    // A second handshake yields fresh keys (re-keying drops the old ones).
    let (sa2, _) = exchange(&a, &b, &adm, &mut rng);
    assert_eq!(
        link_frame(&sa2.send, &a.id.node_id(), &sb.recv, 2),
        Err(Error::BadAuth)
    );
}

#[test]
fn outsider_and_forgeries_refused() {
    let admin = Identity::from_seed(&[1; 32]);
    let adm = admins(&admin);
    let (a, b) = (admitted(&admin, 2), admitted(&admin, 3));
    let mut rng = TestRng(8);
    let mut m1 = [0u8; 256];
    let mut m2 = [0u8; 256];
    let mut m3 = [0u8; 256];

    // Outsider with a self-signed credential.
    let rogue_admin = Identity::from_seed(&[66; 32]);
    let rogue = admitted(&rogue_admin, 67);
    let (_, n1) = Initiator::start(&ctx(&rogue, &adm), 0, &mut rng, &mut m1).unwrap();
    assert_eq!(
        Responder::respond(&ctx(&b, &adm), &m1[..n1], &mut rng, &mut m2).unwrap_err(),
        Error::BadAuth
    );

    // Stolen credential: the outsider presents a's credential under its own node id.
    let thief = Node {
        id: Identity::from_seed(&[68; 32]),
        cred: a.cred,
    };
    let (_, n1) = Initiator::start(&ctx(&thief, &adm), 0, &mut rng, &mut m1).unwrap();
    assert_eq!(
        Responder::respond(&ctx(&b, &adm), &m1[..n1], &mut rng, &mut m2).unwrap_err(),
        Error::IdMismatch
    );
    // ... or claims a's node id: the responder accepts message 1 (it is public data), but the
    // thief cannot sign message 3.
    let mut m1b = [0u8; 256];
    let (_, n1) = Initiator::start(&ctx(&a, &adm), 0, &mut rng, &mut m1b).unwrap();
    let (res, _) = Responder::respond(&ctx(&b, &adm), &m1b[..n1], &mut rng, &mut m2).unwrap();
    let forged = Message::Confirm {
        sender: a.id.node_id(),
        session: 0,
        signature: thief.id.sign(&[0; 32]),
    };
    let n3 = forged.emit(&mut m3).unwrap();
    assert_eq!(res.finish(&m3[..n3]).unwrap_err(), Error::BadAuth);

    // Tampered response (ephemeral swapped by a man in the middle).
    let (ini, n1) = Initiator::start(&ctx(&a, &adm), 1, &mut rng, &mut m1).unwrap();
    let (_, n2) = Responder::respond(&ctx(&b, &adm), &m1[..n1], &mut rng, &mut m2).unwrap();
    m2[12] ^= 0x40;
    assert!(ini.finish(&ctx(&a, &adm), &m2[..n2], &mut m3).is_err());

    // Reflection: a's own message 1 sent back to it.
    let (_, n1) = Initiator::start(&ctx(&a, &adm), 1, &mut rng, &mut m1).unwrap();
    assert_eq!(
        Responder::respond(&ctx(&a, &adm), &m1[..n1], &mut rng, &mut m2).unwrap_err(),
        Error::UnexpectedMessage
    );

    // Expired credential.
    let old = Node {
        id: Identity::from_seed(&[70; 32]),
        cred: Credential::issue(
            &admin,
            0,
            &TAG,
            Identity::from_seed(&[70; 32]).public(),
            roles::ROUTER,
            50,
        ),
    };
    let (_, n1) = Initiator::start(&ctx(&old, &adm), 1, &mut rng, &mut m1).unwrap();
    assert_eq!(
        Responder::respond(&ctx(&b, &adm), &m1[..n1], &mut rng, &mut m2).unwrap_err(),
        Error::NotAdmitted
    );

    // Wrong message order.
    let (ini, _) = Initiator::start(&ctx(&a, &adm), 1, &mut rng, &mut m1).unwrap();
    assert_eq!(
        ini.finish(&ctx(&a, &adm), &m1[..INIT_LEN], &mut m3)
            .unwrap_err(),
        Error::UnexpectedMessage
    );
}

#[test]
fn parse_rejects() {
    assert_eq!(Message::parse(&[]), Err(Error::Malformed));
    let mut b = [0u8; CONFIRM_LEN];
    b[8] = op::CONFIRM;
    Message::parse(&b).unwrap();
    assert_eq!(Message::parse(&b[..CONFIRM_LEN - 1]), Err(Error::Malformed));
    b[9] = 64;
    assert_eq!(Message::parse(&b), Err(Error::BadValue));
    b[9] = 0;
    b[8] = 9;
    assert_eq!(Message::parse(&b), Err(Error::BadValue));
    // Credential messages carry session 0.
    let mut r = [0u8; CREDENTIAL_REQUEST_LEN];
    r[8] = op::CREDENTIAL_REQUEST;
    Message::parse(&r).unwrap();
    r[9] = 1;
    assert_eq!(Message::parse(&r), Err(Error::BadValue));
}

proptest! {
    #[test]
    fn parse_never_panics_and_reemits(bytes in proptest::collection::vec(any::<u8>(), 0..260)) {
        if let Ok(m) = Message::parse(&bytes) {
            let mut out = [0u8; 260];
            let n = m.emit(&mut out).unwrap();
            prop_assert_eq!(&out[..n], &bytes[..]);
        }
    }

    #[test]
    fn emit_parse_roundtrip(
        sender in any::<[u8; 8]>(), session in 0u8..64, eph in any::<[u8; 32]>(),
        sig in proptest::collection::vec(any::<u8>(), 64), target in any::<[u8; 8]>(),
        accept in any::<bool>(), which in 0u8..6,
    ) {
        let cred = [0xC5u8; CREDENTIAL_LEN];
        let mut s = [0u8; 64];
        s.copy_from_slice(&sig);
        let sender = NodeId(sender);
        let m = match which {
            0 => Message::Init { sender, session, ephemeral: eph, credential: &cred },
            1 => Message::Response { sender, session, ephemeral: eph, credential: &cred, signature: s },
            2 => Message::Confirm { sender, session, signature: s },
            3 => Message::CredentialRequest { sender, target: NodeId(target) },
            4 => Message::Credential { sender, credential: &cred },
            _ => Message::EndToEnd { accept, sender, session, target: NodeId(target), ephemeral: eph, signature: s },
        };
        let mut out = [0u8; 260];
        let n = m.emit(&mut out).unwrap();
        prop_assert_eq!(n, m.buffer_len());
        prop_assert_eq!(Message::parse(&out[..n]).unwrap(), m);
    }
}
