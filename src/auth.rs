//! Who is calling: bearer JWTs (RFC 7519) validated with `jsonwebtoken`.
//!
//! HS256 tokens are checked with `BERTH_JWT_SECRET`; an identity provider's
//! RS256 / EdDSA / ES256 tokens with the public key in
//! `BERTH_JWT_PUBLIC_KEY`. Required claims: `sub`, `role` (`admin` or
//! `customer`), `exp`; when an issuer or audience is configured, `iss` or
//! `aud` must be present and match (tokens minted here carry both). The
//! algorithm is taken from the token header only to pick a key we hold for
//! exactly that algorithm, so `alg: none` or an HS256 token signed with the
//! public key (algorithm confusion) never verifies.

use std::{path::Path, time::Duration};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, decode_header, encode};
use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::domain::{booking::Actor, ids::CustomerId};

/// The roles a token can carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Customer,
}

/// The caller of a request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    /// No token.
    Anonymous,
    Admin {
        sub: String,
    },
    /// A customer; the token's `sub` is the customer id.
    Customer {
        id: CustomerId,
    },
}

impl Principal {
    /// How the caller is recorded in booking history.
    pub fn actor(&self) -> Actor {
        match self {
            Principal::Anonymous => Actor { sub: "anonymous".into(), role: "anonymous".into() },
            Principal::Admin { sub } => Actor { sub: sub.clone(), role: "admin".into() },
            Principal::Customer { id } => Actor { sub: id.to_string(), role: "customer".into() },
        }
    }

    /// A stable name for rate limiting and idempotency scopes; `None` for
    /// anonymous callers.
    pub fn subject(&self) -> Option<String> {
        match self {
            Principal::Anonymous => None,
            Principal::Admin { sub } => Some(format!("admin:{sub}")),
            Principal::Customer { id } => Some(format!("customer:{id}")),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub role: Role,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    /// A string or a list of strings (RFC 7519 §4.1.3); checked by the
    /// validation, carried here so minted tokens name the audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<serde_json::Value>,
}

/// Why a token was refused. The message goes into `error_description`; it
/// never contains the token.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    #[error("the token's algorithm is not accepted")]
    Algorithm,
    #[error("the token has expired")]
    Expired,
    #[error("a customer token's sub must be the customer id")]
    CustomerSubject,
    #[error("the token's sub must be 1 to 255 characters")]
    SubjectLength,
    #[error("the token is malformed or its signature, issuer or audience is wrong")]
    Invalid,
}

/// The longest token subject berth accepts.
pub const MAX_SUBJECT_CHARS: usize = 255;

/// Settings for `Authenticator::new`.
#[derive(Clone, Debug, Default)]
pub struct AuthSettings {
    pub secret: Option<String>,
    pub public_key_pem: Option<Vec<u8>>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub leeway_seconds: u64,
}

/// Verifies tokens, and mints HS256 ones with the secret.
pub struct Authenticator {
    secret: Vec<u8>,
    public_key: Option<(DecodingKey, Algorithm)>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway_seconds: u64,
    /// Whether the secret was made up at start (no `BERTH_JWT_SECRET`).
    pub secret_is_ephemeral: bool,
}

impl Authenticator {
    /// Fails when the public key cannot be read as an RSA, Ed25519 or P-256
    /// PEM key.
    pub fn new(settings: AuthSettings) -> anyhow::Result<Self> {
        let (secret, secret_is_ephemeral) = match settings.secret {
            Some(secret) if !secret.is_empty() => (secret.into_bytes(), false),
            _ => (rand::rng().random::<[u8; 32]>().to_vec(), true),
        };
        let public_key = settings.public_key_pem.as_deref().map(parse_public_key).transpose()?;
        Ok(Self {
            secret,
            public_key,
            issuer: settings.issuer,
            audience: settings.audience,
            leeway_seconds: settings.leeway_seconds,
            secret_is_ephemeral,
        })
    }

    /// Whether an identity provider's key is configured.
    pub fn has_identity_provider(&self) -> bool {
        self.public_key.is_some()
    }

    /// Reads `BERTH_JWT_PUBLIC_KEY` from disk.
    pub fn read_public_key(path: &Path) -> anyhow::Result<Vec<u8>> {
        std::fs::read(path).map_err(|e| anyhow::anyhow!("cannot read the JWT public key {}: {e}", path.display()))
    }

