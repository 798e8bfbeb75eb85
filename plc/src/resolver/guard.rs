//! SSRF protection for fetching untrusted URLs (`did:web` documents, handle well-knowns).
//!
//! Names are resolved by [`GuardedDns`], which drops private, loopback, link-local and other
//! non-public addresses before reqwest connects, so a DNS answer cannot point a fetch into the
//! local network (checking the address that is actually dialled also defeats rebinding).
//! IP-literal hosts bypass DNS and are checked by [`check_ip`] before the request. Redirects
//! are not followed. In testbed mode (`allow_insecure_loopback`) every address is allowed and
//! loopback hosts are fetched over plain `http://`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The reason a host was refused, carried through reqwest's error chain.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves only to non-public addresses")]
pub struct BlockedHost {
    pub host: String,
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            // NAT64 (64:ff9b::/96) embeds an IPv4 address.
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return is_public_v4(Ipv4Addr::new(a, b, c, d));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, _, _] = ip.octets();
    !(ip.is_private()
        || ip.is_loopback()
        || ip.is_link_local()
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0 // "this network"
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && ip.octets()[2] == 0) // IETF protocol assignments
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || a >= 240) // reserved
}

/// Whether `host` names the local machine (`localhost`, `*.localhost`, loopback literals).
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback())
}

/// A DNS resolver for reqwest that only returns addresses a fetch may dial.
pub(crate) struct GuardedDns {
    pub(crate) allow_private: bool,
}

impl Resolve for GuardedDns {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let found = dialable(name.as_str(), 0, allow_private).await.map_err(|e| match e {
                DialError::Lookup(e) => Box::new(e) as BoxError,
                DialError::Blocked(b) => Box::new(b) as BoxError,
            })?;
            Ok(Box::new(found.into_iter()) as Addrs)
        })
    }
}

/// Why [`dialable`] gave no address.
#[derive(Debug, thiserror::Error)]
pub enum DialError {
    #[error("cannot resolve: {0}")]
    Lookup(std::io::Error),
    #[error(transparent)]
    Blocked(BlockedHost),
}

/// The addresses a connection to `host:port` may dial: those it resolves to that are public
/// (all of them with `allow_private`, for a testbed). Connect to exactly these and never
/// resolve the name again: a second answer cannot then point the connection elsewhere.
pub async fn dialable(host: &str, port: u16, allow_private: bool) -> Result<Vec<SocketAddr>, DialError> {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    let found: Vec<SocketAddr> =
        tokio::net::lookup_host((bare, port)).await.map_err(DialError::Lookup)?.filter(|a| allow_private || is_public_ip(a.ip())).collect();
    if found.is_empty() {
        return Err(DialError::Blocked(BlockedHost { host: host.to_owned() }));
    }
    Ok(found)
}

/// An HTTP client for URLs taken from untrusted data (a service endpoint in someone's DID
/// document, say): host names resolve only to public addresses (unless `allow_private`, for a
/// testbed) and redirects are not followed. IP-literal hosts bypass DNS: check them with
/// [`url_allowed`] before each request.
pub fn guarded_client(allow_private: bool, timeout: std::time::Duration) -> reqwest::Result<reqwest::Client> {
    reqwest::Client::builder()
        .dns_resolver(std::sync::Arc::new(GuardedDns { allow_private }))
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(timeout)
        .timeout(timeout)
        .build()
}

/// Whether a [`guarded_client`] may fetch `url`: http(s), and an IP-literal host must be
/// public (unless `allow_private`). Named hosts are checked when they resolve.
pub fn url_allowed(url: &url::Url, allow_private: bool) -> bool {
    if !matches!(url.scheme(), "https" | "http") {
        return false;
    }
    match url.host() {
        Some(url::Host::Ipv4(ip)) => allow_private || is_public_ip(IpAddr::V4(ip)),
        Some(url::Host::Ipv6(ip)) => allow_private || is_public_ip(IpAddr::V6(ip)),
        Some(url::Host::Domain(_)) => true,
        None => false,
    }
}

/// Finds a [`BlockedHost`] anywhere in an error's source chain (a [`guarded_client`]'s
/// refusal, inside a `reqwest::Error`): the host it refused.
pub fn blocked_in(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cur = Some(err);
    while let Some(e) = cur {
        if let Some(b) = e.downcast_ref::<BlockedHost>() {
            return Some(b.host.clone());
        }
        cur = e.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_literals_must_be_public() {
        let ok = |u: &str, private| url_allowed(&u.parse().unwrap(), private);
        assert!(ok("https://example.com/x", false));
        assert!(ok("https://8.8.8.8/x", false));
        assert!(!ok("http://127.0.0.1:2583/x", false));
        assert!(!ok("http://[::1]/x", false));
        assert!(!ok("http://169.254.169.254/latest", false));
        assert!(!ok("file:///etc/passwd", false));
        assert!(ok("http://127.0.0.1:2583/x", true));
    }

    #[test]
    fn classifies_addresses() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "255.255.255.255",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "0.1.2.3",
            "240.0.0.1",
            "250.1.2.3",
            "224.0.0.1",
            "239.255.255.250",
            "ff02::1",
            "ff0e::1",
            "169.254.0.1",
            "fe80::1234",
        ] {
            assert!(!is_public_ip(private.parse().unwrap()), "{private}");
        }
        for public in ["1.1.1.1", "8.8.8.8", "2606:4700::1111", "::ffff:1.1.1.1", "64:ff9b::101:101"] {
            assert!(is_public_ip(public.parse().unwrap()), "{public}");
        }
        assert!(is_loopback_host("localhost"));
        assert!(is_loopback_host("pds.localhost"));
        assert!(is_loopback_host("[::1]"));
        assert!(is_loopback_host("127.0.0.2"));
        assert!(!is_loopback_host("example.com"));
    }
}
