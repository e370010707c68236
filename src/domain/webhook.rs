//! Webhooks (docs/design.md §17): an endpoint and what it wants, the
//! targets berth may send to (the SSRF guard), the Standard Webhooks
//! signature, when a failed delivery is tried again and when an endpoint
//! that keeps failing is switched off.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use base64::{Engine, engine::general_purpose::STANDARD};
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{event::EventType, ids::WebhookId};

/// Where events go, and which.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub id: WebhookId,
    pub url: String,
    pub description: Option<String>,
    /// Empty: every type.
    pub types: Vec<EventType>,
    /// `whsec_` and the base64 of the key; shown once, when created.
    pub secret: String,
    pub enabled: bool,
    /// When it was switched off (by an admin or for failing).
    pub disabled_at: Option<DateTime<Utc>>,
    /// The first failure since its last success.
    pub failing_since: Option<DateTime<Utc>>,
    /// The feed position up to which its deliveries have been made.
    pub feed_position: i64,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl Endpoint {
    /// Applies `changes` at `now`. Switched on again, it starts failing
    /// afresh and from the feed's position `newest`: events that happened
    /// while it was off are not sent.
    pub fn apply(&mut self, changes: EndpointChanges, now: DateTime<Utc>, newest: i64) {
        if let Some(url) = changes.url {
            self.url = url;
        }
        if let Some(description) = changes.description {
            self.description = description;
        }
        if let Some(types) = changes.types {
            self.types = types;
        }
        match changes.enabled {
            Some(true) if !self.enabled => {
                self.enabled = true;
                self.disabled_at = None;
                self.failing_since = None;
                self.feed_position = self.feed_position.max(newest);
            }
            Some(false) if self.enabled => {
                self.enabled = false;
                self.disabled_at = Some(now);
            }
            _ => {}
        }
        self.version += 1;
        self.updated_at = now;
    }

    /// Records an attempt's outcome at `now`: a success ends a failing
    /// spell, a first failure starts one, a failure once the spell is past
    /// `retry`'s window switches the endpoint off. Returns whether it did;
    /// a changed endpoint gets a new version.
    pub fn record_attempt(&mut self, accepted: bool, now: DateTime<Utc>, retry: &RetryPolicy) -> bool {
        let before = (self.failing_since, self.enabled);
        match (accepted, self.failing_since) {
            (true, _) => self.failing_since = None,
            (false, None) => self.failing_since = Some(now),
            (false, Some(since)) if retry.gives_up(since, now) => {
                self.enabled = false;
                self.disabled_at = Some(now);
            }
            (false, Some(_)) => {}
        }
        if (self.failing_since, self.enabled) != before {
            self.version += 1;
            self.updated_at = now;
        }
        before.1 && !self.enabled
    }
}

/// A new endpoint, as an admin asks for it.
#[derive(Clone, Debug)]
pub struct NewEndpoint {
    pub url: String,
    pub description: Option<String>,
    pub types: Vec<EventType>,
    pub enabled: bool,
}

impl NewEndpoint {
    /// The endpoint, receiving events after the feed's position `newest`.
    pub fn into_endpoint(self, id: WebhookId, secret: String, now: DateTime<Utc>, newest: i64) -> Endpoint {
        Endpoint {
            id,
            url: self.url,
            description: self.description,
            types: self.types,
            secret,
            enabled: self.enabled,
            disabled_at: (!self.enabled).then_some(now),
            failing_since: None,
            feed_position: newest,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }
}

/// Changes to an endpoint; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct EndpointChanges {
    pub url: Option<String>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<String>>,
    pub types: Option<Vec<EventType>>,
    pub enabled: Option<bool>,
}

/// Which targets may be sent to. By default only `https` to public
/// addresses; tests and private networks opt in to more.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TargetPolicy {
    pub allow_http: bool,
    pub allow_private: bool,
}

/// Why a URL is not a target berth sends to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TargetRefusal {
    #[error("is not an absolute http(s) URL")]
    NotAUrl,
    #[error("must use https")]
    NotHttps,
    #[error("must not carry a user name or password (the signature authenticates berth)")]
    Credentials,
    #[error("points at a loopback, private, link-local or otherwise non-public address")]
    NotPublic,
}

