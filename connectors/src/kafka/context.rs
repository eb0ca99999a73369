//! What librdkafka tells us besides the answers to requests: its log, and the
//! transport errors that explain a later timeout. librdkafka retries a broker
//! it cannot reach until a request times out, and the timeout alone says only
//! "Local: Timed out"; the context keeps the last reason a connection failed
//! so that the error can name what could not be reached, or that the
//! brokers refused the login (a wrong password must not read as a timeout).

use crate::{Error, ErrorKind};
use rdkafka::client::ClientContext;
use rdkafka::config::RDKafkaLogLevel;
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use std::sync::{Arc, Mutex, PoisonError};

/// Cloned into each client of one `Kafka`, which then share what they learn.
#[derive(Clone)]
pub struct ConnectorContext {
    brokers: Arc<str>,
    last_transport_error: Arc<Mutex<Option<(ErrorKind, String)>>>,
}

impl ConnectorContext {
    pub fn new(brokers: &str) -> ConnectorContext {
        ConnectorContext {
            brokers: brokers.into(),
            last_transport_error: Arc::new(Mutex::new(None)),
        }
    }

    fn transport_error(&self) -> Option<(ErrorKind, String)> {
        self.last_transport_error
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Keeps why the brokers could not be used. A refused login stays until
    /// a request is answered: the brokers then count as down, which is its
    /// consequence, not its cause.
    fn record(&self, kind: ErrorKind, reason: &str) {
        let mut last = self.last_transport_error.lock().unwrap_or_else(PoisonError::into_inner);
        if kind == ErrorKind::Unreachable
            && last
                .as_ref()
                .is_some_and(|(kind, _)| *kind == ErrorKind::PermissionDenied)
        {
            return;
        }
        *last = Some((kind, reason.to_string()));
    }

    /// A request answered: whatever failed before is mended.
    pub fn reached(&self) {
        *self.last_transport_error.lock().unwrap_or_else(PoisonError::into_inner) = None;
    }

    /// Whether the brokers refused the login since the last answer: waiting
    /// longer will not change that.
    pub fn login_refused(&self) -> bool {
        self.transport_error()
            .is_some_and(|(kind, _)| kind == ErrorKind::PermissionDenied)
    }

    /// Turns an rdkafka error met while `doing` something into one of ours.
    pub fn error(&self, doing: &str, error: &KafkaError) -> Error {
        let code = error.rdkafka_error_code();
        let kind = code.map_or(ErrorKind::Other, kind_of);
        match kind {
            ErrorKind::Timeout | ErrorKind::Unreachable => match self.transport_error() {
                Some((ErrorKind::PermissionDenied, reason)) => Error::new(
                    ErrorKind::PermissionDenied,
                    format!(
                        "{doing}: the Kafka brokers at {} refused the login: {reason}",
                        self.brokers
                    ),
                ),
                Some((_, reason)) => Error::new(
                    ErrorKind::Unreachable,
                    format!(
                        "{doing}: could not reach the Kafka brokers at {}: {reason}",
                        self.brokers
                    ),
                ),
                None if kind == ErrorKind::Unreachable => Error::new(
                    kind,
                    format!(
                        "{doing}: could not reach the Kafka brokers at {}: {error}",
                        self.brokers
                    ),
                ),
                None => Error::new(
                    kind,
                    format!("{doing}: the Kafka brokers at {} did not answer in time", self.brokers),
                ),
            },
            _ => Error::new(kind, format!("{doing}: {}", describe(error))),
        }
    }
}

/// librdkafka's words for a SASL login or TLS handshake that failed.
fn is_login_failure(message: &str) -> bool {
    ["SASL", "SSL handshake failed", "Authentication failed"]
        .iter()
        .any(|words| message.contains(words))
}

/// rdkafka's errors print as "Message consumption error: UnknownTopicOrPartition
/// (Broker: Unknown topic or partition)"; the broker's own words are enough.
fn describe(error: &KafkaError) -> String {
    match error.rdkafka_error_code() {
        Some(code) => code.to_string(),
        None => error.to_string(),
    }
}

pub fn kind_of(code: RDKafkaErrorCode) -> ErrorKind {
    use RDKafkaErrorCode as C;
    match code {
        C::BrokerTransportFailure | C::AllBrokersDown | C::Resolve | C::BrokerNotAvailable => ErrorKind::Unreachable,
        C::OperationTimedOut | C::RequestTimedOut | C::MessageTimedOut | C::TimedOutQueue => ErrorKind::Timeout,
        C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition => ErrorKind::NotFound,
        C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::TransactionalIdAuthorizationFailed
        | C::SaslAuthenticationFailed
        | C::Authentication
        | C::DelegationTokenAuthorizationFailed => ErrorKind::PermissionDenied,
        C::OffsetOutOfRange
        | C::InvalidArgument
        | C::InvalidPartitions
        | C::InvalidTopic
        | C::MessageSizeTooLarge
        | C::InvalidRecord
        | C::InvalidTimestamp
        | C::InvalidGroupId
        | C::Conflict => ErrorKind::InvalidRequest,
        _ => ErrorKind::Other,
    }
}

impl ClientContext for ConnectorContext {
    fn log(&self, level: RDKafkaLogLevel, facility: &str, message: &str) {
        // librdkafka repeats a failing connection's error at every retry: worth
        // a warning for operators, but its routine chatter is debug.
        match level {
            RDKafkaLogLevel::Emerg | RDKafkaLogLevel::Alert | RDKafkaLogLevel::Critical | RDKafkaLogLevel::Error => {
                tracing::warn!(target: "librdkafka", brokers = %self.brokers, "{facility}: {message}")
            }
            _ => tracing::debug!(target: "librdkafka", brokers = %self.brokers, "{facility}: {message}"),
        }
        // A failed login is logged at once, from librdkafka's own thread; its
        // error event comes only when the client is next polled, which a
        // request waiting for brokers does not do.
        if facility == "FAIL" && is_login_failure(message) {
            // "[thrd:sasl_ssl://host:port/bootstrap]: " names librdkafka's thread.
            let reason = message
                .strip_prefix("[thrd:")
                .and_then(|rest| rest.split_once("]: "))
                .map_or(message, |(_, reason)| reason);
            self.record(ErrorKind::PermissionDenied, reason);
        }
    }

