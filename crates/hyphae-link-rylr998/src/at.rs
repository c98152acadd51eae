//! The RYLR-998 AT command set and its responses: a pure codec, no I/O
//! (`docs/spec/rylr998.md` §1; REYAX AT command guide).

use core::fmt::Write as _;

use crate::airtime::Modem;

/// Operating mode (`AT+MODE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Transceiver (default).
    Transceiver,
    /// Sleep.
    Sleep,
    /// Smart receive: listen `rx_ms`, sleep `sleep_ms` (each 30..=60000).
    SmartReceive {
        /// Listening time in ms.
        rx_ms: u16,
        /// Sleeping time in ms.
        sleep_ms: u16,
    },
}

/// A setting that can be queried with `?`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Query {
    /// `AT+ADDRESS?`
    Address,
    /// `AT+NETWORKID?`
    NetworkId,
    /// `AT+BAND?`
    Band,
    /// `AT+PARAMETER?`
    Parameter,
    /// `AT+CPIN?`
    CPin,
    /// `AT+MODE?`
    Mode,
    /// `AT+IPR?`
    Ipr,
    /// `AT+CRFOP?`
    Crfop,
    /// `AT+UID?`
    Uid,
    /// `AT+VER?`
    Ver,
}

impl Query {
    fn name(self) -> &'static str {
        match self {
            Self::Address => "ADDRESS",
            Self::NetworkId => "NETWORKID",
            Self::Band => "BAND",
            Self::Parameter => "PARAMETER",
            Self::CPin => "CPIN",
            Self::Mode => "MODE",
            Self::Ipr => "IPR",
            Self::Crfop => "CRFOP",
            Self::Uid => "UID",
            Self::Ver => "VER",
        }
    }
}

/// A command to the module.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command<'a> {
    /// `AT`: test.
    At,
    /// `AT+SEND=<addr>,<len>,<data>` (0 = broadcast); `data` must hold no CR or LF.
    Send {
        /// Destination address.
        addr: u16,
        /// Encoded payload, at most 240 bytes.
        data: &'a [u8],
    },
    /// `AT+ADDRESS=<a>`.
    Address(u16),
    /// `AT+NETWORKID=<id>` (3..=15 or 18).
    NetworkId(u8),
    /// `AT+BAND=<Hz>`.
    Band(u32),
    /// `AT+PARAMETER=<SF>,<BW code>,<CR>,<preamble>`.
    Parameter(Modem),
    /// `AT+CPIN=<8 hex digits>`.
    CPin(u32),
    /// `AT+MODE=…`.
    Mode(Mode),
    /// `AT+IPR=<baud>`.
    Ipr(u32),
    /// `AT+CRFOP=<dBm>` (0..=22).
    Crfop(u8),
    /// `AT+RESET`.
    Reset,
    /// `AT+FACTORY`.
    Factory,
    /// A query, `AT+<NAME>?`.
    Query(Query),
}

/// Why a command could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmitError {
    /// The output buffer is too short.
    BufferTooShort,
    /// A field is outside the module's range.
    OutOfRange,
}

impl core::fmt::Display for EmitError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::BufferTooShort => "buffer too short for the command",
            Self::OutOfRange => "command field out of range",
        })
    }
}

impl core::error::Error for EmitError {}

struct Out<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl Out<'_> {
    fn bytes(&mut self, b: &[u8]) -> Result<(), EmitError> {
        let end = self.pos + b.len();
        self.buf
            .get_mut(self.pos..end)
            .ok_or(EmitError::BufferTooShort)?
            .copy_from_slice(b);
        self.pos = end;
        Ok(())
    }
}

impl core::fmt::Write for Out<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.bytes(s.as_bytes()).map_err(|_| core::fmt::Error)
    }
}