impl TargetPolicy {
    /// The URL, if berth may send to it: `https` (or `http` when allowed),
    /// no credentials, and a host that is not a non-public address or a
    /// `localhost` name (unless allowed). Names are checked again, on the
    /// addresses they resolve to, every time a delivery connects.
    pub fn check(&self, url: &str) -> Result<url::Url, TargetRefusal> {
        let parsed = url::Url::parse(url).map_err(|_| TargetRefusal::NotAUrl)?;
        match parsed.scheme() {
            "https" => {}
            "http" if self.allow_http => {}
            "http" => return Err(TargetRefusal::NotHttps),
            _ => return Err(TargetRefusal::NotAUrl),
        }
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err(TargetRefusal::Credentials);
        }
        let public = match parsed.host() {
            None => return Err(TargetRefusal::NotAUrl),
            Some(url::Host::Ipv4(ip)) => is_public(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => is_public(IpAddr::V6(ip)),
            Some(url::Host::Domain(name)) => {
                let name = name.trim_end_matches('.').to_ascii_lowercase();
                name != "localhost" && !name.ends_with(".localhost")
            }
        };
        if !public && !self.allow_private {
            return Err(TargetRefusal::NotPublic);
        }
        Ok(parsed)
    }

    /// Whether a delivery may connect to `ip`.
    pub fn admits(&self, ip: IpAddr) -> bool {
        self.allow_private || is_public(ip)
    }
}

/// Whether `ip` is a public unicast address: not loopback, private,
/// link-local, shared (carrier NAT), unspecified, broadcast, multicast,
/// documentation, benchmarking or reserved, and for IPv6 not unique-local,
/// discard-only, or a form that carries an IPv4 address (mapped: judged as
/// that address; compatible, NAT64, 6to4, Teredo: refused).
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space, RFC 6598
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments, RFC 6890
        || (a == 198 && (b == 18 || b == 19)) // benchmarking, RFC 2544
        || a >= 240) // reserved, RFC 1112
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let [first, second, third, fourth, ..] = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || ip.is_unique_local()
        || ip.is_unicast_link_local()
        || (first & 0xffc0) == 0xfec0 // site-local, deprecated but routed by some
        || (first == 0x2001 && second == 0x0db8) // documentation
        || (first == 0x2001 && second == 0) // Teredo: an IPv4 address inside
        || first == 0x2002 // 6to4: an IPv4 address inside
        || (first == 0x0064 && second == 0xff9b) // NAT64, well-known and local-use (64:ff9b:1::/48)
        || (first == 0x0100 && second == 0 && third == 0 && fourth == 0) // discard-only, RFC 6666
        || ip.segments()[..6].iter().all(|s| *s == 0)) // IPv4-compatible (deprecated)
}

/// The `webhook-signature` header of Standard Webhooks: `v1,` and the
/// base64 of HMAC-SHA256 over `{id}.{timestamp}.{body}`, keyed with the
/// base64-decoded part of the secret after `whsec_`. `None` if the secret
/// is not of that form.
pub fn signature(secret: &str, message_id: &str, timestamp: i64, body: &str) -> Option<String> {
    let key = STANDARD.decode(secret.strip_prefix("whsec_")?).ok()?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).ok()?;
    mac.update(format!("{message_id}.{timestamp}.").as_bytes());
    mac.update(body.as_bytes());
    Some(format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes())))
}

/// A secret from 32 random bytes.
pub fn secret_from(key: [u8; 32]) -> String {
    format!("whsec_{}", STANDARD.encode(key))
}

/// The `webhook-id` of the event at feed position `position`: the same
/// for every attempt and every endpoint, so a receiver can drop repeats.
pub fn message_id(position: i64) -> String {
    format!("msg_{position}")
}

/// When failed deliveries are tried again, and when an endpoint is
/// switched off.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait after the first failure; it doubles after each one.
    pub first_delay: Duration,
    /// The longest wait.
    pub max_delay: Duration,
    /// An endpoint whose failures have lasted this long is switched off.
    pub disable_after: Duration,
}

impl RetryPolicy {
    /// The wait after failed attempt number `attempt` (1 for the first):
    /// `first_delay · 2^(attempt-1)`, at most `max_delay`, of which the
    /// upper half is scaled by `jitter` (0 to 1) so that endpoints that
    /// failed together are not all retried at the same instant.
    pub fn delay(&self, attempt: u32, jitter: f64) -> Duration {
        let doubled = self.first_delay.checked_mul(1 << attempt.saturating_sub(1).min(30)).unwrap_or(self.max_delay);
        let full = doubled.min(self.max_delay);
        let half = full / 2;
        half + Duration::microseconds(
            (half.num_microseconds().unwrap_or(i64::MAX) as f64 * jitter.clamp(0.0, 1.0)) as i64,
        )
    }

