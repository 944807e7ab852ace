//! A round-robin TCP splitter for tests that put several collectors behind
//! one address: each new connection goes to the next upstream in turn.
//!
//! A plain byte relay (TLS passes through untouched, so agents check the
//! collectors' own certificate), like a layer-4 load balancer in front of
//! a collector fleet. It counts connections per upstream so a test can
//! show that every upstream took part.
//!
//! Threads, not tasks: tests drive it from synchronous code, and a
//! connection costs two short-lived threads, which is nothing at test
//! sizes.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A listening splitter; stops accepting and cuts the open relays when
/// dropped.
pub struct RoundRobin {
    /// Where clients connect (127.0.0.1, an ephemeral port).
    addr: SocketAddr,
    /// Shared with the accept thread.
    shared: Arc<Shared>,
    /// The accept loop, joined on drop.
    accept: Option<JoinHandle<()>>,
}

/// What the accept thread and the relays share with the handle.
struct Shared {
    upstreams: Vec<SocketAddr>,
    /// Connections handed to each upstream (index as in `upstreams`).
    connections: Vec<AtomicU64>,
    /// Connections whose upstream refused or was unreachable, per upstream.
    failed: Vec<AtomicU64>,
    /// The next upstream's index (modulo their number).
    next: AtomicUsize,
    stop: AtomicBool,
    /// Both ends of each open relay (by connection number), shut down on
    /// drop so no relay thread outlives the test; a relay removes its own
    /// when both directions are done.
    open: Mutex<HashMap<usize, [TcpStream; 2]>>,
}

// === impl RoundRobin ===

impl RoundRobin {
    /// Listens on 127.0.0.1 (a free port) and splits over `upstreams`.
    pub fn start(upstreams: &[SocketAddr]) -> Self {
        assert!(!upstreams.is_empty(), "a round-robin needs an upstream");
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("the listener's address");
        let shared = Arc::new(Shared {
            upstreams: upstreams.to_vec(),
            connections: upstreams.iter().map(|_| AtomicU64::new(0)).collect(),
            failed: upstreams.iter().map(|_| AtomicU64::new(0)).collect(),
            next: AtomicUsize::new(0),
            stop: AtomicBool::new(false),
            open: Mutex::new(HashMap::new()),
        });
        let s = Arc::clone(&shared);
        let accept = std::thread::Builder::new()
            .name("roundrobin-accept".into())
            .spawn(move || accept_loop(&listener, &s))
            .expect("spawn the accept thread");
        Self {
            addr,
            shared,
            accept: Some(accept),
        }
    }

    /// Where clients connect.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Connections handed to each upstream so far, in `upstreams` order.
    pub fn connections(&self) -> Vec<u64> {
        load_all(&self.shared.connections)
    }

    /// Connections each upstream did not accept, in `upstreams` order.
    pub fn failed(&self) -> Vec<u64> {
        load_all(&self.shared.failed)
    }
}

impl Drop for RoundRobin {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept() so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        let open = std::mem::take(&mut *lock(&self.shared.open));
        for s in open.values().flatten() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

fn load_all(counters: &[AtomicU64]) -> Vec<u64> {
    counters.iter().map(|c| c.load(Ordering::SeqCst)).collect()
}

fn lock(
    open: &Mutex<HashMap<usize, [TcpStream; 2]>>,
) -> std::sync::MutexGuard<'_, HashMap<usize, [TcpStream; 2]>> {
    // A relay thread never panics while holding it; if one did, the list
    // is still a list of sockets to shut down.
    open.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn accept_loop(listener: &TcpListener, shared: &Arc<Shared>) {
    for client in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let n = shared.next.fetch_add(1, Ordering::SeqCst);
        let i = n % shared.upstreams.len();
        shared.connections[i].fetch_add(1, Ordering::SeqCst);
        let upstream =
            match TcpStream::connect_timeout(&shared.upstreams[i], Duration::from_secs(5)) {
                Ok(u) => u,
                Err(_) => {
                    // As a load balancer with a dead backend: the client's
                    // connection closes, it retries.
                    shared.failed[i].fetch_add(1, Ordering::SeqCst);
                    continue;
                }
            };
        if let (Ok(c), Ok(u)) = (client.try_clone(), upstream.try_clone()) {
            lock(&shared.open).insert(n, [c, u]);
        }
        let _ = client.set_nodelay(true);
        let _ = upstream.set_nodelay(true);
        let s = Arc::clone(shared);
        let spawned = std::thread::Builder::new()
            .name("roundrobin-relay".into())
            .spawn(move || {
                relay(client, upstream);
                lock(&s.open).remove(&n);
            });
        if spawned.is_err() {
            // Out of threads: close this connection, the client retries.
            lock(&shared.open).remove(&n);
        }
    }
}

