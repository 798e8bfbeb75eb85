//! Network byte counters.
//!
//! [`CountingListener`] wraps a `TcpListener` for `axum::serve`: every accepted socket counts
//! the bytes read from and written to it into `<service>_network_bytes_total{direction="in"|"out",
//! side="server"}`. Counting the socket, not the bodies, includes headers, WebSocket frames
//! and upgrades alike. Connections a service opens itself (a relay's upstream firehoses) are
//! counted by payload with [`count_client_bytes`] under `side="client"`.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use metrics::Counter;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

/// The two counters of one side of a service.
#[derive(Clone)]
struct Counters {
    read: Counter,
    written: Counter,
}

impl Counters {
    fn new(service: &'static str, side: &'static str) -> Self {
        // Counters taken before a recorder exists would count into nothing.
        crate::metrics_handle();
        let name = format!("{service}_network_bytes_total");
        Counters {
            read: metrics::counter!(name.clone(), "direction" => "in", "side" => side),
            written: metrics::counter!(name, "direction" => "out", "side" => side),
        }
    }
}

/// A TCP listener whose sockets count their bytes.
pub struct CountingListener {
    inner: TcpListener,
    counters: Counters,
}

impl CountingListener {
    /// Counts into `<service>_network_bytes_total` (e.g. `pds`, `relay`, `plc`).
    pub fn new(inner: TcpListener, service: &'static str) -> Self {
        CountingListener { inner, counters: Counters::new(service, "server") }
    }
}

impl Listener for CountingListener {
    type Io = CountedStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        let (io, addr) = Listener::accept(&mut self.inner).await;
        (CountedStream { inner: io, counters: self.counters.clone() }, addr)
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}

/// The peer of a connection accepted by a [`CountingListener`], for `ConnectInfo<PeerAddr>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PeerAddr(pub SocketAddr);

impl Connected<IncomingStream<'_, CountingListener>> for PeerAddr {
    fn connect_info(stream: IncomingStream<'_, CountingListener>) -> Self {
        PeerAddr(*stream.remote_addr())
    }
}

impl Connected<SocketAddr> for PeerAddr {
    fn connect_info(addr: SocketAddr) -> Self {
        PeerAddr(addr)
    }
}

/// A stream that counts what passes through it.
pub struct CountedStream<S> {
    inner: S,
    counters: Counters,
}

impl<S: AsyncRead + Unpin> AsyncRead for CountedStream<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let poll = Pin::new(&mut self.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = poll {
            self.counters.read.increment((buf.filled().len() - before) as u64);
        }
        poll
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for CountedStream<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.written.increment(n as u64);
        }
        poll
    }

    fn poll_write_vectored(mut self: Pin<&mut Self>, cx: &mut Context<'_>, bufs: &[io::IoSlice<'_>]) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = poll {
            self.counters.written.increment(n as u64);
        }
        poll
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Direction of bytes on a connection the service opened itself.
#[derive(Debug, Clone, Copy)]
pub enum Direction {
    In,
    Out,
}

/// Counts `bytes` of payload on a connection `service` opened (`side="client"`).
pub fn count_client_bytes(service: &'static str, direction: Direction, bytes: u64) {
    let direction = match direction {
        Direction::In => "in",
        Direction::Out => "out",
    };
    crate::metrics_handle();
    metrics::counter!(format!("{service}_network_bytes_total"), "direction" => direction, "side" => "client").increment(bytes);
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::routing::post;

    /// Sums one `name{labels}` series in a Prometheus text rendering.
    fn value(text: &str, series: &str) -> u64 {
        text.lines().filter(|l| l.starts_with(series)).filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok()).sum()
    }

    #[tokio::test]
    async fn a_served_request_is_counted_in_both_directions() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = axum::Router::new().route("/echo", post(|body: String| async move { body.repeat(3) }));
        // Made before anything asked for the recorder: the listener must install it itself.
        let counting = CountingListener::new(listener, "test");
        tokio::spawn(async move { axum::serve(counting, app).await.unwrap() });
        let handle = crate::metrics_handle();
        let body = "x".repeat(10_000);
        let resp = reqwest::Client::new().post(format!("http://{addr}/echo")).body(body).send().await.unwrap();
        assert_eq!(resp.text().await.unwrap().len(), 30_000);
        // The server counts after its writes return; give the task a moment.
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let text = handle.render();
        let read = value(&text, r#"test_network_bytes_total{direction="in",side="server"}"#);
        let written = value(&text, r#"test_network_bytes_total{direction="out",side="server"}"#);
        // Bodies plus headers: more than the payload, but not by much.
        assert!((10_000..11_000).contains(&read), "read {read}");
        assert!((30_000..31_000).contains(&written), "written {written}");
    }
}
