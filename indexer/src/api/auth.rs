//! Service auth: the JWT a PDS sends when it proxies a member's request (`iss` the member,
//! `aud` this indexer's DID, `lxm` the method), verified against the member's signing key
//! from their DID document.

use std::sync::Arc;

use atproto::service_auth::{self, ServiceAuthError};
use atproto::xrpc::XrpcError;
use axum::http::HeaderMap;

pub struct ServiceAuth {
    /// This service's DID (`did:web:…`), the audience tokens must name.
    pub service_did: String,
    pub resolver: Arc<plc::Resolver>,
}

impl ServiceAuth {
    /// The viewer's DID, `None` without an `Authorization` header; an invalid token is an
    /// error (the reference AppView does not fall back to anonymous for a bad token).
    pub async fn viewer(&self, headers: &HeaderMap, nsid: &str) -> Result<Option<String>, XrpcError> {
        let Some(value) = headers.get(axum::http::header::AUTHORIZATION) else { return Ok(None) };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| XrpcError::auth_required("Authorization must be a Bearer token"))?;
        let claims = service_auth::peek(token).map_err(|e| XrpcError::auth_required_named("BadJwt", e.to_string()))?;
        let did = claims.issuer_did().to_owned();
        let key = self
            .resolver
            .signing_key(&did)
            .await
            .map_err(|e| XrpcError::auth_required_named("BadJwtIssuer", format!("could not resolve the issuer's key: {e}")))?;
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        match service_auth::verify(token, &key, &self.service_did, Some(nsid), now) {
            Ok(_) => Ok(Some(did)),
            Err(ServiceAuthError::Expired) => Err(XrpcError::auth_required_named("JwtExpired", "the token has expired")),
            Err(ServiceAuthError::BadSignature) => {
                // The key may have rotated: check once more against a fresh document.
                let _ = self.resolver.refresh(&did).await;
                let key = self.resolver.signing_key(&did).await.map_err(|e| XrpcError::auth_required_named("BadJwtIssuer", e.to_string()))?;
                service_auth::verify(token, &key, &self.service_did, Some(nsid), now)
                    .map(|_| Some(did))
                    .map_err(|e| XrpcError::auth_required_named("BadJwtSignature", e.to_string()))
            }
            Err(e) => Err(XrpcError::auth_required_named("BadJwt", e.to_string())),
        }
    }
}
