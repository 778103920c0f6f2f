//! Prometheus metrics (`GET /metrics`, text format). Label values are bounded:
//! actions are known names or `unknown`, accounts and roles come from the
//! store, issuers from registered providers; never a token or session name.

use std::sync::LazyLock;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use std::sync::atomic::AtomicU64;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    service: String,
    action: String,
    outcome: String,
    error_code: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct LatencyLabels {
    service: String,
    action: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CredentialLabels {
    account: String,
    role: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FetchLabels {
    issuer: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct IssuerLabels {
    issuer: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RefusedLabels {
    reason: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: String,
}

fn latency_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.000_05, 2.0, 16))
}

struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    latency: Family<LatencyLabels, Histogram, fn() -> Histogram>,
    credentials: Family<CredentialLabels, Counter>,
    fetches: Family<FetchLabels, Counter>,
    audit_batch: Histogram,
    audit_commit: Histogram,
    key_age: Family<IssuerLabels, Gauge<f64, AtomicU64>>,
    connections_open: Gauge,
    connections_refused: Family<RefusedLabels, Counter>,
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::default();
    let requests = Family::<RequestLabels, Counter>::default();
    registry.register(
        "irsa_requests",
        "AWS API requests by service, action, outcome and error code",
        requests.clone(),
    );
    let latency = Family::<LatencyLabels, Histogram, fn() -> Histogram>::new_with_constructor(
        latency_histogram as fn() -> Histogram,
    );
    registry.register(
        "irsa_request_duration_seconds",
        "Time to answer AWS API requests",
        latency.clone(),
    );
    let credentials = Family::<CredentialLabels, Counter>::default();
    registry.register(
        "irsa_credentials_issued",
        "Role sessions issued, by account and role",
        credentials.clone(),
    );
    let fetches = Family::<FetchLabels, Counter>::default();
    registry.register(
        "irsa_oidc_jwks_fetch",
        "Fetches of OIDC issuers' keys, by issuer and outcome",
        fetches.clone(),
    );
    let audit_batch = Histogram::new(exponential_buckets(1.0, 2.0, 10));
    registry.register(
        "irsa_audit_batch_size",
        "Events per audit commit",
        audit_batch.clone(),
    );
    let audit_commit = Histogram::new(exponential_buckets(0.000_1, 2.0, 14));
    registry.register(
        "irsa_audit_commit_seconds",
        "Time of one audit commit (fsync included)",
        audit_commit.clone(),
    );
    let key_age = Family::<IssuerLabels, Gauge<f64, AtomicU64>>::default();
    registry.register(
        "irsa_oidc_key_cache_age_seconds",
        "Age of each issuer's cached keys",
        key_age.clone(),
    );
    let connections_open = Gauge::default();
    registry.register(
        "irsa_connections_open",
        "Client connections open now",
        connections_open.clone(),
    );
    let connections_refused = Family::<RefusedLabels, Counter>::default();
    registry.register(
        "irsa_connections_refused",
        "Connections closed unserved: per_address (the client address had its cap), handshake_timeout (nothing sent in time)",
        connections_refused.clone(),
    );
    let build = Family::<BuildLabels, Gauge>::default();
    registry.register("irsa_build_info", "Build information", build.clone());
    build
        .get_or_create(&BuildLabels {
            version: env!("CARGO_PKG_VERSION").to_string(),
        })
        .set(1);
    Metrics {
        registry,
        requests,
        latency,
        credentials,
        fetches,
        audit_batch,
        audit_commit,
        key_age,
        connections_open,
        connections_refused,
    }
});

/// Counts and times one answered request.
pub(crate) fn request(service: &str, action: &str, error_code: Option<&str>, took: Duration) {
    let m = &*METRICS;
    let action = if error_code == Some("InvalidAction")
        || action.len() > 64
        || !action.chars().all(|c| c.is_ascii_alphanumeric())
    {
        "unknown"
    } else {
        action
    };
    m.requests
        .get_or_create(&RequestLabels {
            service: service.to_string(),
            action: action.to_string(),
            outcome: if error_code.is_some() {
                "error"
            } else {
                "success"
            }
            .to_string(),
            error_code: error_code.unwrap_or("").to_string(),
        })
        .inc();
    m.latency
        .get_or_create(&LatencyLabels {
            service: service.to_string(),
            action: action.to_string(),
        })
        .observe(took.as_secs_f64());
}

/// Counts an issued role session.
pub(crate) fn credentials_issued(account: &str, role: &str) {
    METRICS
        .credentials
        .get_or_create(&CredentialLabels {
            account: account.to_string(),
            role: role.to_string(),
        })
        .inc();
}

/// Counts a fetch of an issuer's keys.
pub(crate) fn jwks_fetch(issuer: &str, ok: bool) {
    METRICS
        .fetches
        .get_or_create(&FetchLabels {
            issuer: issuer.to_string(),
            outcome: if ok { "success" } else { "error" }.to_string(),
        })
        .inc();
}

/// Records one audit commit.
pub(crate) fn audit_batch(size: usize, took: Duration) {
    METRICS.audit_batch.observe(size as f64);
    METRICS.audit_commit.observe(took.as_secs_f64());
}

/// The metrics in Prometheus text format, with the issuers' key cache ages
/// and the listener's connection counts read now.
pub(crate) fn render(key_ages: &[(String, f64)], gate: Option<&listen::Gate>) -> String {
    for (issuer, age) in key_ages {
        METRICS
            .key_age
            .get_or_create(&IssuerLabels {
                issuer: issuer.clone(),
            })
            .set(*age);
    }
    if let Some(gate) = gate {
        let m = &*METRICS;
        m.connections_open
            .set(i64::try_from(gate.open()).unwrap_or(i64::MAX));
        let c = &gate.counters;
        for (reason, total) in [
            ("per_address", &c.refused_per_address),
            ("handshake_timeout", &c.handshake_timeouts),
        ] {
            let counter = m.connections_refused.get_or_create(&RefusedLabels {
                reason: reason.to_string(),
            });
            let total = total.load(std::sync::atomic::Ordering::Relaxed);
            counter.inc_by(total.saturating_sub(counter.get()));
        }
    }
    let mut out = String::new();
    if prometheus_client::encoding::text::encode(&mut out, &METRICS.registry).is_err() {
        out.clear();
    }
    out
}
