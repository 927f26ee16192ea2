//! A counting TCP proxy between the operator process and the sandbox API server: the operator's
//! kubeconfig points here, so everything it sends and receives crosses this proxy unchanged.
//!
//! What it records, from the wire (plain HTTP/1.1 on loopback):
//! * every request the operator sends (arrival time, method, path, query), parsed from the
//!   request line and `Content-Length`, which gives request *times* the API server's access log
//!   does not keep (rates, "first GET of each Secret after a restart");
//! * the bytes the operator receives;
//! * how often each of a few marker strings occurs in what the operator receives: the names of
//!   unrelated objects carry a marker, so the count is the number of those objects delivered to
//!   the operator (lists and watch events alike).
//!
//! Invariant: bytes are forwarded exactly as read, in order; counting never alters or delays the
//! stream beyond one buffer copy. A request the parser cannot follow (a chunked request body)
//! stops request parsing on that connection and is counted in `unparsed_connections`.

use std::sync::{
    Arc, Mutex,
    atomic::{AtomicU64, Ordering},
};
use std::time::Instant;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// One request as seen on the wire.
#[derive(Clone, Debug)]
pub struct WireRequest {
    /// When its request line arrived.
    pub at: Instant,
    /// `GET`, `PATCH`, ...
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// The query string (without `?`), possibly empty.
    pub query: String,
}

impl WireRequest {
    /// Whether this is a watch (`?watch=true` or `/watch/` path).
    pub fn is_watch(&self) -> bool {
        self.path.contains("/watch/") || self.query.split('&').any(|p| p == "watch=true" || p == "watch=1")
    }
}

/// What the proxy counted.
#[derive(Debug)]
pub struct ProxyStats {
    requests: Mutex<Vec<WireRequest>>,
    bytes_down: AtomicU64,
    bytes_up: AtomicU64,
    markers: Vec<(String, AtomicU64)>,
    unparsed_connections: AtomicU64,
}

impl ProxyStats {
    /// Requests recorded so far (from index `from`), oldest first.
    pub fn requests_since(&self, from: usize) -> Vec<WireRequest> {
        let r = self.requests.lock().unwrap_or_else(|e| e.into_inner());
        r.get(from..).map(<[_]>::to_vec).unwrap_or_default()
    }

    /// Number of requests recorded so far.
    pub fn request_count(&self) -> usize {
        self.requests.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Bytes received by the operator so far.
    pub fn bytes_down(&self) -> u64 {
        self.bytes_down.load(Ordering::Relaxed)
    }

    /// Bytes sent by the operator so far.
    pub fn bytes_up(&self) -> u64 {
        self.bytes_up.load(Ordering::Relaxed)
    }

    /// Occurrences of `marker` in what the operator received so far.
    pub fn marker(&self, marker: &str) -> u64 {
        self.markers
            .iter()
            .find(|(m, _)| m == marker)
            .map_or(0, |(_, n)| n.load(Ordering::Relaxed))
    }

    /// Connections whose requests could not be followed.
    pub fn unparsed_connections(&self) -> u64 {
        self.unparsed_connections.load(Ordering::Relaxed)
    }
}

/// A running proxy.
pub struct Proxy {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    /// The counters.
    pub stats: Arc<ProxyStats>,
    task: JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `upstream`, counting
    /// occurrences of each of `markers` in the downstream bytes.
    pub async fn start(upstream: std::net::SocketAddr, markers: &[&str]) -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let stats = Arc::new(ProxyStats {
            requests: Mutex::new(Vec::new()),
            bytes_down: AtomicU64::new(0),
            bytes_up: AtomicU64::new(0),
            markers: markers
                .iter()
                .map(|m| ((*m).to_owned(), AtomicU64::new(0)))
                .collect(),
            unparsed_connections: AtomicU64::new(0),
        });
        let shared = stats.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let stats = shared.clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(upstream).await {
                        let _ = client.set_nodelay(true);
                        let _ = server.set_nodelay(true);
                        connect(client, server, stats).await;
                    }
                });
            }
        });
        Ok(Self { url, stats, task })
    }
}

