//! One guarded GET of an untrusted URL: SSRF checks (see [`super::guard`]), testbed
//! rewrites (plain http for loopback hosts, host overrides), no redirects, a capped body.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::HOST;
use reqwest::StatusCode;
use url::Url;

use super::guard::{blocked_in, is_loopback_host, is_public_ip, GuardedDns};
use super::ResolveError;

pub(crate) struct GuardedFetch {
    http: reqwest::Client,
    testbed: bool,
    overrides: HashMap<String, SocketAddr>,
    max_body: usize,
}

impl GuardedFetch {
    pub(crate) fn new(testbed: bool, overrides: HashMap<String, SocketAddr>, timeout: Duration, max_body: usize) -> Result<Self, ResolveError> {
        let http = reqwest::Client::builder()
            .dns_resolver(Arc::new(GuardedDns { allow_private: testbed }))
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("sonde-plc/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(ResolveError::Http)?;
        let overrides = overrides.into_iter().map(|(h, a)| (h.to_ascii_lowercase(), a)).collect();
        Ok(GuardedFetch { http, testbed, overrides, max_body })
    }

    /// GETs `url` and returns the body of a 200 answer. `Ok(None)` for 404.
    pub(crate) async fn get(&self, url: &str) -> Result<Option<Vec<u8>>, ResolveError> {
        let mut target = Url::parse(url).map_err(|e| ResolveError::BadUrl(format!("{url}: {e}")))?;
        let host = target.host_str().ok_or_else(|| ResolveError::BadUrl(format!("{url}: no host")))?.to_ascii_lowercase();
        let mut host_header = None;
        // A key starting with '.' matches every name under it (`.test` → `alice.test`).
        let overridden = self
            .overrides
            .get(&host)
            .copied()
            .or_else(|| self.overrides.iter().find(|(k, _)| k.starts_with('.') && host.ends_with(k.as_str())).map(|(_, a)| *a));
        if let Some(addr) = overridden {
            // Testbed DNS: dial `addr`, present the original host (plain http to loopback).
            self.check_ip(&host, addr.ip())?;
            host_header = Some(match target.port() {
                Some(p) => format!("{host}:{p}"),
                None => host.clone(),
            });
            if addr.ip().is_loopback() {
                set_scheme(&mut target, "http")?;
            }
            target.set_ip_host(addr.ip()).map_err(|_| ResolveError::BadUrl(url.into()))?;
            target.set_port(Some(addr.port())).map_err(|_| ResolveError::BadUrl(url.into()))?;
        } else {
            let literal = host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>();
            if let Ok(ip) = literal {
                self.check_ip(&host, ip)?;
            } else if !self.testbed && is_loopback_host(&host) {
                return Err(ResolveError::Forbidden(host));
            }
            if self.testbed && is_loopback_host(&host) {
                set_scheme(&mut target, "http")?;
            }
        }
        if target.scheme() != "https" && !self.testbed {
            return Err(ResolveError::BadUrl(format!("{url}: only https is allowed")));
        }
        let mut req = self.http.get(target);
        if let Some(h) = host_header {
            req = req.header(HOST, h);
        }
        let mut resp = req.send().await.map_err(|e| match blocked_in(&e) {
            Some(host) => ResolveError::Forbidden(host),
            None => ResolveError::Http(e),
        })?;
        match resp.status() {
            StatusCode::OK => {}
            StatusCode::NOT_FOUND | StatusCode::GONE => return Ok(None),
            s => return Err(ResolveError::Status(s.as_u16())),
        }
        if resp.content_length().is_some_and(|n| n > self.max_body as u64) {
            return Err(ResolveError::TooLarge(self.max_body));
        }
        let mut body = Vec::new();
        while let Some(chunk) = resp.chunk().await.map_err(ResolveError::Http)? {
            if body.len() + chunk.len() > self.max_body {
                return Err(ResolveError::TooLarge(self.max_body));
            }
            body.extend_from_slice(&chunk);
        }
        Ok(Some(body))
    }

    fn check_ip(&self, host: &str, ip: IpAddr) -> Result<(), ResolveError> {
        if self.testbed || is_public_ip(ip) {
            Ok(())
        } else {
            Err(ResolveError::Forbidden(host.to_string()))
        }
    }
}

fn set_scheme(url: &mut Url, scheme: &str) -> Result<(), ResolveError> {
    url.set_scheme(scheme).map_err(|_| ResolveError::BadUrl(url.to_string()))
}