impl Command<'_> {
    /// Emit the command with its trailing `\r\n`; returns the length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, EmitError> {
        let mut o = Out { buf, pos: 0 };
        let w = |r: core::fmt::Result| r.map_err(|_| EmitError::BufferTooShort);
        match *self {
            Self::At => o.bytes(b"AT")?,
            Self::Send { addr, data } => {
                if data.len() > crate::encoding::MAX_DATAGRAM
                    || data.is_empty()
                    || data.contains(&b'\r')
                    || data.contains(&b'\n')
                {
                    return Err(EmitError::OutOfRange);
                }
                w(write!(o, "AT+SEND={addr},{},", data.len()))?;
                o.bytes(data)?;
            }
            Self::Address(a) => w(write!(o, "AT+ADDRESS={a}"))?,
            Self::NetworkId(n) => {
                if !((3..=15).contains(&n) || n == 18) {
                    return Err(EmitError::OutOfRange);
                }
                w(write!(o, "AT+NETWORKID={n}"))?;
            }
            Self::Band(hz) => w(write!(o, "AT+BAND={hz}"))?,
            Self::Parameter(m) => {
                let bw = m.bw_code().ok_or(EmitError::OutOfRange)?;
                w(write!(
                    o,
                    "AT+PARAMETER={},{bw},{},{}",
                    m.sf, m.cr, m.preamble
                ))?;
            }
            Self::CPin(pin) => {
                if pin == 0 {
                    return Err(EmitError::OutOfRange);
                }
                w(write!(o, "AT+CPIN={pin:08X}"))?;
            }
            Self::Mode(Mode::Transceiver) => o.bytes(b"AT+MODE=0")?,
            Self::Mode(Mode::Sleep) => o.bytes(b"AT+MODE=1")?,
            Self::Mode(Mode::SmartReceive { rx_ms, sleep_ms }) => {
                if !(30..=60_000).contains(&rx_ms) || !(30..=60_000).contains(&sleep_ms) {
                    return Err(EmitError::OutOfRange);
                }
                w(write!(o, "AT+MODE=2,{rx_ms},{sleep_ms}"))?;
            }
            Self::Ipr(baud) => w(write!(o, "AT+IPR={baud}"))?,
            Self::Crfop(dbm) => {
                if dbm > 22 {
                    return Err(EmitError::OutOfRange);
                }
                w(write!(o, "AT+CRFOP={dbm}"))?;
            }
            Self::Reset => o.bytes(b"AT+RESET")?,
            Self::Factory => o.bytes(b"AT+FACTORY")?,
            Self::Query(q) => w(write!(o, "AT+{}?", q.name()))?,
        }
        o.bytes(b"\r\n")?;
        Ok(o.pos)
    }
}

/// `+ERR=<n>` codes and what they mean.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    /// 1: missing `\r\n` at the end of the command.
    MissingCrlf,
    /// 2: command does not start with `AT`.
    NotAt,
    /// 4: unknown command or length mismatch.
    UnknownCommand,
    /// 5: data length does not match `<len>`.
    LengthMismatch,
    /// 10: transmission timed out.
    TxTimeout,
    /// 12: CRC error.
    Crc,
    /// 13: more than 240 bytes.
    TooLong,
    /// 14: flash write failed.
    Flash,
    /// 15: unknown error.
    Unknown,
    /// 17: the last transmission has not finished.
    Busy,
    /// 18: preamble value not allowed.
    Preamble,
    /// 19: receive header error.
    RxHeader,
    /// Any other number.
    Other(u16),
}

impl ErrorCode {
    /// The code for a number.
    pub fn from_number(n: u16) -> Self {
        match n {
            1 => Self::MissingCrlf,
            2 => Self::NotAt,
            4 => Self::UnknownCommand,
            5 => Self::LengthMismatch,
            10 => Self::TxTimeout,
            12 => Self::Crc,
            13 => Self::TooLong,
            14 => Self::Flash,
            15 => Self::Unknown,
            17 => Self::Busy,
            18 => Self::Preamble,
            19 => Self::RxHeader,
            n => Self::Other(n),
        }
    }

    /// The number on the wire.
    pub fn number(self) -> u16 {
        match self {
            Self::MissingCrlf => 1,
            Self::NotAt => 2,
            Self::UnknownCommand => 4,
            Self::LengthMismatch => 5,
            Self::TxTimeout => 10,
            Self::Crc => 12,
            Self::TooLong => 13,
            Self::Flash => 14,
            Self::Unknown => 15,
            Self::Busy => 17,
            Self::Preamble => 18,
            Self::RxHeader => 19,
            Self::Other(n) => n,
        }
    }