async fn connect(client: TcpStream, server: TcpStream, stats: Arc<ProxyStats>) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    let up_stats = stats.clone();
    let up = async move {
        let mut parser = RequestParser::default();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match client_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            up_stats.bytes_up.fetch_add(n as u64, Ordering::Relaxed);
            if !parser.failed {
                for request in parser.feed(&buf[..n]) {
                    up_stats
                        .requests
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .push(request);
                }
                if parser.failed {
                    up_stats.unparsed_connections.fetch_add(1, Ordering::Relaxed);
                }
            }
            if server_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = server_write.shutdown().await;
    };
    let down = async move {
        let mut scanners: Vec<MarkerScanner> =
            stats.markers.iter().map(|(m, _)| MarkerScanner::new(m)).collect();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = match server_read.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            stats.bytes_down.fetch_add(n as u64, Ordering::Relaxed);
            for (scanner, (_, count)) in scanners.iter_mut().zip(&stats.markers) {
                let found = scanner.feed(&buf[..n]);
                if found > 0 {
                    count.fetch_add(found, Ordering::Relaxed);
                }
            }
            if client_write.write_all(&buf[..n]).await.is_err() {
                break;
            }
        }
        let _ = client_write.shutdown().await;
    };
    tokio::join!(up, down);
}

/// Counts a marker across reads (a marker split between two reads is still found once).
struct MarkerScanner {
    marker: Vec<u8>,
    carry: Vec<u8>,
}

impl MarkerScanner {
    fn new(marker: &str) -> Self {
        Self {
            marker: marker.as_bytes().to_vec(),
            carry: Vec::new(),
        }
    }

    fn feed(&mut self, bytes: &[u8]) -> u64 {
        let m = self.marker.len();
        if m == 0 {
            return 0;
        }
        let mut window = std::mem::take(&mut self.carry);
        window.extend_from_slice(bytes);
        let mut found = 0;
        let mut i = 0;
        while i + m <= window.len() {
            if window[i..i + m] == self.marker[..] {
                found += 1;
                i += m;
            } else {
                i += 1;
            }
        }
        // Keep what could be the start of a marker continued by the next read: unscanned bytes,
        // at most `m - 1` of them.
        let start = i.max(window.len().saturating_sub(m - 1));
        self.carry = window[start..].to_vec();
        found
    }
}

/// Follows HTTP/1.1 requests on one connection: headers, then `Content-Length` body bytes.
#[derive(Default)]
struct RequestParser {
    head: Vec<u8>,
    body_left: usize,
    failed: bool,
}

impl RequestParser {
    fn feed(&mut self, mut bytes: &[u8]) -> Vec<WireRequest> {
        let mut out = vec![];
        while !bytes.is_empty() && !self.failed {
            if self.body_left > 0 {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                bytes = &bytes[take..];
                continue;
            }
            self.head.extend_from_slice(bytes);
            bytes = &[];
            let Some(end) = find(&self.head, b"\r\n\r\n") else {
                if self.head.len() > 1024 * 1024 {
                    self.failed = true;
                }
                break;
            };
            let rest = self.head.split_off(end + 4);
            let head = std::mem::take(&mut self.head);
            match parse_head(&head) {
                Some((request, body, chunked)) => {
                    out.push(request);
                    if chunked {
                        self.failed = true;
                        break;
                    }
                    self.body_left = body;
                }
                None => {
                    self.failed = true;
                    break;
                }
            }
            // What followed the headers: body bytes, then possibly the next request.
            let take = self.body_left.min(rest.len());
            self.body_left -= take;
            self.head = rest[take..].to_vec();
            if !self.head.is_empty() {
                let pending = std::mem::take(&mut self.head);
                out.extend(self.feed(&pending));
            }
        }
        out
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn parse_head(head: &[u8]) -> Option<(WireRequest, usize, bool)> {
    let text = std::str::from_utf8(head).ok()?;
    let mut lines = text.split("\r\n");
    let mut parts = lines.next()?.split(' ');
    let method = parts.next()?.to_owned();
    let target = parts.next()?;
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut length = 0;
    let mut chunked = false;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if name.eq_ignore_ascii_case("content-length") {
            length = value.trim().parse().ok()?;
        } else if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().contains("chunked")
        {
            chunked = true;
        }
    }
    Some((
        WireRequest {
            at: Instant::now(),
            method,
            path: path.to_owned(),
            query: query.to_owned(),
        },
        length,
        chunked,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers_split_across_reads_are_counted_once() {
        let mut s = MarkerScanner::new("ballast-");
        assert_eq!(s.feed(b"xx ball"), 0);
        assert_eq!(s.feed(b"ast-1 ballast-2 bal"), 2);
        assert_eq!(s.feed(b"last-"), 1);
    }

    #[test]
    fn requests_with_bodies_and_pipelining_are_followed() {
        let mut p = RequestParser::default();
        let a = p.feed(b"PATCH /api/v1/x?y=1 HTTP/1.1\r\ncontent-length: 4\r\n\r\nab");
        assert_eq!(a.len(), 1);
        assert_eq!(a[0].query, "y=1");
        let b = p.feed(b"cdGET /b?watch=true HTTP/1.1\r\n\r\n");
        assert_eq!(b.len(), 1);
        assert!(b[0].is_watch());
    }
}
