//! Issuer keys: where the keys that verify a web identity token come from.
//!
//! A local cluster's issuer lives under this server (`PUBLIC_URL/oidc/id/ID`),
//! so its keys come from the store. Any other issuer's keys are fetched:
//! `ISSUER/.well-known/openid-configuration` → `jwks_uri` → JWKS, over https
//! (plain http only for a loopback host), with bounded timeouts and size. Keys
//! are fetched only for a registered provider, from the provider's own URL
//! (never from a token's `iss` text), so what a token names cannot cause a
//! fetch, a metric series or a log line. They are cached (honouring
//! `Cache-Control: max-age`); stale keys keep answering while one background
//! refresh per issuer runs; a token naming an unknown `kid` causes at most one
//! fetch per 30 s; concurrent callers share one fetch; failures back off
//! exponentially (1 s doubling to 256 s) and keys that worked stay in use.
//! A failure with nothing cached is answered as AWS answers it:
//! `InvalidIdentityToken` with "Couldn't retrieve verification key from your
//! identity provider, …" (captured, awslabs/aws-sdk-rust#827).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use oidc::{Jwk, Jwks, SigningKey};

use crate::error::ApiError;
use crate::state::State;

/// How long retired keys of a local cluster stay published: longer than any
/// token `irsa token` mints (7 days).
pub(crate) const RETIRED_KEY_SECONDS: i64 = 7 * 86_400;
const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
const MAX_DOCUMENT_BYTES: usize = 1 << 20;
const REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// How long a local cluster's keys are cached: a key revoked by
/// `irsa cluster rotate-key --revoke-previous` stops verifying within this.
pub(crate) const LOCAL_TTL: Duration = Duration::from_secs(1);
const DEFAULT_TTL: Duration = Duration::from_secs(3600);

struct Cached {
    keys: Vec<Jwk>,
    fetched: Instant,
    ttl: Duration,
}

/// The last fetch attempt of an issuer and the failures since its last success.
#[derive(Clone, Copy)]
struct Attempt {
    at: Instant,
    failures: u32,
}

impl Attempt {
    /// How long after this attempt the next may start: after a success, at
    /// once if the keys went stale, else [`REFETCH_INTERVAL`] (a new `kid` is
    /// rare); 1 s doubling to [`MAX_BACKOFF`] after failures.
    fn wait(&self, stale: bool) -> Duration {
        match self.failures {
            0 if stale => Duration::ZERO,
            0 => REFETCH_INTERVAL,
            n => Duration::from_secs(1u64 << n.min(9).saturating_sub(1)).min(MAX_BACKOFF),
        }
    }
}

const MAX_BACKOFF: Duration = Duration::from_secs(256);

type Flight = Arc<tokio::sync::OnceCell<Result<Vec<Jwk>, String>>>;

/// Fetches and caches issuers' keys.
pub(crate) struct IssuerKeys {
    inner: Arc<Fetcher>,
}

struct Fetcher {
    http: reqwest::Client,
    cache: Mutex<HashMap<String, Cached>>,
    attempts: Mutex<HashMap<String, Attempt>>,
    /// Fetches running now, shared by every caller that needs them.
    flights: Mutex<HashMap<String, Flight>>,
}

impl std::fmt::Debug for IssuerKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("IssuerKeys")
    }
}

/// AWS's answer when no key can be had; the cause is logged where it
/// happened (once per fetch), not once per refused call.
fn idp_error() -> ApiError {
    ApiError::new(
        "InvalidIdentityToken",
        axum::http::StatusCode::BAD_REQUEST,
        "Couldn't retrieve verification key from your identity provider,  please reference AssumeRoleWithWebIdentity documentation for requirements",
    )
}

/// `url` parsed, if irsa may trust an issuer there and fetch from it: https,
/// or plain http to a loopback host (local clusters and tests, where no one
/// else can answer), never with a user name or password. The host decided on
/// is the one the HTTP client will connect to: `http://localhost:1@127.0.0.2`
/// has userinfo and is refused, `http://127.1` is 127.0.0.1.
pub(crate) fn issuer_url(url: &str) -> Result<url::Url, &'static str> {
    let parsed = url::Url::parse(url).map_err(|_| "the URL is not valid")?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("the URL must not contain a user name or password");
    }
    if parsed.host().is_none() {
        return Err("the URL has no host");
    }
    match parsed.scheme() {
        "https" => Ok(parsed),
        "http" if is_loopback(&parsed) => Ok(parsed),
        "http" => Err("the URL must begin with https:// (http:// only for a loopback host)"),
        _ => Err("the URL must begin with https://"),
    }
}

