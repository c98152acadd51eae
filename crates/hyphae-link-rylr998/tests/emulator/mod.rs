//! An RYLR-998 emulator on a real pseudo-terminal, written for the tests from the documented
//! command set (RADIOS.md §2): it answers commands, validates parameters, carries `AT+SEND`
//! payloads over a shared "air" to other emulated modules, and lets a test inject errors,
//! garbage, truncated lines and resets.

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use nix::pty::openpty;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{broadcast, mpsc};

#[derive(Clone, Debug)]
pub(crate) struct AirFrame {
    network: u8,
    from: u16,
    to: u16,
    data: Vec<u8>,
}

/// Knobs a test turns on one emulated module.
#[derive(Default)]
pub(crate) struct Knobs {
    /// Answer the next AT+SEND with this +ERR code instead of +OK.
    pub(crate) fail_next_send: AtomicU16,
    /// Swallow AT+SEND without answering.
    pub(crate) mute_sends: AtomicBool,
    /// Config commands received (AT+ADDRESS etc.).
    pub(crate) config_commands: AtomicUsize,
    /// Sends accepted.
    pub(crate) sends: AtomicUsize,
    /// Every command line seen, for assertions.
    pub(crate) log: Mutex<Vec<String>>,
}

pub(crate) struct Module {
    /// Path of the pty slave the driver opens.
    pub(crate) path: String,
    pub(crate) knobs: Arc<Knobs>,
    /// Raw bytes to write to the driver (garbage, +READY, …).
    pub(crate) inject: mpsc::UnboundedSender<Vec<u8>>,
    _slave: OwnedFd,
}

pub(crate) fn air() -> broadcast::Sender<AirFrame> {
    broadcast::channel(256).0
}

/// Start an emulated module on a new pseudo-terminal.
pub(crate) fn spawn(air: &broadcast::Sender<AirFrame>) -> Module {
    let pty = openpty(None, None).expect("openpty");
    let path = nix::unistd::ttyname(&pty.slave)
        .expect("ttyname")
        .to_string_lossy()
        .into_owned();
    // Raw mode on the slave so the line discipline passes bytes untouched.
    let mut t = nix::sys::termios::tcgetattr(&pty.slave).expect("tcgetattr");
    nix::sys::termios::cfmakeraw(&mut t);
    nix::sys::termios::tcsetattr(&pty.slave, nix::sys::termios::SetArg::TCSANOW, &t)
        .expect("tcsetattr");
    let master = std::fs::File::from(pty.master);
    let reader = tokio::fs::File::from_std(master.try_clone().expect("clone"));
    let writer = tokio::fs::File::from_std(master);
    let knobs = Arc::new(Knobs::default());
    let (inject, inject_rx) = mpsc::unbounded_channel();
    tokio::spawn(run(reader, writer, air.clone(), knobs.clone(), inject_rx));
    Module {
        path,
        knobs,
        inject,
        _slave: pty.slave,
    }
}

struct State {
    address: u16,
    network: u8,
}

async fn run(
    mut reader: tokio::fs::File,
    writer: tokio::fs::File,
    air: broadcast::Sender<AirFrame>,
    knobs: Arc<Knobs>,
    mut inject: mpsc::UnboundedReceiver<Vec<u8>>,
) {
    let (out_tx, mut out_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    // Writer task: everything the module prints goes through one queue.
    tokio::spawn(async move {
        let mut writer = writer;
        while let Some(b) = out_rx.recv().await {
            if writer.write_all(&b).await.is_err() {
                break;
            }
            let _ = writer.flush().await;
        }
    });
    let state = Arc::new(Mutex::new(State {
        address: 0,
        network: 18,
    }));
    // Receiver: frames from the air addressed to this module.
    {
        let mut rx = air.subscribe();
        let out = out_tx.clone();
        let state = state.clone();
        tokio::spawn(async move {
            while let Ok(f) = rx.recv().await {
                let (me, net) = {
                    let s = state.lock().unwrap();
                    (s.address, s.network)
                };
                if f.from == me || f.network != net || !(f.to == 0 || f.to == me) {
                    continue;
                }
                let mut line = format!("+RCV={},{},", f.from, f.data.len()).into_bytes();
                line.extend_from_slice(&f.data);
                line.extend_from_slice(b",-42,9\r\n");
                let _ = out.send(line);
            }
        });
    }
    {
        let out = out_tx.clone();
        tokio::spawn(async move {
            while let Some(b) = inject.recv().await {
                let _ = out.send(b);
            }
        });
    }
    let mut buf = Vec::new();
    let mut chunk = [0u8; 512];
    loop {
        let n = match reader.read(&mut chunk).await {
            Ok(0) | Err(_) => {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                continue;
            }
            Ok(n) => n,
        };
        buf.extend_from_slice(&chunk[..n]);
        while let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
            let line: Vec<u8> = buf.drain(..i + 2).take(i).collect();
            let reply = answer(&line, &state, &knobs, &air);
            if let Some(r) = reply {
                let _ = out_tx.send(r);
            }
        }
    }
}

