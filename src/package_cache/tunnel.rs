//! `CONNECT` through the package cache: only to an allow-listed `host:443` whose resolved
//! address is not this machine's; the bytes are copied until either side closes, the tunnel
//! is idle too long, or the cache stops.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::connections::Admitted;
use super::proxy::{text, Body, Proxy, CONNECT_TIMEOUT};

impl Proxy {
    /// `CONNECT host:443`: checks it, opens the connection, answers 200, then copies bytes.
    pub(super) async fn tunnel(
        &self,
        request: Request<Incoming>,
        connection: Arc<Admitted>,
    ) -> Response<Body> {
        let Some(authority) = request.uri().authority().map(|a| a.to_string()) else {
            return text(
                StatusCode::BAD_REQUEST,
                "ferrostack package cache: CONNECT needs host:port".to_string(),
            );
        };
        if !self.config.allow.allows_connect(&authority) {
            return self.refuse(format!(
                "CONNECT to `{authority}` is not allowed: tunnels go only to allow-listed hosts on port 443; add the host to `[build] package_cache_allow` in ferrostack.toml"
            ));
        }
        let resolved = match tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::lookup_host(&authority),
        )
        .await
        {
            Ok(Ok(addresses)) => addresses.collect::<Vec<_>>(),
            Ok(Err(e)) => {
                return text(
                    StatusCode::BAD_GATEWAY,
                    format!("ferrostack package cache: cannot resolve `{authority}`: {e}"),
                )
            }
            Err(_) => {
                return text(
                    StatusCode::GATEWAY_TIMEOUT,
                    format!("ferrostack package cache: resolving `{authority}` timed out"),
                )
            }
        };
        let permitted: Vec<_> = resolved
            .iter()
            .copied()
            .filter(|a| self.guard.permits(a.ip()))
            .collect();
        if permitted.is_empty() {
            return self.refuse(format!(
                "CONNECT to `{authority}` is refused: it resolves to a loopback, link-local or unspecified address, or to this machine"
            ));
        }
        let mut upstream = None;
        let mut last_error = String::new();
        for address in permitted {
            match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(address)).await {
                Ok(Ok(s)) => {
                    upstream = Some(s);
                    break;
                }
                Ok(Err(e)) => last_error = e.to_string(),
                Err(_) => last_error = "timed out".to_string(),
            }
        }
        let Some(upstream) = upstream else {
            return text(
                StatusCode::BAD_GATEWAY,
                format!("ferrostack package cache: cannot connect to `{authority}`: {last_error}"),
            );
        };
        self.counters.tunnels.fetch_add(1, Ordering::Relaxed);
        let idle = self.config.tunnel_idle_timeout;
        let stop = self.stop.clone();
        let busy = connection.busy();
        tokio::spawn(async move {
            let _held = (connection, busy);
            let Ok(upgraded) = hyper::upgrade::on(request).await else {
                return;
            };
            carry(TokioIo::new(upgraded), upstream, idle, &stop).await;
        });
        Response::new(
            Full::new(Bytes::new())
                .map_err(|never| match never {})
                .boxed(),
        )
    }
}

/// Splices the two sides until they are done or `stop` is cancelled (the build ended).
async fn carry<A, B>(a: A, b: B, idle: Duration, stop: &CancellationToken)
where
    A: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite,
{
    tokio::select! {
        _ = splice(a, b, idle) => {}
        _ = stop.cancelled() => {}
    }
}

/// Copies bytes both ways until both sides have closed or neither sent anything for `idle`.
pub(super) async fn splice<A, B>(a: A, b: B, idle: Duration)
where
    A: AsyncRead + AsyncWrite,
    B: AsyncRead + AsyncWrite,
{
    let (mut a_read, mut a_write) = tokio::io::split(a);
    let (mut b_read, mut b_write) = tokio::io::split(b);
    let mut a_buf = vec![0u8; 16 * 1024];
    let mut b_buf = vec![0u8; 16 * 1024];
    let (mut a_open, mut b_open) = (true, true);
    while a_open || b_open {
        tokio::select! {
            read = a_read.read(&mut a_buf), if a_open => match read {
                Ok(0) | Err(_) => {
                    a_open = false;
                    let _ = b_write.shutdown().await;
                }
                Ok(n) => {
                    if b_write.write_all(&a_buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            read = b_read.read(&mut b_buf), if b_open => match read {
                Ok(0) | Err(_) => {
                    b_open = false;
                    let _ = a_write.shutdown().await;
                }
                Ok(n) => {
                    if a_write.write_all(&b_buf[..n]).await.is_err() {
                        return;
                    }
                }
            },
            _ = tokio::time::sleep(idle) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bytes_go_both_ways_and_an_idle_tunnel_ends() {
        let (client, tunnel_a) = tokio::io::duplex(1024);
        let (tunnel_b, server) = tokio::io::duplex(1024);
        let spliced = tokio::spawn(splice(tunnel_a, tunnel_b, Duration::from_millis(200)));
        let (mut client, mut server) = (client, server);
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"ping");
        server.write_all(b"pong").await.unwrap();
        client.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"pong");
        // Nothing more either way: the tunnel ends by itself, and the client sees it close.
        tokio::time::timeout(Duration::from_secs(5), spliced)
            .await
            .expect("an idle tunnel ends")
            .unwrap();
        assert_eq!(client.read(&mut buf).await.unwrap(), 0);
    }

    #[tokio::test]
    async fn a_busy_tunnel_ends_when_the_cache_stops() {
        let (mut client, tunnel_a) = tokio::io::duplex(1024);
        let (tunnel_b, mut server) = tokio::io::duplex(1024);
        let stop = CancellationToken::new();
        let carried = tokio::spawn({
            let stop = stop.clone();
            async move { carry(tunnel_a, tunnel_b, Duration::from_secs(3600), &stop).await }
        });
        client.write_all(b"ping").await.unwrap();
        let mut buf = [0u8; 4];
        server.read_exact(&mut buf).await.unwrap();
        stop.cancel();
        tokio::time::timeout(Duration::from_secs(5), carried)
            .await
            .expect("the tunnel ends with the cache")
            .unwrap();
        assert_eq!(
            client.read(&mut buf).await.unwrap(),
            0,
            "the client sees it close"
        );
    }
}
