//! Blobs larger than a node's memory, through a storage trait (hosts).
//!
//! The sequencer carries one transfer of at most `Config::max_transfer` bytes out of the node's
//! own arenas. A [`Blobs`] layer above it carries blobs of up to 4 GiB by cutting them into
//! chunks that are ordinary transfers of a dedicated application ([`APP_NAME`]), reading the
//! outgoing bytes from and writing the incoming bytes to a caller-provided [`BlobStore`] (files
//! on a host). Nothing here allocates; the node still bounds every chunk.
//!
//! - **Admission.** A receiver admits a blob only up to its configured maximum and while the
//!   store accepts it; otherwise it answers `Reject` and the sender's blob fails `Rejected` or
//!   `TooLarge`.
//! - **Exactly once.** Chunks are idempotent (a chunk the store already has is not written
//!   again); the blob is reported once, when the store holds every chunk.
//! - **Resumable.** [`Blobs::resume`] first asks the receiver which chunks it already holds
//!   (`Query` → `Have` with a bitmap) and sends only the rest, so a blob interrupted by a
//!   restart of either end continues where it stopped, as long as the receiver's store kept the
//!   chunks.
//!
//! Wire format (`docs/spec/transport.md` §9), every message a payload of [`APP_NAME`]:
//!
//! ```text
//! 'C' 1 | app u16 | blob u32 | index u32 | count u32 | len u32 | chunk bytes   (20-byte header)
//! 'R' 1 | blob u32 | reason u8                                                  (reject)
//! 'Q' 1 | blob u32 | len u32 | count u32                                        (query)
//! 'H' 1 | blob u32 | bitmap (count bits, LSB first)                             (have)
//! ```
//!
//! Chunk `i` of a blob of `len` bytes in `count` chunks covers bytes
//! `[i·c, min(len, (i+1)·c))` with `c = ⌈len / count⌉`; a receiver rejects any chunk whose
//! length does not match.

use crate::event::FailReason;
use crate::time::Instant;
use crate::{AppId, Node, NodeId, SendError, SendId};

/// The application name blob chunks travel under.
pub const APP_NAME: &str = "hyphae/blob";
/// Bytes of a chunk header.
pub const CHUNK_HEADER_LEN: usize = 20;
/// Most chunks per blob (the `Have` bitmap must fit one transfer).
pub const MAX_CHUNKS: u32 = 65_536;
/// Protocol version.
const VERSION: u8 = 1;

/// Blobs in flight per direction.
pub const MAX_BLOBS: usize = 8;
/// Chunk sends in flight at once (over all outgoing blobs).
pub const WINDOW: usize = 4;
/// Replies waiting to be sent.
const REPLIES: usize = 8;
/// Events waiting for the shell.
const EVENTS: usize = 16;
/// A blob whose chunks fail this many times in total fails.
const CHUNK_RETRIES: u8 = 8;
/// A resume query unanswered this long falls back to sending every chunk.
const QUERY_WAIT: core::time::Duration = core::time::Duration::from_secs(30);
/// An incoming blob idle this long is forgotten (its store keeps the chunks for a resume).
const IDLE: core::time::Duration = core::time::Duration::from_secs(600);

/// Why a store refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StoreError {
    /// No room (disk full, quota).
    Full,
    /// No such blob.
    Unknown,
    /// The medium failed.
    Io,
}

impl core::fmt::Display for StoreError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Full => "store full",
            Self::Unknown => "no such blob",
            Self::Io => "storage I/O error",
        })
    }
}

impl core::error::Error for StoreError {}