    fn validation(&self, algorithm: Algorithm) -> Validation {
        let mut validation = Validation::new(algorithm);
        validation.leeway = self.leeway_seconds;
        // A configured issuer or audience must be present, not only right
        // when present: a token without `aud` is not a token for berth.
        let mut required = vec!["exp", "sub"];
        required.extend(self.issuer.as_ref().map(|_| "iss"));
        required.extend(self.audience.as_ref().map(|_| "aud"));
        validation.set_required_spec_claims(&required);
        match &self.issuer {
            Some(issuer) => validation.set_issuer(&[issuer]),
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => validation.set_audience(&[audience]),
            None => validation.validate_aud = false,
        }
        validation
    }

    /// The caller a bearer token names.
    pub fn verify(&self, token: &str) -> Result<Principal, TokenError> {
        let header = decode_header(token).map_err(|_| TokenError::Invalid)?;
        let hmac_key;
        let key = match (&self.public_key, header.alg) {
            (_, Algorithm::HS256) => {
                hmac_key = DecodingKey::from_secret(&self.secret);
                &hmac_key
            }
            (Some((key, algorithm)), alg) if alg == *algorithm => key,
            _ => return Err(TokenError::Algorithm),
        };
        let claims = decode::<Claims>(token, key, &self.validation(header.alg))
            .map_err(|err| match err.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?
            .claims;
        // OpenID Connect Core §2: a `sub` never exceeds 255 characters; the
        // history and the spec rely on it.
        if claims.sub.is_empty() || claims.sub.chars().count() > MAX_SUBJECT_CHARS {
            return Err(TokenError::SubjectLength);
        }
        match claims.role {
            Role::Admin => Ok(Principal::Admin { sub: claims.sub }),
            Role::Customer => claims
                .sub
                .parse::<uuid::Uuid>()
                .map(|id| Principal::Customer { id: CustomerId(id) })
                .map_err(|_| TokenError::CustomerSubject),
        }
    }

    /// An HS256 token for `role`/`sub`, valid for `ttl`.
    pub fn mint(&self, role: Role, sub: &str, ttl: Duration) -> anyhow::Result<String> {
        let now = jsonwebtoken::get_current_timestamp();
        let claims = Claims {
            sub: sub.to_owned(),
            role,
            exp: now + ttl.as_secs(),
            iat: Some(now),
            iss: self.issuer.clone(),
            aud: self.audience.clone().map(serde_json::Value::String),
        };
        Ok(encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(&self.secret))?)
    }
}

fn parse_public_key(pem: &[u8]) -> anyhow::Result<(DecodingKey, Algorithm)> {
    if let Ok(key) = DecodingKey::from_rsa_pem(pem) {
        return Ok((key, Algorithm::RS256));
    }
    if let Ok(key) = DecodingKey::from_ed_pem(pem) {
        return Ok((key, Algorithm::EdDSA));
    }
    if let Ok(key) = DecodingKey::from_ec_pem(pem) {
        return Ok((key, Algorithm::ES256));
    }
    anyhow::bail!("BERTH_JWT_PUBLIC_KEY is not an RSA, Ed25519 or P-256 public key in PEM")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn authenticator() -> Authenticator {
        Authenticator::new(AuthSettings { secret: Some("s3cret".into()), leeway_seconds: 0, ..Default::default() })
            .unwrap()
    }

    #[test]
    fn minted_tokens_verify_to_their_principal() {
        let auth = authenticator();
        let admin = auth.mint(Role::Admin, "ops", Duration::from_secs(60)).unwrap();
        assert_eq!(auth.verify(&admin).unwrap(), Principal::Admin { sub: "ops".into() });
        let id = uuid::Uuid::now_v7();
        let customer = auth.mint(Role::Customer, &id.to_string(), Duration::from_secs(60)).unwrap();
        assert_eq!(auth.verify(&customer).unwrap(), Principal::Customer { id: CustomerId(id) });
    }

    #[test]
    fn another_secret_or_a_customer_without_an_id_is_refused() {
        let other = Authenticator::new(AuthSettings { secret: Some("other".into()), ..Default::default() }).unwrap();
        let token = other.mint(Role::Admin, "ops", Duration::from_secs(60)).unwrap();
        assert!(matches!(authenticator().verify(&token), Err(TokenError::Invalid)));
        let bad = authenticator().mint(Role::Customer, "bob", Duration::from_secs(60)).unwrap();
        assert!(matches!(authenticator().verify(&bad), Err(TokenError::CustomerSubject)));
    }

    #[test]
    fn alg_none_is_refused() {
        // {"alg":"none","typ":"JWT"} . {"sub":"ops","role":"admin","exp":9999999999} .
        let token = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.eyJzdWIiOiJvcHMiLCJyb2xlIjoiYWRtaW4iLCJleHAiOjk5OTk5OTk5OTl9.";
        assert!(authenticator().verify(token).is_err());
    }
}