    /// Whether retrying the same command later may succeed.
    pub fn transient(self) -> bool {
        matches!(
            self,
            Self::Busy | Self::TxTimeout | Self::NotAt | Self::Unknown
        )
    }
}

impl core::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let text = match self {
            Self::MissingCrlf => "missing CR LF",
            Self::NotAt => "command does not start with AT",
            Self::UnknownCommand => "unknown command",
            Self::LengthMismatch => "data length mismatch",
            Self::TxTimeout => "TX timeout",
            Self::Crc => "CRC error",
            Self::TooLong => "TX data exceeds 240 bytes",
            Self::Flash => "flash write failed",
            Self::Unknown => "unknown error",
            Self::Busy => "last TX not finished",
            Self::Preamble => "preamble not allowed",
            Self::RxHeader => "RX header error",
            Self::Other(_) => "unlisted error",
        };
        write!(f, "+ERR={}: {text}", self.number())
    }
}

/// A line from the module (without its `\r\n`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response<'a> {
    /// `+OK`.
    Ok,
    /// `+ERR=<n>`.
    Err(ErrorCode),
    /// `+READY` after power-up or reset.
    Ready,
    /// `+RESET` acknowledging `AT+RESET`.
    Reset,
    /// `+FACTORY` acknowledging `AT+FACTORY`.
    Factory,
    /// `+RCV=<addr>,<len>,<data>,<rssi>,<snr>`.
    Rcv {
        /// Sender's address.
        addr: u16,
        /// The data (still encoded).
        data: &'a [u8],
        /// RSSI in dBm.
        rssi: i16,
        /// SNR in dB.
        snr: i8,
    },
    /// An answer to a query: `+<NAME>=<value>`.
    Value {
        /// The setting.
        query: Query,
        /// Its value as text.
        value: &'a str,
    },
}

/// Why a line is not a response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ParseError {
    /// Not a known response.
    Unknown,
    /// A known response with a malformed field.
    Malformed,
    /// `+RCV` whose data is shorter or longer than its length field.
    Length,
}

impl core::fmt::Display for ParseError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Unknown => "not a module response",
            Self::Malformed => "malformed response field",
            Self::Length => "+RCV data does not match its length",
        })
    }
}

impl core::error::Error for ParseError {}

fn num<T: core::str::FromStr>(b: &[u8]) -> Result<T, ParseError> {
    core::str::from_utf8(b)
        .ok()
        .filter(|s| !s.is_empty() && s.len() <= 11)
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError::Malformed)
}

fn split_num(b: &[u8]) -> Result<(&[u8], &[u8]), ParseError> {
    let i = b
        .iter()
        .position(|&c| c == b',')
        .ok_or(ParseError::Malformed)?;
    Ok((&b[..i], &b[i + 1..]))
}

/// Parse one line (a trailing `\r` is ignored). Never panics.
pub fn parse(line: &[u8]) -> Result<Response<'_>, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    match line {
        b"+OK" => return Ok(Response::Ok),
        b"+READY" => return Ok(Response::Ready),
        b"+RESET" => return Ok(Response::Reset),
        b"+FACTORY" => return Ok(Response::Factory),
        _ => {}
    }
    if let Some(rest) = line.strip_prefix(b"+ERR=") {
        return Ok(Response::Err(ErrorCode::from_number(num(rest)?)));
    }
    if let Some(rest) = line.strip_prefix(b"+RCV=") {
        let (addr, rest) = split_num(rest)?;
        let (len, rest) = split_num(rest)?;
        let len: usize = num(len)?;
        if len > crate::encoding::MAX_DATAGRAM {
            return Err(ParseError::Length);
        }
        let data = rest.get(..len).ok_or(ParseError::Length)?;
        let tail = rest[len..].strip_prefix(b",").ok_or(ParseError::Length)?;
        let (rssi, snr) = split_num(tail)?;
        return Ok(Response::Rcv {
            addr: num(addr)?,
            data,
            rssi: num(rssi)?,
            snr: num(snr)?,
        });
    }
    let rest = line.strip_prefix(b"+").ok_or(ParseError::Unknown)?;
    let eq = rest
        .iter()
        .position(|&c| c == b'=')
        .ok_or(ParseError::Unknown)?;
    let name = &rest[..eq];
    let value = core::str::from_utf8(&rest[eq + 1..]).map_err(|_| ParseError::Malformed)?;
    let query = [
        Query::Address,
        Query::NetworkId,
        Query::Band,
        Query::Parameter,
        Query::CPin,
        Query::Mode,
        Query::Ipr,
        Query::Crfop,
        Query::Uid,
        Query::Ver,
    ]
    .into_iter()
    .find(|q| q.name().as_bytes() == name)
    .ok_or(ParseError::Unknown)?;
    Ok(Response::Value { query, value })
}

