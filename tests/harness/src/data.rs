//! Seeded random byte streams for the data-path tests, and the transfer
//! that pushes one through an echo path and checks it byte-exact.
//!
//! The stream is cut from an 8 MiB pool of random bytes at random offsets
//! (a splitmix64 sequence per seed), so it never repeats in a way that would
//! hide a lost, duplicated or reordered chunk, yet costs one memcpy per chunk
//! even in a debug build. Both sides hash with SHA-256 as the bytes go by;
//! nothing holds more than one chunk in memory.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const POOL: usize = 8 << 20;
pub const CHUNK: usize = 64 * 1024;

fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn pool() -> &'static [u8] {
    static POOL_BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    POOL_BYTES.get_or_init(|| {
        let mut state = 0x5eed_u64;
        let mut v = Vec::with_capacity(POOL);
        while v.len() < POOL {
            v.extend_from_slice(&splitmix(&mut state).to_le_bytes());
        }
        v
    })
}

/// `len` pseudo-random bytes determined by `seed`.
pub struct RandomStream {
    state: u64,
    left: u64,
}

impl RandomStream {
    pub fn new(seed: u64, len: u64) -> RandomStream {
        RandomStream {
            state: seed,
            left: len,
        }
    }

    /// The next chunk (empty at the end).
    pub fn next_chunk(&mut self) -> &'static [u8] {
        let n = (self.left as usize).min(CHUNK);
        self.left -= n as u64;
        let offset = (splitmix(&mut self.state) as usize) % (POOL - CHUNK);
        &pool()[offset..offset + n]
    }
}

/// What one transfer moved and how long it took.
#[derive(Debug)]
pub struct Transfer {
    pub sent: u64,
    pub received: u64,
    pub sent_hash: [u8; 32],
    pub received_hash: [u8; 32],
    pub elapsed: Duration,
}

impl Transfer {
    pub fn assert_exact(&self, what: &str) {
        assert_eq!(self.received, self.sent, "{what}: byte count differs");
        assert_eq!(
            self.received_hash, self.sent_hash,
            "{what}: SHA-256 differs"
        );
    }
}

/// Writes `len` bytes of `seed`'s stream into `stream` (then half-closes)
/// while reading everything that comes back until EOF; both hashed.
/// Gives up (panics) after `within`.
pub async fn echo_transfer(stream: TcpStream, seed: u64, len: u64, within: Duration) -> Transfer {
    let started = Instant::now();
    let (mut rd, mut wr) = stream.into_split();
    let writer = async move {
        let mut source = RandomStream::new(seed, len);
        let mut hash = Sha256::new();
        let mut sent = 0u64;
        loop {
            let chunk = source.next_chunk();
            if chunk.is_empty() {
                break;
            }
            hash.update(chunk);
            wr.write_all(chunk).await.expect("write to proxy");
            sent += chunk.len() as u64;
        }
        wr.shutdown().await.expect("half-close");
        (sent, <[u8; 32]>::from(hash.finalize()))
    };
    let reader = async move {
        let mut buf = vec![0u8; CHUNK];
        let mut hash = Sha256::new();
        let mut received = 0u64;
        loop {
            let n = rd.read(&mut buf).await.expect("read from proxy");
            if n == 0 {
                break;
            }
            hash.update(&buf[..n]);
            received += n as u64;
        }
        (received, <[u8; 32]>::from(hash.finalize()))
    };
    let both = async { tokio::join!(tokio::spawn(writer), tokio::spawn(reader)) };
    let (w, r) = tokio::time::timeout(within, both)
        .await
        .unwrap_or_else(|_| panic!("transfer of {len} bytes did not finish within {within:?}"));
    let ((sent, sent_hash), (received, received_hash)) = (w.unwrap(), r.unwrap());
    Transfer {
        sent,
        received,
        sent_hash,
        received_hash,
        elapsed: started.elapsed(),
    }
}