fn answer(
    line: &[u8],
    state: &Arc<Mutex<State>>,
    knobs: &Knobs,
    air: &broadcast::Sender<AirFrame>,
) -> Option<Vec<u8>> {
    let text = String::from_utf8_lossy(line).into_owned();
    knobs.log.lock().unwrap().push(text.clone());
    let ok = || Some(b"+OK\r\n".to_vec());
    let err = |n: u16| Some(format!("+ERR={n}\r\n").into_bytes());
    if !line.starts_with(b"AT") {
        return err(2);
    }
    if line == b"AT" {
        return ok();
    }
    if let Some(rest) = line.strip_prefix(b"AT+SEND=") {
        // addr,len,data — data delimited by len
        let s = rest;
        let c1 = s.iter().position(|&b| b == b',')?;
        let c2 = c1 + 1 + s[c1 + 1..].iter().position(|&b| b == b',')?;
        let to: u16 = std::str::from_utf8(&s[..c1]).ok()?.parse().ok()?;
        let len: usize = std::str::from_utf8(&s[c1 + 1..c2]).ok()?.parse().ok()?;
        let data = &s[c2 + 1..];
        if len > 240 {
            return err(13);
        }
        if data.len() != len {
            return err(5);
        }
        if knobs.mute_sends.load(Ordering::SeqCst) {
            return None;
        }
        let code = knobs.fail_next_send.swap(0, Ordering::SeqCst);
        if code != 0 {
            return err(code);
        }
        let (from, network) = {
            let s = state.lock().unwrap();
            (s.address, s.network)
        };
        knobs.sends.fetch_add(1, Ordering::SeqCst);
        let _ = air.send(AirFrame {
            network,
            from,
            to,
            data: data.to_vec(),
        });
        return ok();
    }
    let body = text.strip_prefix("AT+")?;
    if let Some(q) = body.strip_suffix('?') {
        let s = state.lock().unwrap();
        return Some(
            match q {
                "ADDRESS" => format!("+ADDRESS={}\r\n", s.address),
                "NETWORKID" => format!("+NETWORKID={}\r\n", s.network),
                "UID" => "+UID=000000000000000000000042\r\n".to_string(),
                "VER" => "+VER=RYLR998_EMULATOR_1.0\r\n".to_string(),
                _ => return err(4),
            }
            .into_bytes(),
        );
    }
    let (name, value) = body.split_once('=').unwrap_or((body, ""));
    let nums: Vec<Option<u32>> = value.split(',').map(|v| v.parse().ok()).collect();
    knobs.config_commands.fetch_add(1, Ordering::SeqCst);
    match name {
        "ADDRESS" => match nums.as_slice() {
            [Some(a)] if *a <= 65535 => {
                state.lock().unwrap().address = *a as u16;
                ok()
            }
            _ => err(4),
        },
        "NETWORKID" => match nums.as_slice() {
            [Some(n)] if (3..=15).contains(n) || *n == 18 => {
                state.lock().unwrap().network = *n as u8;
                ok()
            }
            _ => err(4),
        },
        "BAND" => match nums.as_slice() {
            [Some(_)] => ok(),
            _ => err(4),
        },
        "PARAMETER" => match nums.as_slice() {
            [Some(sf), Some(bw), Some(cr), Some(pre)] => {
                let max_sf = match bw {
                    7 => 9,
                    8 => 10,
                    9 => 11,
                    _ => return err(4),
                };
                if !(7..=max_sf).contains(sf) || !(1..=4).contains(cr) {
                    return err(4);
                }
                let net = state.lock().unwrap().network;
                if (net != 18 && *pre != 12) || !(4..=24).contains(pre) {
                    return err(18);
                }
                ok()
            }
            _ => err(4),
        },
        "CRFOP" => match nums.as_slice() {
            [Some(p)] if *p <= 22 => ok(),
            _ => err(4),
        },
        "CPIN" if value.len() == 8 && u32::from_str_radix(value, 16).is_ok() => ok(),
        "MODE" | "IPR" => ok(),
        "RESET" => Some(b"+RESET\r\n+READY\r\n".to_vec()),
        "FACTORY" => Some(b"+FACTORY\r\n".to_vec()),
        _ => err(4),
    }
}