/// Where blob bytes live: the shell's files (hosts), flash, or memory in tests.
pub trait BlobStore {
    /// Read bytes of the outgoing blob `blob` at `offset` into `buf`; the number read.
    fn read(&mut self, blob: u32, offset: u64, buf: &mut [u8]) -> Result<usize, StoreError>;
    /// Prepare for an incoming blob (idempotent: an existing partial blob is kept).
    fn begin(&mut self, from: NodeId, blob: u32, len: u64, count: u32) -> Result<(), StoreError>;
    /// Whether chunk `index` of an incoming blob is stored.
    fn has(&self, from: NodeId, blob: u32, index: u32) -> bool;
    /// Store chunk `index` (at byte `offset`).
    fn write(
        &mut self,
        from: NodeId,
        blob: u32,
        index: u32,
        offset: u64,
        data: &[u8],
    ) -> Result<(), StoreError>;
    /// Every chunk is stored: make the blob available to the application.
    fn finish(&mut self, from: NodeId, blob: u32) -> Result<(), StoreError>;
}

/// What the blob layer tells the shell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobEvent {
    /// An outgoing blob was received whole by its destination.
    Sent {
        /// The blob.
        blob: u32,
        /// Its destination.
        to: NodeId,
    },
    /// An outgoing blob failed; nothing more will happen to it.
    Failed {
        /// The blob.
        blob: u32,
        /// Its destination.
        to: NodeId,
        /// Why.
        reason: FailReason,
    },
    /// An incoming blob is complete in the store.
    Received {
        /// The sender.
        from: NodeId,
        /// The sender's blob id.
        blob: u32,
        /// The application it is for.
        app: AppId,
        /// Its length.
        len: u64,
    },
}

/// Why `send` or `resume` refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlobError {
    /// Empty, longer than 4 GiB or needing more than [`MAX_CHUNKS`] chunks.
    TooLarge,
    /// [`MAX_BLOBS`] outgoing blobs already, or this blob id to this node is in flight.
    Busy,
}

impl core::fmt::Display for BlobError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::TooLarge => "blob too large",
            Self::Busy => "too many blobs in flight",
        })
    }
}

impl core::error::Error for BlobError {}

/// Counters of the blob layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BlobCounters {
    /// Chunks sent (first attempts and retries).
    pub chunks_sent: u64,
    /// Chunks sent again after a failure.
    pub chunk_retries: u64,
    /// Chunks stored.
    pub chunks_stored: u64,
    /// Chunks received that the store already had.
    pub chunks_duplicate: u64,
    /// Chunks skipped on resume because the receiver had them.
    pub chunks_skipped: u64,
    /// Messages that did not parse or did not fit their blob.
    pub malformed: u64,
    /// Blobs rejected (too large, too many, store refused).
    pub rejected: u64,
}

#[derive(Debug, Clone)]
struct OutBlob {
    to: NodeId,
    app: AppId,
    blob: u32,
    len: u64,
    count: u32,
    /// Next chunk index not yet sent.
    next: u32,
    /// Chunks acknowledged.
    done: u32,
    /// Waiting for a `Have` before sending (since when, once the query is out).
    querying: bool,
    queried_at: Option<Instant>,
    /// Chunks that failed and go again before `next`.
    again: heapless::Vec<u32, WINDOW>,
    retries: u8,
}

#[derive(Debug, Clone, Copy)]
struct InBlob {
    from: NodeId,
    blob: u32,
    app: AppId,
    len: u64,
    count: u32,
    stored: u32,
    last: Instant,
}

#[derive(Debug, Clone, Copy)]
struct Flight {
    send: SendId,
    to: NodeId,
    blob: u32,
    index: u32,
    /// A control message (query/reply), not a chunk.
    control: bool,
}

#[derive(Debug, Clone, Copy)]
enum Reply {
    Reject { to: NodeId, blob: u32, reason: u8 },
    Have { to: NodeId, blob: u32, count: u32 },
}

/// The blob layer of one node. Drive it from the shell: [`Blobs::on_delivery`] for payloads of
/// the [`APP_NAME`] application, [`Blobs::on_send_outcome`] for its `SendDone` / `SendFailed`,
/// then [`Blobs::pump`] to send what the window allows.
#[derive(Debug)]
pub struct Blobs {
    app: AppId,
    chunk: usize,
    max_blob: u64,
    out: heapless::Vec<OutBlob, MAX_BLOBS>,
    inb: heapless::Vec<InBlob, MAX_BLOBS>,
    flights: heapless::Vec<Flight, { WINDOW + REPLIES }>,
    replies: heapless::Deque<Reply, REPLIES>,
    events: heapless::Deque<BlobEvent, EVENTS>,
    counters: BlobCounters,
}