/// Copies both ways until each side has closed its half.
fn relay(client: TcpStream, upstream: TcpStream) {
    let (Ok(client_r), Ok(upstream_w)) = (client.try_clone(), upstream.try_clone()) else {
        return;
    };
    let back = std::thread::Builder::new()
        .name("roundrobin-relay-back".into())
        .spawn(move || pipe(upstream, client));
    pipe(client_r, upstream_w);
    if let Ok(back) = back {
        let _ = back.join();
    }
}

/// `from` → `to` until `from` ends, then half-closes `to`.
fn pipe(mut from: TcpStream, mut to: TcpStream) {
    let _ = copy(&mut from, &mut to);
    let _ = to.shutdown(Shutdown::Write);
}

fn copy(from: &mut TcpStream, to: &mut TcpStream) -> io::Result<()> {
    let mut buf = [0u8; 16 * 1024];
    loop {
        let n = from.read(&mut buf)?;
        if n == 0 {
            return Ok(());
        }
        to.write_all(&buf[..n])?;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An upstream that answers every connection with its `tag` byte and
    /// then echoes what it reads until the client half-closes.
    fn upstream(tag: u8) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        std::thread::spawn(move || {
            for s in l.incoming() {
                let Ok(mut s) = s else { return };
                std::thread::spawn(move || {
                    s.write_all(&[tag]).unwrap();
                    let mut r = s.try_clone().unwrap();
                    let _ = io::copy(&mut r, &mut s);
                    let _ = s.shutdown(Shutdown::Write);
                });
            }
        });
        addr
    }

    #[test]
    fn connections_take_turns_and_bytes_pass_both_ways() {
        let ups = [upstream(b'a'), upstream(b'b'), upstream(b'c')];
        let rr = RoundRobin::start(&ups);
        // More than one buffer, so the relay loops.
        let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
        let mut tags = Vec::new();
        for _ in 0..7 {
            let mut s = TcpStream::connect(rr.addr()).unwrap();
            s.write_all(&payload).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            let mut got = Vec::new();
            s.read_to_end(&mut got).unwrap();
            tags.push(got[0]);
            assert_eq!(&got[1..], &payload[..], "echoed through the relay");
        }
        assert_eq!(tags, b"abcabca");
        assert_eq!(rr.connections(), [3, 2, 2]);
        assert_eq!(rr.failed(), [0, 0, 0]);
    }

    #[test]
    fn a_dead_upstream_closes_the_client_and_is_counted() {
        let dead = {
            let l = TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap()
        };
        let rr = RoundRobin::start(&[upstream(b'a'), dead]);
        let mut first = TcpStream::connect(rr.addr()).unwrap();
        let mut tag = [0u8; 1];
        first.read_exact(&mut tag).unwrap();
        assert_eq!(&tag, b"a");
        let mut second = TcpStream::connect(rr.addr()).unwrap();
        let mut rest = Vec::new();
        second.read_to_end(&mut rest).unwrap();
        assert!(rest.is_empty(), "nothing relayed from a dead upstream");
        assert_eq!(rr.connections(), [1, 1]);
        assert_eq!(rr.failed(), [0, 1]);
    }
}
