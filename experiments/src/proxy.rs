//! Network bytes of a service that has no counters of its own, measured from outside.
//!
//! Sonde's services count their socket bytes on `/metrics`; the reference PDS does not. A
//! [`CountingProxy`] listens on a free loopback port, forwards every connection to the service
//! and counts the bytes each way, so that the clients of an experiment talk to the proxy and the
//! figures mean the same as the services' own counters: bytes read from and written to the
//! service's TCP connections, HTTP and WebSocket alike. It runs in the experiment's process, so
//! its CPU is not billed to the service.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

#[derive(Debug, Default)]
struct Counts {
    /// Bytes clients sent to the service.
    to_service: AtomicU64,
    /// Bytes the service sent back.
    from_service: AtomicU64,
}

/// A byte-counting TCP forwarder in front of `127.0.0.1:<target>`. Dropping it stops it.
pub struct CountingProxy {
    port: u16,
    counts: Arc<Counts>,
    task: JoinHandle<()>,
}

impl CountingProxy {
    pub async fn start(target: u16) -> Result<CountingProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding the counting proxy")?;
        let port = listener.local_addr()?.port();
        let counts = Arc::new(Counts::default());
        let task = tokio::spawn(accept(listener, target, counts.clone()));
        Ok(CountingProxy { port, counts, task })
    }

    /// `http://127.0.0.1:<proxy port>`, for the service's clients.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Bytes into the service so far (from its clients).
    pub fn bytes_in(&self) -> u64 {
        self.counts.to_service.load(Ordering::Relaxed)
    }

    /// Bytes out of the service so far (to its clients).
    pub fn bytes_out(&self) -> u64 {
        self.counts.from_service.load(Ordering::Relaxed)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target: u16, counts: Arc<Counts>) {
    let mut connections = tokio::task::JoinSet::new();
    while let Ok((client, _)) = listener.accept().await {
        let counts = counts.clone();
        connections.spawn(async move {
            // A service that refuses the connection is seen by the client as a reset one.
            if let Ok(service) = TcpStream::connect(("127.0.0.1", target)).await {
                let _ = client.set_nodelay(true).and(service.set_nodelay(true));
                forward(client, service, &counts).await;
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn forward(client: TcpStream, service: TcpStream, counts: &Counts) {
    let (client_read, client_write) = client.into_split();
    let (service_read, service_write) = service.into_split();
    tokio::join!(pipe(client_read, service_write, &counts.to_service), pipe(service_read, client_write, &counts.from_service));
}

/// Copies one direction until end of stream, counting as it goes, then half-closes the writer.
async fn pipe(mut from: impl AsyncRead + Unpin, mut to: impl AsyncWrite + Unpin, count: &AtomicU64) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
                count.fetch_add(n as u64, Ordering::Relaxed);
            }
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn counts_the_bytes_each_way_of_every_connection() {
        // An echo server that answers each message with twice its bytes.
        let server = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = server.local_addr().unwrap().port();
        tokio::spawn(async move {
            loop {
                let (mut s, _) = server.accept().await.unwrap();
                tokio::spawn(async move {
                    let mut buf = [0u8; 100];
                    let n = s.read(&mut buf).await.unwrap();
                    s.write_all(&buf[..n]).await.unwrap();
                    s.write_all(&buf[..n]).await.unwrap();
                });
            }
        });
        let proxy = CountingProxy::start(port).await.unwrap();
        for message in [&b"hello"[..], &b"sonde!"[..]] {
            let mut c = TcpStream::connect(("127.0.0.1", proxy.port)).await.unwrap();
            c.write_all(message).await.unwrap();
            c.shutdown().await.unwrap();
            let mut back = Vec::new();
            c.read_to_end(&mut back).await.unwrap();
            assert_eq!(back, [message, message].concat());
        }
        assert_eq!(proxy.bytes_in(), 11);
        assert_eq!(proxy.bytes_out(), 22);
    }
}