const REASON_TOO_LARGE: u8 = 1;
const REASON_BUSY: u8 = 2;
const REASON_STORE: u8 = 3;

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

impl Blobs {
    /// A blob layer whose chunks travel under `app` (the id the node gave [`APP_NAME`]),
    /// carrying at most `chunk` bytes each (at most the node's `max_transfer` minus
    /// [`CHUNK_HEADER_LEN`]), admitting incoming blobs up to `max_blob` bytes.
    pub fn new(app: AppId, chunk: usize, max_blob: u64) -> Self {
        Self {
            app,
            chunk: chunk.max(1),
            max_blob,
            out: heapless::Vec::new(),
            inb: heapless::Vec::new(),
            flights: heapless::Vec::new(),
            replies: heapless::Deque::new(),
            events: heapless::Deque::new(),
            counters: BlobCounters::default(),
        }
    }

    /// Counters.
    pub fn counters(&self) -> &BlobCounters {
        &self.counters
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<BlobEvent> {
        self.events.pop_front()
    }

    fn event(&mut self, e: BlobEvent) {
        if self.events.is_full() {
            self.events.pop_front();
        }
        let _ = self.events.push_back(e);
    }

    /// Start sending the store's blob `blob` (`len` bytes) to `to`, for application `app` there.
    pub fn send(&mut self, to: NodeId, app: AppId, blob: u32, len: u64) -> Result<(), BlobError> {
        self.start(to, app, blob, len, false)
    }

    /// Like [`Blobs::send`], but first ask the receiver which chunks it already holds and
    /// send only the missing ones (after a restart of either side).
    pub fn resume(&mut self, to: NodeId, app: AppId, blob: u32, len: u64) -> Result<(), BlobError> {
        self.start(to, app, blob, len, true)
    }

    fn start(
        &mut self,
        to: NodeId,
        app: AppId,
        blob: u32,
        len: u64,
        query: bool,
    ) -> Result<(), BlobError> {
        if len == 0 || len > u64::from(u32::MAX) {
            return Err(BlobError::TooLarge);
        }
        let count = len.div_ceil(self.chunk as u64);
        if count > u64::from(MAX_CHUNKS) {
            return Err(BlobError::TooLarge);
        }
        if self.out.iter().any(|o| o.to == to && o.blob == blob) {
            return Err(BlobError::Busy);
        }
        self.out
            .push(OutBlob {
                to,
                app,
                blob,
                len,
                count: count as u32,
                next: 0,
                done: 0,
                querying: query,
                queried_at: None,
                again: heapless::Vec::new(),
                retries: 0,
            })
            .map_err(|_| BlobError::Busy)
    }

    /// Chunk length of a blob: `⌈len / count⌉`.
    fn chunk_len(len: u64, count: u32) -> u64 {
        len.div_ceil(u64::from(count.max(1)))
    }

    /// Send replies and as many chunks as the window allows. `scratch` must hold a chunk and
    /// its header (`chunk + CHUNK_HEADER_LEN` bytes; the bitmap of a `Have` needs
    /// `5 + count / 8`).
    pub fn pump<
        const P: usize,
        const T: usize,
        const IN: usize,
        const OUT: usize,
        const M: usize,
    >(
        &mut self,
        node: &mut Node<P, T, IN, OUT, M>,
        now: Instant,
        store: &mut impl BlobStore,
        scratch: &mut [u8],
    ) {
        self.inb.retain(|b| now.saturating_since(b.last) < IDLE);
        for o in self.out.iter_mut() {
            if o.querying
                && o.queried_at
                    .is_some_and(|t| now.saturating_since(t) >= QUERY_WAIT)
            {
                // No answer: send everything (the receiver skips what it has).
                o.querying = false;
            }
        }
        while let Some(r) = self.replies.front().copied() {
            if self.flights.is_full() {
                return;
            }
            let (to, n) = match r {
                Reply::Reject { to, blob, reason } => {
                    let Some(b) = scratch.get_mut(..7) else {
                        return;
                    };
                    b[0] = b'R';
                    b[1] = VERSION;
                    b[2..6].copy_from_slice(&blob.to_le_bytes());
                    b[6] = reason;
                    (to, 7)
                }
                Reply::Have { to, blob, count } => {
                    let n = 6 + (count as usize).div_ceil(8);
                    let Some(b) = scratch.get_mut(..n) else {
                        return;
                    };
                    b.fill(0);
                    b[0] = b'H';
                    b[1] = VERSION;
                    b[2..6].copy_from_slice(&blob.to_le_bytes());
                    for i in 0..count {
                        if store.has(to, blob, i) {
                            b[6 + (i / 8) as usize] |= 1 << (i % 8);
                        }
                    }
                    (to, n)
                }
            };
            match node.send(now, self.app, to, &scratch[..n]) {
                Ok(send) => {
                    self.replies.pop_front();
                    let _ = self.flights.push(Flight {
                        send,
                        to,
                        blob: 0,
                        index: 0,
                        control: true,
                    });
                }
                Err(SendError::Busy) => return,
                Err(_) => {
                    self.replies.pop_front();
                }
            }
        }
        let mut k = 0;
        while k < self.out.len() {
            if self.flights.len() >= WINDOW {
                return;
            }
            let o = self.out[k].clone();
            if o.querying {
                // Ask once; `querying` stays set until the `Have` arrives.
                if o.queried_at.is_none() {
                    let Some(b) = scratch.get_mut(..14) else {
                        return;
                    };
                    b[0] = b'Q';
                    b[1] = VERSION;
                    b[2..6].copy_from_slice(&o.blob.to_le_bytes());
                    b[6..10].copy_from_slice(&(o.len as u32).to_le_bytes());
                    b[10..14].copy_from_slice(&o.count.to_le_bytes());
                    match node.send(now, self.app, o.to, &scratch[..14]) {
                        Ok(send) => {
                            let _ = self.flights.push(Flight {
                                send,
                                to: o.to,
                                blob: o.blob,
                                index: u32::MAX,
                                control: true,
                            });
                            self.out[k].queried_at = Some(now);
                        }
                        Err(SendError::Busy) => return,
                        Err(_) => {
                            self.fail(k, FailReason::Unreachable);
                            continue;
                        }
                    }
                }
                k += 1;
                continue;
            }
            let index = match o.again.first() {
                Some(&i) => i,
                None if o.next < o.count => o.next,
                None => {
                    k += 1;
                    continue;
                }
            };
            let c = Self::chunk_len(o.len, o.count);
            let offset = u64::from(index) * c;
            let n = (o.len - offset).min(c) as usize;
            let Some(buf) = scratch.get_mut(..CHUNK_HEADER_LEN + n) else {
                return;
            };
            match store.read(o.blob, offset, &mut buf[CHUNK_HEADER_LEN..]) {
                Ok(r) if r == n => {}
                _ => {
                    self.fail(k, FailReason::Rejected);
                    continue;
                }
            }
            buf[0] = b'C';
            buf[1] = VERSION;
            buf[2..4].copy_from_slice(&o.app.0.to_le_bytes());
            buf[4..8].copy_from_slice(&o.blob.to_le_bytes());
            buf[8..12].copy_from_slice(&index.to_le_bytes());
            buf[12..16].copy_from_slice(&o.count.to_le_bytes());
            buf[16..20].copy_from_slice(&(o.len as u32).to_le_bytes());
            match node.send(now, self.app, o.to, buf) {
                Ok(send) => {
                    self.counters.chunks_sent += 1;
                    let _ = self.flights.push(Flight {
                        send,
                        to: o.to,
                        blob: o.blob,
                        index,
                        control: false,
                    });
                    if o.again.first() == Some(&index) {
                        self.out[k].again.remove(0);
                    } else {
                        self.out[k].next += 1;
                    }
                }
                Err(SendError::Busy) => return,
                Err(SendError::TooLarge) => {
                    self.fail(k, FailReason::TooLarge);
                    continue;
                }
                Err(_) => {
                    self.fail(k, FailReason::Unreachable);
                    continue;
                }
            }
        }
    }

    fn fail(&mut self, k: usize, reason: FailReason) {
        let o = self.out.swap_remove(k);
        self.flights
            .retain(|f| !(f.to == o.to && f.blob == o.blob && !f.control));
        self.event(BlobEvent::Failed {
            blob: o.blob,
            to: o.to,
            reason,
        });
    }

    /// The outcome of a send of the blob application: `None` for `SendDone`, the reason for
    /// `SendFailed`. Returns `false` when the send was not the blob layer's.
    pub fn on_send_outcome(&mut self, send: SendId, failed: Option<FailReason>) -> bool {
        let Some(pos) = self.flights.iter().position(|f| f.send == send) else {
            return false;
        };
        let f = self.flights.swap_remove(pos);
        if f.control {
            if let (Some(reason), true) = (failed, f.index == u32::MAX) {
                // The query could not be delivered: the blob fails.
                if let Some(k) = self
                    .out
                    .iter()
                    .position(|o| o.to == f.to && o.blob == f.blob)
                {
                    self.fail(k, reason);
                }
            }
            return true;
        }
        let Some(k) = self
            .out
            .iter()
            .position(|o| o.to == f.to && o.blob == f.blob)
        else {
            return true;
        };
        match failed {
            None => {
                self.out[k].done += 1;
                if self.out[k].done >= self.out[k].count {
                    let o = self.out.swap_remove(k);
                    self.event(BlobEvent::Sent {
                        blob: o.blob,
                        to: o.to,
                    });
                }
            }
            Some(FailReason::TooLarge | FailReason::Rejected | FailReason::NoSuchApplication) => {
                self.fail(k, failed.unwrap_or(FailReason::Rejected));
            }
            Some(reason) => {
                let o = &mut self.out[k];
                if o.retries >= CHUNK_RETRIES || o.again.push(f.index).is_err() {
                    self.fail(k, reason);
                } else {
                    // This chunk goes again, ahead of new ones.
                    o.retries += 1;
                    self.counters.chunk_retries += 1;
                }
            }
        }
        true
    }

    /// A payload delivered to the blob application by `from`.
    pub fn on_delivery(
        &mut self,
        now: Instant,
        from: NodeId,
        bytes: &[u8],
        store: &mut impl BlobStore,
    ) {
        if bytes.len() < 6 || bytes[1] != VERSION {
            self.counters.malformed += 1;
            return;
        }
        let Some(blob) = u32_at(bytes, 2) else {
            self.counters.malformed += 1;
            return;
        };
        match bytes[0] {
            b'C' => self.on_chunk(now, from, bytes, store),
            b'R' => {
                let reason = match bytes.get(6) {
                    Some(&REASON_TOO_LARGE) => FailReason::TooLarge,
                    Some(&REASON_BUSY) => FailReason::Busy,
                    _ => FailReason::Rejected,
                };
                if let Some(k) = self.out.iter().position(|o| o.to == from && o.blob == blob) {
                    self.fail(k, reason);
                }
            }
            b'Q' => {
                let (Some(len), Some(count)) = (u32_at(bytes, 6), u32_at(bytes, 10)) else {
                    self.counters.malformed += 1;
                    return;
                };
                if self.admit(now, from, blob, AppId(0), u64::from(len), count, store) {
                    self.reply(Reply::Have {
                        to: from,
                        blob,
                        count,
                    });
                }
            }
            b'H' => {
                let Some(k) = self.out.iter().position(|o| o.to == from && o.blob == blob) else {
                    return;
                };
                let o = &mut self.out[k];
                if !o.querying {
                    return;
                }
                let map = &bytes[6..];
                if map.len() != (o.count as usize).div_ceil(8) {
                    self.counters.malformed += 1;
                    return;
                }
                // Send from the first missing chunk (later ones the receiver has are skipped
                // by it as duplicates).
                let have = |i: u32| map[(i / 8) as usize] & (1 << (i % 8)) != 0;
                let first = (0..o.count).find(|&i| !have(i)).unwrap_or(o.count);
                o.querying = false;
                o.next = first;
                o.done = first;
                self.counters.chunks_skipped += u64::from(first);
                if o.done >= o.count {
                    let o = self.out.swap_remove(k);
                    self.event(BlobEvent::Sent {
                        blob: o.blob,
                        to: o.to,
                    });
                }
            }
            _ => self.counters.malformed += 1,
        }
    }

    fn reply(&mut self, r: Reply) {
        if self.replies.push_back(r).is_err() {
            self.counters.malformed += 1;
        }
    }

    /// Admit (or find) an incoming blob; `false` after queueing a rejection.
    #[allow(clippy::too_many_arguments)]
    fn admit(
        &mut self,
        now: Instant,
        from: NodeId,
        blob: u32,
        app: AppId,
        len: u64,
        count: u32,
        store: &mut impl BlobStore,
    ) -> bool {
        if let Some(b) = self
            .inb
            .iter_mut()
            .find(|b| b.from == from && b.blob == blob)
        {
            if b.len != len || b.count != count {
                self.counters.malformed += 1;
                return false;
            }
            if b.app.0 == 0 {
                b.app = app;
            }
            b.last = now;
            return true;
        }
        let reason = if len == 0
            || len > self.max_blob
            || count == 0
            || count > MAX_CHUNKS
            || u64::from(count) > len
        {
            Some(REASON_TOO_LARGE)
        } else if self.inb.is_full() {
            Some(REASON_BUSY)
        } else if store.begin(from, blob, len, count).is_err() {
            Some(REASON_STORE)
        } else {
            None
        };
        if let Some(reason) = reason {
            self.counters.rejected += 1;
            self.reply(Reply::Reject {
                to: from,
                blob,
                reason,
            });
            return false;
        }
        let stored = (0..count).filter(|&i| store.has(from, blob, i)).count() as u32;
        let _ = self.inb.push(InBlob {
            from,
            blob,
            app,
            len,
            count,
            stored,
            last: now,
        });
        true
    }

    fn on_chunk(&mut self, now: Instant, from: NodeId, bytes: &[u8], store: &mut impl BlobStore) {
        if bytes.len() < CHUNK_HEADER_LEN {
            self.counters.malformed += 1;
            return;
        }
        let app = AppId(u16::from_le_bytes([bytes[2], bytes[3]]));
        let (Some(blob), Some(index), Some(count), Some(len)) = (
            u32_at(bytes, 4),
            u32_at(bytes, 8),
            u32_at(bytes, 12),
            u32_at(bytes, 16),
        ) else {
            self.counters.malformed += 1;
            return;
        };
        let len = u64::from(len);
        if !self.admit(now, from, blob, app, len, count, store) {
            return;
        }
        let c = Self::chunk_len(len, count);
        let offset = u64::from(index) * c;
        let data = &bytes[CHUNK_HEADER_LEN..];
        if index >= count || offset >= len || data.len() as u64 != (len - offset).min(c) {
            self.counters.malformed += 1;
            return;
        }
        if store.has(from, blob, index) {
            self.counters.chunks_duplicate += 1;
            return;
        }
        if store.write(from, blob, index, offset, data).is_err() {
            self.counters.rejected += 1;
            return;
        }
        self.counters.chunks_stored += 1;
        let Some(k) = self
            .inb
            .iter()
            .position(|b| b.from == from && b.blob == blob)
        else {
            return;
        };
        self.inb[k].stored += 1;
        if self.inb[k].stored >= self.inb[k].count {
            let b = self.inb.swap_remove(k);
            if store.finish(from, blob).is_ok() {
                self.event(BlobEvent::Received {
                    from,
                    blob,
                    app: b.app,
                    len: b.len,
                });
            }
        }
    }
}