    /// Whether an endpoint failing since `since` is to be switched off
    /// after a failure at `now`.
    pub fn gives_up(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - since >= self.disable_after
    }
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Not yet accepted by the endpoint; tried again at `next_attempt_at`.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Given up: the endpoint was switched off before it accepted.
    Failed,
}

impl DeliveryStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Delivered, Self::Failed].into_iter().find(|s| s.as_str() == text)
    }
}

/// One event for one endpoint, as its log shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivery {
    pub id: i64,
    pub position: i64,
    pub event_type: String,
    pub occurred_at: DateTime<Utc>,
    pub status: DeliveryStatus,
    pub attempts: u32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    /// The HTTP status of the last answer, if there was one.
    pub last_status: Option<u16>,
    /// Why the last attempt failed without an answer (timeout, refused
    /// connection, a target the guard refused).
    pub last_error: Option<String>,
    pub delivered_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The test vector of the Standard Webhooks specification.
    #[test]
    fn the_signature_matches_the_standard_webhooks_vector() {
        let signed = signature(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            r#"{"test": 2432232314}"#,
        );
        assert_eq!(signed.as_deref(), Some("v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="));
        assert_eq!(signature("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg", 1, "{}"), None);
        assert_eq!(signature("whsec_not base64!", "msg", 1, "{}"), None);
    }

    #[test]
    fn a_secret_is_32_bytes_in_base64() {
        let secret = secret_from([7; 32]);
        assert!(secret.starts_with("whsec_"));
        assert_eq!(STANDARD.decode(&secret[6..]).unwrap(), vec![7; 32]);
        assert!(signature(&secret, "msg_1", 1, "{}").is_some());
    }

    #[test]
    fn only_public_https_targets_pass_by_default() {
        let strict = TargetPolicy::default();
        assert!(strict.check("https://hooks.example.com/berth").is_ok());
        assert!(strict.check("https://93.184.215.14:8443/in").is_ok());
        assert_eq!(strict.check("http://hooks.example.com/"), Err(TargetRefusal::NotHttps));
        assert_eq!(strict.check("ftp://hooks.example.com/"), Err(TargetRefusal::NotAUrl));
        assert_eq!(strict.check("hooks.example.com/"), Err(TargetRefusal::NotAUrl));
        assert_eq!(strict.check("https://user:pw@hooks.example.com/"), Err(TargetRefusal::Credentials));
        for private in [
            "https://10.0.0.1/",
            "https://127.0.0.1:8080/",
            "https://169.254.169.254/latest/meta-data",
            "https://192.168.1.1/",
            "https://172.16.0.1/",
            "https://100.64.0.1/",
            "https://0.0.0.0/",
            "https://[::1]/",
            "https://[fd00::1]/",
            "https://[fe80::1]/",
            "https://[::ffff:10.0.0.1]/",
            "https://[64:ff9b::a00:1]/",
            "https://[64:ff9b:1::a00:1]/",
            "https://[2002:a00:1::1]/",
            "https://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
            "https://[100::1]/",
            "https://localhost/",
            "https://api.localhost./",
            "https://LOCALHOST/",
            "https://2130706433/", // 127.0.0.1, written as one number
            "https://0x7f.1/",
        ] {
            assert_eq!(strict.check(private), Err(TargetRefusal::NotPublic), "{private}");
        }
        let open = TargetPolicy { allow_http: true, allow_private: true };
        assert!(open.check("http://127.0.0.1:9000/hook").is_ok());
        assert!(open.admits("10.0.0.1".parse().unwrap()));
        assert!(!strict.admits("10.0.0.1".parse().unwrap()));
        assert!(strict.admits("2606:4700::1111".parse().unwrap()));
    }

    #[test]
    fn delays_double_up_to_the_cap_with_jitter_in_the_upper_half() {
        let policy = RetryPolicy {
            first_delay: Duration::seconds(5),
            max_delay: Duration::hours(1),
            disable_after: Duration::days(1),
        };
        assert_eq!(policy.delay(1, 1.0), Duration::seconds(5));
        assert_eq!(policy.delay(1, 0.0), Duration::milliseconds(2500));
        assert_eq!(policy.delay(2, 1.0), Duration::seconds(10));
        assert_eq!(policy.delay(4, 1.0), Duration::seconds(40));
        assert_eq!(policy.delay(12, 1.0), Duration::hours(1));
        assert_eq!(policy.delay(u32::MAX, 0.0), Duration::minutes(30));
        let start = DateTime::<Utc>::UNIX_EPOCH;
        assert!(!policy.gives_up(start, start + Duration::hours(23)));
        assert!(policy.gives_up(start, start + Duration::days(1)));
    }
}
