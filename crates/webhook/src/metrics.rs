//! The webhook's Prometheus metrics (`GET /metrics`). Labels are bounded:
//! outcomes and methods are fixed words; no pod, namespace or role names.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Outcome {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct MethodLabel {
    method: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Build {
    version: &'static str,
}

/// One webhook's metrics.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requests: Family<Outcome, Counter>,
    mutations: Family<MethodLabel, Counter>,
    misses: Counter,
    fetches: Family<Outcome, Counter>,
    watch_errors: Counter,
    latency: Histogram,
    cached: Gauge,
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::default();
        let requests = Family::<Outcome, Counter>::default();
        registry.register(
            "irsa_webhook_admissions",
            "Admission reviews by outcome (mutated, unchanged, ignored, rejected, unavailable)",
            requests.clone(),
        );
        let mutations = Family::<MethodLabel, Counter>::default();
        registry.register(
            "irsa_webhook_mutations",
            "Pods given credentials, by method (sts_web_identity, container_credentials)",
            mutations.clone(),
        );
        let misses = Counter::default();
        registry.register(
            "irsa_webhook_cache_misses",
            "Pods whose ServiceAccount was not in the cache",
            misses.clone(),
        );
        let fetches = Family::<Outcome, Counter>::default();
        registry.register(
            "irsa_webhook_api_fetches",
            "ServiceAccount GETs on cache misses, by outcome (found, not_found, timeout, error)",
            fetches.clone(),
        );
        let watch_errors = Counter::default();
        registry.register(
            "irsa_webhook_watch_errors",
            "Errors of the ServiceAccount list+watch (retried with backoff)",
            watch_errors.clone(),
        );
        let latency = Histogram::new(exponential_buckets(0.000_025, 2.0, 16));
        registry.register(
            "irsa_webhook_admission_duration_seconds",
            "Time to answer an admission review",
            latency.clone(),
        );
        let cached = Gauge::default();
        registry.register(
            "irsa_webhook_service_accounts",
            "ServiceAccounts in the cache",
            cached.clone(),
        );
        let build = Family::<Build, Gauge>::default();
        registry.register(
            "irsa_webhook_build_info",
            "Build information",
            build.clone(),
        );
        build
            .get_or_create(&Build {
                version: env!("CARGO_PKG_VERSION"),
            })
            .set(1);
        Metrics {
            registry,
            requests,
            mutations,
            misses,
            fetches,
            watch_errors,
            latency,
            cached,
        }
    }
}

impl Metrics {
    /// Counts an answered review.
    pub fn request(&self, outcome: &'static str, took: Duration) {
        self.requests.get_or_create(&Outcome { outcome }).inc();
        self.latency.observe(took.as_secs_f64());
    }

    /// Counts a mutation.
    pub fn mutation(&self, method: &'static str) {
        self.mutations.get_or_create(&MethodLabel { method }).inc();
    }

    /// Counts a cache miss.
    pub fn miss(&self) {
        self.misses.inc();
    }

    /// Counts an API fetch.
    pub fn fetch(&self, outcome: &'static str) {
        self.fetches.get_or_create(&Outcome { outcome }).inc();
    }

    /// Counts a watch error.
    pub fn watch_error(&self) {
        self.watch_errors.inc();
    }

    /// The text exposition, with the cache size now.
    pub fn render(&self, cached: usize) -> String {
        self.cached.set(i64::try_from(cached).unwrap_or(i64::MAX));
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}
