//! The HTTP client webhooks are sent with (docs/design.md §17): one POST
//! per attempt, a timeout per attempt, no redirects, no proxy from the
//! environment, and the SSRF guard applied where the connection is made:
//! a literal address is checked before sending, a name on every address
//! it resolves to (so a name that later resolves to a private address,
//! DNS rebinding, is refused too).

use std::{net::SocketAddr, sync::Arc, time::Duration};

use reqwest::{
    Client,
    dns::{Addrs, Name, Resolve, Resolving},
    redirect,
};

use crate::domain::webhook::TargetPolicy;

/// How an attempt ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The endpoint answered with this status (2xx: delivered).
    Answered(u16),
    /// No answer: timeout, refused or reset connection, a target the guard
    /// refused.
    NoAnswer(String),
}

impl Outcome {
    pub fn accepted(&self) -> bool {
        matches!(self, Outcome::Answered(status) if (200..300).contains(status))
    }

    /// The metric label.
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Answered(status) if (200..300).contains(status) => "delivered",
            Outcome::Answered(_) => "error_status",
            Outcome::NoAnswer(_) => "no_answer",
        }
    }
}

/// A request to send: where, the signed headers, the body.
pub struct Request<'a> {
    pub url: &'a str,
    pub message_id: &'a str,
    pub timestamp: i64,
    pub signature: &'a str,
    pub body: &'a str,
}

/// Sends webhook requests.
#[derive(Clone)]
pub struct Sender {
    client: Client,
    targets: TargetPolicy,
    timeout: Duration,
}

impl Sender {
    pub fn new(targets: TargetPolicy, timeout: Duration) -> Result<Self, reqwest::Error> {
        let client = Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(redirect::Policy::none())
            .no_proxy()
            .dns_resolver(Arc::new(GuardedResolver { targets }))
            .user_agent(concat!("berth-webhooks/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Self { client, targets, timeout })
    }

    /// POSTs the request; never fails, the outcome says what happened.
    pub async fn send(&self, request: Request<'_>) -> Outcome {
        if let Err(refused) = self.targets.check(request.url) {
            return Outcome::NoAnswer(format!("target refused: the URL {refused}"));
        }
        let sent = self
            .client
            .post(request.url)
            .header("content-type", "application/json")
            .header("webhook-id", request.message_id)
            .header("webhook-timestamp", request.timestamp.to_string())
            .header("webhook-signature", request.signature)
            .body(request.body.to_owned())
            .send()
            .await;
        match sent {
            // The body is not read: the status is the answer.
            Ok(response) => Outcome::Answered(response.status().as_u16()),
            Err(err) if err.is_timeout() => {
                Outcome::NoAnswer(format!("no answer within {} ms", self.timeout.as_millis()))
            }
            Err(err) => Outcome::NoAnswer(describe(&err)),
        }
    }
}

/// The error and its causes, at most 500 characters.
fn describe(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text.chars().take(500).collect()
}

/// Resolves names with the system resolver and keeps only the addresses
/// the target policy admits; none left is an error, so nothing connects.
struct GuardedResolver {
    targets: TargetPolicy,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let targets = self.targets;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let admitted: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.filter(|addr| targets.admits(addr.ip())).collect();
            if admitted.is_empty() {
                return Err(format!("target refused: {host} resolves to no public address").into());
            }
            Ok(Box::new(admitted.into_iter()) as Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use super::*;

    /// A name that resolves to loopback is refused where the connection is
    /// made, whatever the URL looked like when it was registered.
    #[tokio::test]
    async fn names_resolving_to_private_addresses_are_refused() {
        let strict = GuardedResolver { targets: TargetPolicy::default() };
        let refused = strict.resolve(Name::from_str("localhost").unwrap()).await;
        let message = refused.err().expect("localhost must be refused").to_string();
        assert!(message.contains("no public address"), "{message}");

        let open = GuardedResolver { targets: TargetPolicy { allow_http: true, allow_private: true } };
        let addrs: Vec<_> = open.resolve(Name::from_str("localhost").unwrap()).await.unwrap().collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[tokio::test]
    async fn a_literal_private_address_is_never_sent_to() {
        let sender =
            Sender::new(TargetPolicy { allow_http: true, allow_private: false }, Duration::from_secs(1)).unwrap();
        let outcome = sender
            .send(Request {
                url: "http://127.0.0.1:9/",
                message_id: "msg_1",
                timestamp: 0,
                signature: "v1,x",
                body: "{}",
            })
            .await;
        assert!(matches!(&outcome, Outcome::NoAnswer(why) if why.starts_with("target refused")), "{outcome:?}");
    }
}