/// Splits a byte stream into lines, with a bounded buffer: a line longer than `N` bytes is
/// discarded up to its end and counted.
#[derive(Debug)]
pub struct LineSplitter<const N: usize> {
    buf: heapless::Vec<u8, N>,
    overflow: bool,
    /// Lines discarded for being too long.
    pub overlong: u64,
}

impl<const N: usize> Default for LineSplitter<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> LineSplitter<N> {
    /// An empty splitter.
    pub const fn new() -> Self {
        Self {
            buf: heapless::Vec::new(),
            overflow: false,
            overlong: 0,
        }
    }

    /// Feed bytes; `on_line` gets every complete non-empty line without `\r\n`.
    pub fn feed(&mut self, data: &[u8], mut on_line: impl FnMut(&[u8])) {
        for &b in data {
            if b == b'\n' {
                if self.overflow {
                    self.overflow = false;
                    self.overlong += 1;
                } else {
                    let line = self.buf.strip_suffix(b"\r").unwrap_or(&self.buf);
                    if !line.is_empty() {
                        on_line(line);
                    }
                }
                self.buf.clear();
            } else if !self.overflow && self.buf.push(b).is_err() {
                self.overflow = true;
                self.buf.clear();
            }
        }
    }

    /// Forget a partial line (after a module reset).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.overflow = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn emit(c: Command<'_>) -> heapless::Vec<u8, 300> {
        let mut b = [0u8; 300];
        let n = c.emit(&mut b).unwrap();
        heapless::Vec::from_slice(&b[..n]).unwrap()
    }

    #[test]
    fn commands() {
        assert_eq!(&emit(Command::At)[..], b"AT\r\n");
        assert_eq!(
            &emit(Command::Send {
                addr: 5,
                data: b"a,b"
            })[..],
            b"AT+SEND=5,3,a,b\r\n"
        );
        assert_eq!(&emit(Command::Address(120))[..], b"AT+ADDRESS=120\r\n");
        assert_eq!(&emit(Command::NetworkId(18))[..], b"AT+NETWORKID=18\r\n");
        assert_eq!(
            &emit(Command::Band(868_500_000))[..],
            b"AT+BAND=868500000\r\n"
        );
        assert_eq!(
            &emit(Command::Parameter(Modem::default()))[..],
            b"AT+PARAMETER=9,7,1,12\r\n"
        );
        assert_eq!(
            &emit(Command::CPin(0xABCD_1234))[..],
            b"AT+CPIN=ABCD1234\r\n"
        );
        assert_eq!(
            &emit(Command::Mode(Mode::SmartReceive {
                rx_ms: 100,
                sleep_ms: 1000
            }))[..],
            b"AT+MODE=2,100,1000\r\n"
        );
        assert_eq!(&emit(Command::Ipr(115_200))[..], b"AT+IPR=115200\r\n");
        assert_eq!(&emit(Command::Crfop(22))[..], b"AT+CRFOP=22\r\n");
        assert_eq!(&emit(Command::Reset)[..], b"AT+RESET\r\n");
        assert_eq!(&emit(Command::Factory)[..], b"AT+FACTORY\r\n");
        assert_eq!(&emit(Command::Query(Query::Uid))[..], b"AT+UID?\r\n");
        let mut b = [0u8; 8];
        assert_eq!(
            Command::At.emit(&mut b[..3]),
            Err(EmitError::BufferTooShort)
        );
        assert_eq!(Command::Crfop(23).emit(&mut b), Err(EmitError::OutOfRange));
        assert_eq!(
            Command::NetworkId(16).emit(&mut b),
            Err(EmitError::OutOfRange)
        );
        assert_eq!(
            Command::Send {
                addr: 1,
                data: b"\n"
            }
            .emit(&mut [0; 32]),
            Err(EmitError::OutOfRange)
        );
    }

    #[test]
    fn responses() {
        assert_eq!(parse(b"+OK"), Ok(Response::Ok));
        assert_eq!(parse(b"+OK\r"), Ok(Response::Ok));
        assert_eq!(parse(b"+READY"), Ok(Response::Ready));
        assert_eq!(parse(b"+ERR=17"), Ok(Response::Err(ErrorCode::Busy)));
        assert_eq!(parse(b"+ERR=99"), Ok(Response::Err(ErrorCode::Other(99))));
        assert_eq!(
            parse(b"+RCV=50,5,HE,LO,-99,40"),
            Ok(Response::Rcv {
                addr: 50,
                data: b"HE,LO",
                rssi: -99,
                snr: 40
            })
        );
        assert_eq!(
            parse(b"+UID=104737333437353600170029"),
            Ok(Response::Value {
                query: Query::Uid,
                value: "104737333437353600170029"
            })
        );
        assert_eq!(parse(b"+VER=RYLR998_REYAX_V1.2.2").map(|_| ()), Ok(()));
        assert!(parse(b"+RCV=50,9,HELLO,-99,40").is_err());
        assert_eq!(parse(b"+RCV=50,2,HELLO,-99,40"), Err(ParseError::Length));
        assert_eq!(parse(b"+RCV=50,x,HELLO,-99,40"), Err(ParseError::Malformed));
        assert_eq!(parse(b"+RCV=70000,1,H,-99,40"), Err(ParseError::Malformed));
        assert_eq!(parse(b"+ERR="), Err(ParseError::Malformed));
        assert_eq!(parse(b"garbage"), Err(ParseError::Unknown));
        assert_eq!(parse(b"+FOO=1"), Err(ParseError::Unknown));
    }

    #[test]
    fn splitter_bounds_lines() {
        let mut s: LineSplitter<8> = LineSplitter::new();
        let mut lines: heapless::Vec<heapless::Vec<u8, 8>, 8> = heapless::Vec::new();
        s.feed(b"+OK\r\n+REA", |l| {
            lines.push(heapless::Vec::from_slice(l).unwrap()).unwrap()
        });
        s.feed(b"DY\r\nTHIS LINE IS TOO LONG\r\n\r\n+OK\n", |l| {
            lines.push(heapless::Vec::from_slice(l).unwrap()).unwrap()
        });
        assert_eq!(lines.len(), 3);
        assert_eq!(&lines[1][..], b"+READY");
        assert_eq!(s.overlong, 1);
    }

    proptest! {
        #[test]
        fn parse_never_panics(line in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&line);
        }

        #[test]
        fn rcv_round_trips(addr in any::<u16>(), data in prop::collection::vec(0x20u8..0xf5, 1..=240), rssi in -140i16..0, snr in -20i8..20) {
            let mut line = heapless::Vec::<u8, 300>::new();
            let mut head = heapless::String::<32>::new();
            write!(head, "+RCV={addr},{},", data.len()).unwrap();
            line.extend_from_slice(head.as_bytes()).unwrap();
            line.extend_from_slice(&data).unwrap();
            let mut tail = heapless::String::<16>::new();
            write!(tail, ",{rssi},{snr}").unwrap();
            line.extend_from_slice(tail.as_bytes()).unwrap();
            prop_assert_eq!(parse(&line), Ok(Response::Rcv { addr, data: &data, rssi, snr }));
        }
    }
}