    fn error(&self, error: KafkaError, reason: &str) {
        let kind = error.rdkafka_error_code().map(kind_of);
        if let Some(kind @ (ErrorKind::Unreachable | ErrorKind::PermissionDenied)) = kind {
            self.record(kind, reason);
        }
        tracing::debug!(target: "librdkafka", brokers = %self.brokers, %error, reason, "client error");
    }
}

impl ConsumerContext for ConnectorContext {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_after_a_refused_connection_says_the_brokers_are_unreachable() {
        let context = ConnectorContext::new("127.0.0.1:1");
        let timeout = KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        let error = context.error("listing topic x", &timeout);
        assert_eq!(error.kind, ErrorKind::Timeout);
        assert!(error.message.contains("did not answer in time"), "{error}");
        ClientContext::error(
            &context,
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down: Connection refused",
        );
        let error = context.error("listing topic x", &timeout);
        assert_eq!(error.kind, ErrorKind::Unreachable);
        assert_eq!(
            error.message,
            "listing topic x: could not reach the Kafka brokers at 127.0.0.1:1: 1/1 brokers are down: Connection refused"
        );
        context.reached();
        assert_eq!(context.error("x", &timeout).kind, ErrorKind::Timeout);
    }

    #[test]
    fn a_timeout_after_a_refused_login_says_so() {
        let context = ConnectorContext::new("b:9093");
        assert!(!context.login_refused());
        ClientContext::error(
            &context,
            KafkaError::Global(RDKafkaErrorCode::Authentication),
            "SASL authentication error: Authentication failed due to invalid credentials",
        );
        assert!(context.login_refused());
        // The brokers then count as down; the login stays the reason.
        ClientContext::error(
            &context,
            KafkaError::Global(RDKafkaErrorCode::AllBrokersDown),
            "1/1 brokers are down",
        );
        let timeout = KafkaError::MetadataFetch(RDKafkaErrorCode::OperationTimedOut);
        let error = context.error("listing topic x", &timeout);
        assert_eq!(error.kind, ErrorKind::PermissionDenied);
        assert!(
            error.message.contains("refused the login: SASL authentication error"),
            "{error}"
        );
    }

    #[test]
    fn broker_errors_have_kinds() {
        let context = ConnectorContext::new("b:9092");
        let unknown = KafkaError::MetadataFetch(RDKafkaErrorCode::UnknownTopicOrPartition);
        let error = context.error("reading topic nope", &unknown);
        assert_eq!(error.kind, ErrorKind::NotFound);
        assert!(error.message.starts_with("reading topic nope: "), "{error}");
        assert_eq!(
            kind_of(RDKafkaErrorCode::TopicAuthorizationFailed),
            ErrorKind::PermissionDenied
        );
        assert_eq!(kind_of(RDKafkaErrorCode::OffsetOutOfRange), ErrorKind::InvalidRequest);
        assert_eq!(kind_of(RDKafkaErrorCode::NotCoordinator), ErrorKind::Other);
    }
}