fn is_loopback(url: &url::Url) -> bool {
    match url.host() {
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    }
}

/// Whether `url` may be fetched (see [`issuer_url`]); every redirect is
/// checked too.
pub(crate) fn fetchable(url: &str) -> bool {
    issuer_url(url).is_ok()
}

/// Redirects are followed (at most 3) only to URLs irsa may fetch: an https
/// issuer cannot send the key fetch to plain http or to a URL with userinfo.
fn redirect_policy() -> reqwest::redirect::Policy {
    reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() >= 3 {
            attempt.error("more than 3 redirects")
        } else if fetchable(attempt.url().as_str()) {
            attempt.follow()
        } else {
            attempt.error("redirected to a URL irsa may not fetch (https only, no userinfo)")
        }
    })
}

fn max_age(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::CACHE_CONTROL)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.split(',')
                .find_map(|d| d.trim().strip_prefix("max-age=")?.parse::<u64>().ok())
        })
        .map(|s| Duration::from_secs(s.clamp(1, 86_400)))
        .unwrap_or(DEFAULT_TTL)
}

impl IssuerKeys {
    pub(crate) fn new(ca_pem: Option<&[u8]>) -> Result<IssuerKeys, String> {
        let mut builder = reqwest::Client::builder();
        if let Some(pem) = ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| format!("the CA file holds no PEM certificate: {e}"))?;
            if certs.is_empty() {
                return Err("the CA file holds no PEM certificate".into());
            }
            for cert in certs {
                builder = builder.add_root_certificate(cert);
            }
        }
        let http = builder
            .timeout(FETCH_TIMEOUT)
            .connect_timeout(FETCH_TIMEOUT)
            .redirect(redirect_policy())
            .user_agent(concat!("irsa/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot build the HTTP client: {e}"))?;
        Ok(IssuerKeys {
            inner: Arc::new(Fetcher {
                http,
                cache: Mutex::new(HashMap::new()),
                attempts: Mutex::new(HashMap::new()),
                flights: Mutex::new(HashMap::new()),
            }),
        })
    }

    /// Seconds since each cached issuer's keys were fetched.
    pub(crate) fn ages(&self) -> Vec<(String, f64)> {
        self.inner
            .cache
            .lock()
            .map(|c| {
                c.iter()
                    .map(|(i, c)| (i.clone(), c.fetched.elapsed().as_secs_f64()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The keys to verify a token naming `kid` of the registered provider
    /// whose URL is `issuer` (the provider's, not the token's text).
    pub(crate) async fn keys(
        &self,
        state: &State,
        issuer: &str,
        kid: Option<&str>,
    ) -> Result<Vec<Jwk>, ApiError> {
        let f = &self.inner;
        let cached = f
            .cached(issuer)
            .filter(|(keys, _)| kid.is_none() || keys.iter().any(|k| k.kid.as_deref() == kid));
        if let Some(id) = issuer.strip_prefix(&format!("{}/oidc/id/", state.public_url)) {
            // A local cluster's keys come from the store, never stale.
            if let Some((keys, true)) = cached {
                return Ok(keys);
            }
            let keys = local_keys(state, id, crate::time::now())?;
            f.remember(issuer, keys.clone(), LOCAL_TTL);
            return Ok(keys);
        }
        if let Some((keys, fresh)) = &cached {
            if !fresh {
                // Stale keys answer now; one refresh runs behind them.
                Fetcher::refresh_in_background(f, issuer);
            }
            return Ok(keys.clone());
        }
        // An unknown kid, or nothing cached: fetch now, sharing a fetch in
        // flight, within the issuer's rate limit.
        let fetched = match f.join_flight(issuer) {
            Some(flight) => Fetcher::fly(f, issuer, flight).await,
            None if f.may_fetch(issuer, false) => {
                let flight = f.start_flight(issuer);
                Fetcher::fly(f, issuer, flight).await
            }
            None => Err("rate-limited".to_string()),
        };
        match (fetched, f.cached(issuer)) {
            (Ok(keys), _) => Ok(keys),
            // Keys that worked before keep working while the issuer is down.
            (Err(_), Some((keys, _))) => Ok(keys),
            (Err(_), None) => Err(idp_error()),
        }
    }
}

impl Fetcher {
    fn cached(&self, issuer: &str) -> Option<(Vec<Jwk>, bool)> {
        let cache = self.cache.lock().ok()?;
        let c = cache.get(issuer)?;
        Some((c.keys.clone(), c.fetched.elapsed() < c.ttl))
    }

    fn remember(&self, issuer: &str, keys: Vec<Jwk>, ttl: Duration) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(
                issuer.to_string(),
                Cached {
                    keys,
                    fetched: Instant::now(),
                    ttl,
                },
            );
        }
    }

    /// Whether a new fetch of `issuer` may start now (see [`Attempt::wait`]);
    /// if so, records it as started.
    fn may_fetch(&self, issuer: &str, stale: bool) -> bool {
        let Ok(mut attempts) = self.attempts.lock() else {
            return false;
        };
        let last = attempts.get(issuer).copied();
        if last.is_some_and(|a| a.at.elapsed() < a.wait(stale)) {
            return false;
        }
        attempts.insert(
            issuer.to_string(),
            Attempt {
                at: Instant::now(),
                failures: last.map_or(0, |a| a.failures),
            },
        );
        true
    }

    fn join_flight(&self, issuer: &str) -> Option<Flight> {
        self.flights.lock().ok()?.get(issuer).cloned()
    }

    fn start_flight(&self, issuer: &str) -> Flight {
        let flight = Flight::default();
        if let Ok(mut flights) = self.flights.lock() {
            flights.insert(issuer.to_string(), Arc::clone(&flight));
        }
        flight
    }

    /// Runs `flight`'s fetch (or waits for whoever runs it) and its outcome.
    async fn fly(this: &Arc<Fetcher>, issuer: &str, flight: Flight) -> Result<Vec<Jwk>, String> {
        let result = flight
            .get_or_init(|| async {
                let fetched = this.fetch(issuer).await;
                crate::metrics::jwks_fetch(issuer, fetched.is_ok());
                let failures = match &fetched {
                    Ok((keys, ttl)) => {
                        this.remember(issuer, keys.clone(), *ttl);
                        0
                    }
                    Err(e) => {
                        tracing::warn!(issuer, error = %e, "cannot fetch the issuer's keys");
                        this.attempts
                            .lock()
                            .ok()
                            .and_then(|a| a.get(issuer).map(|a| a.failures))
                            .unwrap_or(0)
                            .saturating_add(1)
                    }
                };
                if let Ok(mut attempts) = this.attempts.lock() {
                    attempts.insert(
                        issuer.to_string(),
                        Attempt {
                            at: Instant::now(),
                            failures,
                        },
                    );
                }
                fetched.map(|(keys, _)| keys)
            })
            .await
            .clone();
        if let Ok(mut flights) = this.flights.lock()
            && flights.get(issuer).is_some_and(|f| Arc::ptr_eq(f, &flight))
        {
            flights.remove(issuer);
        }
        result
    }

    fn refresh_in_background(this: &Arc<Fetcher>, issuer: &str) {
        if this.join_flight(issuer).is_some() || !this.may_fetch(issuer, true) {
            return;
        }
        let flight = this.start_flight(issuer);
        let this = Arc::clone(this);
        let issuer = issuer.to_string();
        tokio::spawn(async move {
            let _ = Fetcher::fly(&this, &issuer, flight).await;
        });
    }

    async fn get(&self, url: &str) -> Result<(String, Duration), String> {
        if !fetchable(url) {
            return Err(format!(
                "refusing to fetch `{url}`: https is required (http only for loopback)"
            ));
        }
        let resp = self
            .http
            .get(url)
            .send()
            .await
            .map_err(|e| format!("GET {url}: {e}"))?;
        if !resp.status().is_success() {
            return Err(format!("GET {url}: status {}", resp.status()));
        }
        if resp
            .content_length()
            .is_some_and(|n| n > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(format!("GET {url}: document too large"));
        }
        let ttl = max_age(resp.headers());
        let bytes = resp.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(format!("GET {url}: document too large"));
        }
        Ok((String::from_utf8_lossy(&bytes).into_owned(), ttl))
    }

    async fn fetch(&self, issuer: &str) -> Result<(Vec<Jwk>, Duration), String> {
        let (discovery, _) = self
            .get(&format!("{issuer}/.well-known/openid-configuration"))
            .await?;
        let doc: serde_json::Value = serde_json::from_str(&discovery)
            .map_err(|e| format!("discovery document of {issuer} is not JSON: {e}"))?;
        let named = doc
            .get("issuer")
            .and_then(|v| v.as_str())
            .unwrap_or_default();
        if named.trim_end_matches('/') != issuer.trim_end_matches('/') {
            return Err(format!(
                "discovery document of {issuer} names another issuer"
            ));
        }
        let jwks_uri = doc
            .get("jwks_uri")
            .and_then(|v| v.as_str())
            .ok_or_else(|| format!("discovery document of {issuer} has no jwks_uri"))?;
        let (jwks, ttl) = self.get(jwks_uri).await?;
        let keys = Jwks::parse(&jwks)?.keys;
        if keys.is_empty() {
            return Err(format!("{jwks_uri} holds no signing key"));
        }
        Ok((keys, ttl))
    }
}

/// The published keys of a local cluster: the current one and those retired
/// less than [`RETIRED_KEY_SECONDS`] ago.
pub(crate) fn local_keys(state: &State, issuer_id: &str, now: i64) -> Result<Vec<Jwk>, ApiError> {
    let Some(cluster) = state.store.cluster_by_issuer(issuer_id)? else {
        return Err(idp_error());
    };
    state
        .store
        .cluster_keys(&cluster.name)?
        .into_iter()
        .filter(|k| k.retired.is_none_or(|r| now - r < RETIRED_KEY_SECONDS))
        .map(|k| {
            SigningKey::from_pkcs8(&k.pkcs8)
                .map(|s| s.jwk())
                .map_err(ApiError::internal)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_https_or_loopback_http() {
        assert!(fetchable(
            "https://oidc.eks.us-east-1.amazonaws.com/id/X/.well-known/openid-configuration"
        ));
        assert!(fetchable("http://127.0.0.1:4599/oidc/id/X/keys"));
        assert!(fetchable("http://localhost/x"));
        assert!(!fetchable("http://example.com/keys"));
        assert!(!fetchable("http://127.0.0.1.nip.io/keys"));
        assert!(!fetchable("file:///etc/passwd"));
    }

    /// Issue 11, finding 6: the host is the one the client connects to.
    #[test]
    fn r11_6_userinfo_is_refused_and_the_real_host_decides() {
        for bad in [
            "http://localhost:1@127.0.0.2:4702",
            "http://localhost@evil.example/x",
            "http://127.0.0.1:80@evil.example/x",
            "https://user:pass@oidc.example.com/id/X",
            "https://user@oidc.example.com/id/X",
            "http://127.0.0.1.nip.io/x",
            "http://[::2]/x",
            "http://10.0.0.1/x",
            "ftp://127.0.0.1/x",
            "http://",
            "not a url",
        ] {
            assert!(issuer_url(bad).is_err(), "{bad}");
        }
        for good in [
            "http://127.0.0.2:4702/x",
            "http://127.1/x",
            "http://[::1]:4599/x",
            "http://LOCALHOST/x",
            "https://oidc.eks.us-east-1.amazonaws.com/id/ABC",
        ] {
            assert!(issuer_url(good).is_ok(), "{good}");
        }
    }

    #[test]
    fn failures_back_off_exponentially_and_stale_keys_refresh_at_once() {
        let at = |failures| Attempt {
            at: Instant::now(),
            failures,
        };
        assert_eq!(at(0).wait(true), Duration::ZERO);
        assert_eq!(at(0).wait(false), REFETCH_INTERVAL);
        let waits: Vec<u64> = (1..=12).map(|n| at(n).wait(true).as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 32, 64, 128, 256, 256, 256, 256]);
        assert!(at(u32::MAX).wait(false) <= MAX_BACKOFF);
    }

    #[test]
    fn a_ca_file_without_certificates_is_refused() {
        assert!(IssuerKeys::new(Some(b"not a certificate")).is_err());
        assert!(IssuerKeys::new(None).is_ok());
    }

    #[test]
    fn cache_control_is_honoured_within_bounds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(max_age(&h), DEFAULT_TTL);
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "public, max-age=600".parse().unwrap(),
        );
        assert_eq!(max_age(&h), Duration::from_secs(600));
        h.insert(reqwest::header::CACHE_CONTROL, "max-age=0".parse().unwrap());
        assert_eq!(max_age(&h), Duration::from_secs(1));
        h.insert(
            reqwest::header::CACHE_CONTROL,
            "max-age=99999999".parse().unwrap(),
        );
        assert_eq!(max_age(&h), Duration::from_secs(86_400));
    }
}
