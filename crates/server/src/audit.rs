//! The audit trail: one CloudTrail record per IAM and STS call, success or
//! failure, durable before the answer leaves.
//!
//! Records go to a writer thread that commits them in batches shared by
//! concurrent requests (group commit) on its own SQLite connection; each
//! request waits for its batch's commit, never for a transaction of its own.
//! A credential is never returned whose event is not on disk: a failed audit
//! write turns the answer into an `InternalFailure`. Secrets never enter a
//! record: no token, secret key or session token.
//!
//! Record schema: <https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-record-contents.html>

use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, sync_channel};

use serde::Serialize;
use serde::ser::SerializeMap;
use store::{AuditEvent, Store};

use crate::auth::{Caller, Origin};
use crate::error::ApiError;
use crate::protocol::query::Params;
use crate::time::iso8601;

/// Most events one commit carries.
const MAX_BATCH: usize = 512;
/// Requests waiting for the writer before new ones are refused.
const QUEUE: usize = 8192;

/// Where events go besides the store.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    /// Also append every record as a JSON line to this file.
    pub log_file: Option<PathBuf>,
}

struct Pending {
    event: AuditEvent,
    /// Whether the event is also staged with its change (and is dropped from
    /// the store's outbox once the trail has it).
    staged: bool,
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The audit writer.
pub struct Auditor {
    tx: SyncSender<Pending>,
    /// Ids of staged events the trail now holds, for the next change's
    /// transaction to drop from the outbox (no write of its own, no
    /// contention for `irsa.db`'s lock).
    appended: Arc<std::sync::Mutex<Vec<String>>>,
    /// The last commit's failure, if the last commit failed.
    failing: Arc<std::sync::Mutex<Option<(std::time::Instant, String)>>>,
}

/// How long after a failed commit `/readyz` reports the trail as failing; a
/// later success clears it at once. The probe retries after this so that a
/// server taken out of rotation can come back once the disk has room.
const FAILING_FOR: std::time::Duration = std::time::Duration::from_secs(5);

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auditor")
    }
}

impl Auditor {
    /// Starts the writer thread on `store` (give it its own connection).
    pub fn start(
        store: Arc<dyn Store + Send + Sync>,
        config: AuditConfig,
    ) -> Result<Auditor, String> {
        let log = match &config.log_file {
            Some(path) => Some(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)
                    .map_err(|e| format!("--audit-log `{}`: {e}", path.display()))?,
            ),
            None => None,
        };
        let (tx, rx) = sync_channel(QUEUE);
        let appended = Arc::new(std::sync::Mutex::new(Vec::new()));
        let failing = Arc::new(std::sync::Mutex::new(None));
        let (shared, health) = (appended.clone(), failing.clone());
        std::thread::Builder::new()
            .name("irsa-audit".into())
            .spawn(move || writer(store.as_ref(), rx, log, &shared, &health))
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
        Ok(Auditor {
            tx,
            appended,
            failing,
        })
    }

    /// Why the trail cannot be written, if its last commit failed recently.
    pub(crate) fn trouble(&self) -> Option<String> {
        let failing = self.failing.lock().ok()?;
        failing
            .as_ref()
            .filter(|(at, _)| at.elapsed() < FAILING_FOR)
            .map(|(_, why)| why.clone())
    }

    /// Records an event and waits until it is committed.
    pub(crate) async fn record(&self, event: AuditEvent) -> Result<(), ApiError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .try_send(Pending {
                event,
                staged: false,
                done,
            })
            .map_err(|e| unavailable(&format!("its queue is full ({e})")))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(unavailable(&e)),
            Err(_) => Err(unavailable("its writer stopped")),
        }
    }
}

impl Auditor {
    /// Takes the ids of staged events the trail holds (see
    /// [`Store::unstage_events`]); [`Auditor::give_back`] returns them if the
    /// transaction that was to drop them did not commit.
    pub(crate) fn take_appended(&self) -> Vec<String> {
        self.appended
            .lock()
            .map(|mut ids| std::mem::take(&mut *ids))
            .unwrap_or_default()
    }

    /// Returns ids taken by [`Auditor::take_appended`] and not dropped.
    pub(crate) fn give_back(&self, ids: Vec<String>) {
        if let Ok(mut all) = self.appended.lock() {
            all.extend(ids);
        }
    }

    /// Moves the event of a committed change, already staged in the change's
    /// transaction, to the trail and waits for it. The change stands whatever
    /// happens here: if the trail cannot take the event now, it stays staged
    /// and is appended when the store is next opened.
    pub(crate) async fn record_staged(&self, event: AuditEvent) {
        let (done, wait) = tokio::sync::oneshot::channel();
        let sent = self.tx.try_send(Pending {
            event,
            staged: true,
            done,
        });
        let result = match sent {
            Ok(()) => wait
                .await
                .unwrap_or_else(|_| Err("the audit writer stopped".into())),
            Err(e) => Err(format!("audit queue: {e}")),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "a change's audit event stays staged until the next start");
        }
    }
}

/// A call that cannot be audited is not answered (the trail is durable before
/// the answer): 503, so that clients retry, naming the cause.
fn unavailable(why: &str) -> ApiError {
    ApiError::new(
        "ServiceUnavailable",
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "irsa cannot write its audit trail ({why}) and answers no call it cannot audit; see /readyz"
        ),
    )
}

fn writer(
    store: &(dyn Store + Send + Sync),
    rx: Receiver<Pending>,
    mut log: Option<std::fs::File>,
    appended: &std::sync::Mutex<Vec<String>>,
    failing: &std::sync::Mutex<Option<(std::time::Instant, String)>>,
) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let staged: Vec<String> = batch
            .iter()
            .filter(|p| p.staged)
            .map(|p| p.event.id.clone())
            .collect();
        let (events, waiting): (Vec<AuditEvent>, Vec<_>) =
            batch.into_iter().map(|p| (p.event, p.done)).unzip();
        let started = std::time::Instant::now();
        let result = store.append_events(&events).map_err(|e| e.to_string());
        if let Ok(mut failing) = failing.lock() {
            match &result {
                Ok(()) => *failing = None,
                Err(e) => {
                    if failing.is_none() {
                        tracing::error!(error = %e, "the audit trail cannot be written; calls are refused until it can");
                    }
                    *failing = Some((std::time::Instant::now(), e.clone()));
                }
            }
        }
        if result.is_ok()
            && !staged.is_empty()
            && let Ok(mut ids) = appended.lock()
        {
            // Bounded: the next change drops them; a restart drops them all.
            if ids.len() < 100_000 {
                ids.extend(staged);
            }
        }
        crate::metrics::audit_batch(events.len(), started.elapsed());
        if let (Ok(()), Some(file)) = (&result, log.as_mut()) {
            let mut lines = String::new();
            for e in &events {
                lines.push_str(&e.record);
                lines.push('\n');
            }
            if let Err(e) = file.write_all(lines.as_bytes()).and_then(|()| file.flush()) {
                tracing::error!(error = %e, "cannot append to the audit log file");
            }
        }
        for done in waiting {
            let _ = done.send(result.clone());
        }
    }
}

/// Deletes events older than `retention_seconds`, in small batches, forever.
pub async fn expire(store: Arc<dyn Store + Send + Sync>, retention_seconds: i64) {
    loop {
        let cutoff = (crate::time::now() - retention_seconds) * 1000;
        loop {
            match store.delete_events_before(cutoff, 1000) {
                Ok(1000) => tokio::task::yield_now().await,
                Ok(_) => break,
                Err(e) => {
                    tracing::error!(error = %e, "audit retention");
                    break;
                }
            }
        }
        tokio::time::sleep(std::time::Duration::from_secs(60)).await;
    }
}

/// What one call did, as the trail records it.
pub(crate) struct Call<'a> {
    pub(crate) service: &'a str,
    pub(crate) action: &'a str,
    pub(crate) params: &'a Params,
    pub(crate) caller: Option<&'a Caller>,
    pub(crate) origin: &'a Origin,
    pub(crate) request_id: &'a str,
    pub(crate) now: i64,
    /// The XML result (success) or the error.
    pub(crate) outcome: Result<&'a str, &'a ApiError>,
}

/// Parameters never recorded: tokens and secrets.
const SECRET_PARAMS: &[&str] = &["WebIdentityToken", "SAMLAssertion", "Action", "Version"];

/// `requestParameters`: the call's parameters with camelCase names, minus
/// secrets and signing parameters (null when nothing is left).
struct RequestParameters<'a> {
    params: &'a Params,
    /// Set for calls nobody signed: what an unauthenticated caller can make
    /// the trail store is bounded (see [`UNSIGNED_VALUE_LIMIT`]).
    unsigned: bool,
}

/// Longest parameter value recorded for an unsigned call, in characters (the
/// longest STS accepts there is a 2,048-character session policy).
const UNSIGNED_VALUE_LIMIT: usize = 2048;
/// Most parameters recorded for an unsigned call (STS takes fewer than 40).
const UNSIGNED_PARAMS_LIMIT: usize = 64;

impl RequestParameters<'_> {
    /// `(name, value)` of what is recorded: no secret or signing parameter, a
    /// repeated name once with its first value, and for unsigned calls at
    /// most [`UNSIGNED_PARAMS_LIMIT`] values of at most
    /// [`UNSIGNED_VALUE_LIMIT`] characters.
    fn recorded(&self) -> Vec<(&str, &str)> {
        let most = if self.unsigned {
            UNSIGNED_PARAMS_LIMIT
        } else {
            usize::MAX
        };
        let mut seen = std::collections::HashSet::new();
        let mut out = Vec::new();
        for (k, v) in self.params.pairs() {
            if out.len() >= most {
                break;
            }
            let secret = SECRET_PARAMS.contains(&k.as_str()) || k.starts_with("X-Amz-");
            if secret || !seen.insert(k.as_str()) {
                continue;
            }
            let v = match v.char_indices().nth(UNSIGNED_VALUE_LIMIT) {
                Some((end, _)) if self.unsigned => v.get(..end).unwrap_or_default(),
                _ => v.as_str(),
            };
            out.push((k.as_str(), v));
        }
        out
    }
}

impl Serialize for RequestParameters<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let recorded = self.recorded();
        if recorded.is_empty() {
            return s.serialize_none();
        }
        let mut map = s.serialize_map(Some(recorded.len()))?;
        for (k, v) in recorded {
            let mut c = k.chars();
            let camel: String = c
                .next()
                .map(|f| f.to_lowercase().chain(c).collect())
                .unwrap_or_default();
            map.serialize_entry(&camel, v)?;
        }
        map.end()
    }
}

/// The texts of the first `<name>` element of each of `names` in our own
/// XML, found in one pass (element text never holds `<`: it is escaped).
fn tags<'a, const N: usize>(xml: &'a str, names: [&str; N]) -> [Option<&'a str>; N] {
    let mut found = [None; N];
    let mut rest = xml;
    while let Some(open) = rest.find('<') {
        rest = rest.get(open + 1..).unwrap_or_default();
        let Some(close) = rest.find('>') else { break };
        let name = rest.get(..close).unwrap_or_default();
        rest = rest.get(close + 1..).unwrap_or_default();
        if let Some(slot @ None) = names
            .iter()
            .position(|n| *n == name)
            .and_then(|i| found.get_mut(i))
        {
            *slot = rest.find('<').and_then(|end| rest.get(..end));
        }
    }
    found
}

fn role_from_arn(arn: &str) -> Option<(&str, &str)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, path) = rest.split_once(":role/")?;
    Some((account, path.rsplit('/').next()?))
}

fn is_read_only(action: &str) -> bool {
    [
        "Get",
        "List",
        "Simulate",
        "Describe",
        "Lookup",
        "AssumeRole",
    ]
    .iter()
    .any(|p| action.starts_with(p))
}

/// A CloudTrail record, fields in CloudTrail's order.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Record<'a> {
    event_version: &'static str,
    user_identity: Identity<'a>,
    event_time: String,
    event_source: &'a str,
    event_name: &'a str,
    aws_region: &'static str,
    #[serde(rename = "sourceIPAddress")]
    source_ip_address: &'a str,
    user_agent: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    request_parameters: RequestParameters<'a>,
    response_elements: Option<Issued<'a>>,
    #[serde(rename = "requestID")]
    request_id: &'a str,
    #[serde(rename = "eventID")]
    event_id: &'a str,
    read_only: bool,
    resources: Vec<Resource<'a>>,
    event_type: &'static str,
    management_event: bool,
    recipient_account_id: &'a str,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all_fields = "camelCase")]
enum Identity<'a> {
    WebIdentityUser {
        principal_id: String,
        user_name: &'a str,
        identity_provider: &'a str,
    },
    AssumedRole {
        principal_id: String,
        arn: String,
        account_id: &'a str,
        access_key_id: &'a str,
        session_context: SessionContext<'a>,
    },
    Root {
        principal_id: &'a str,
        arn: String,
        account_id: &'a str,
        access_key_id: &'a str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionContext<'a> {
    session_issuer: SessionIssuer<'a>,
    attributes: SessionAttributes,
    source_identity: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionIssuer<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    principal_id: &'a str,
    arn: &'a str,
    account_id: &'a str,
    user_name: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SessionAttributes {
    creation_date: String,
    mfa_authenticated: &'static str,
}

#[derive(Serialize)]
struct Resource<'a> {
    #[serde(rename = "ARN")]
    arn: std::borrow::Cow<'a, str>,
    #[serde(rename = "accountId")]
    account_id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
}

/// `responseElements` of a call that issued credentials: the key id and
/// expiry, never the secret or the session token.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Issued<'a> {
    credentials: IssuedCredentials<'a>,
    assumed_role_user: AssumedRoleUser<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    subject_from_web_identity_token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    audience: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    provider: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IssuedCredentials<'a> {
    access_key_id: &'a str,
    expiration: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct AssumedRoleUser<'a> {
    assumed_role_id: Option<&'a str>,
    arn: Option<&'a str>,
}

fn issued(xml: &str) -> Option<Issued<'_>> {
    let [key, expiration, role_id, arn, subject, audience, provider] = tags(
        xml,
        [
            "AccessKeyId",
            "Expiration",
            "AssumedRoleId",
            "Arn",
            "SubjectFromWebIdentityToken",
            "Audience",
            "Provider",
        ],
    );
    Some(Issued {
        credentials: IssuedCredentials {
            access_key_id: key?,
            expiration: expiration?,
        },
        assumed_role_user: AssumedRoleUser {
            assumed_role_id: role_id,
            arn,
        },
        subject_from_web_identity_token: subject,
        audience,
        provider,
    })
}

/// Builds the CloudTrail record of a call.
pub(crate) fn event(c: &Call<'_>) -> AuditEvent {
    let role_arn = c.params.get("RoleArn");
    let role = role_arn.and_then(role_from_arn);
    // The token's claims, read (not trusted) for an unsigned web-identity call.
    let claims = match c.caller {
        Some(_) => None,
        None => c
            .params
            .get("WebIdentityToken")
            .and_then(|t| oidc::Unverified::parse(t.trim()).ok())
            .map(|t| t.claims),
    };
    let caller_account = c.caller.map(|caller| match &caller.session {
        Some(s) => s.account.as_str(),
        None => caller.account.as_str(),
    });
    // STS events belong to the role's account, IAM events to the caller's.
    let account = match (role, c.service) {
        (Some((a, _)), "sts") => a,
        _ => caller_account.or(role.map(|(a, _)| a)).unwrap_or_default(),
    };
    let username = match (role, c.caller) {
        (Some((_, name)), _) if c.action.starts_with("AssumeRole") => name,
        (_, Some(caller)) => match &caller.session {
            Some(s) => s.role_name.as_str(),
            None => "root",
        },
        (Some((_, name)), None) => name,
        (None, None) => "",
    };
    let provider = claims
        .as_ref()
        .and_then(|cl| crate::iam::provider_key(&cl.iss).ok())
        .map(|k| format!("arn:aws:iam::{account}:oidc-provider/{k}"))
        .unwrap_or_default();
    let user_identity = match (c.caller, &claims) {
        (Some(caller), _) => match &caller.session {
            Some(s) => Identity::AssumedRole {
                principal_id: s.assumed_role_id(),
                arn: s.arn(),
                account_id: &s.account,
                access_key_id: &s.access_key,
                session_context: SessionContext {
                    session_issuer: SessionIssuer {
                        kind: "Role",
                        principal_id: &s.role_id,
                        arn: &s.role_arn,
                        account_id: &s.account,
                        user_name: &s.role_name,
                    },
                    attributes: SessionAttributes {
                        creation_date: iso8601(s.issued),
                        mfa_authenticated: "false",
                    },
                    source_identity: s.source_identity.as_deref(),
                },
            },
            None => Identity::Root {
                principal_id: &caller.account,
                arn: caller.arn(),
                account_id: &caller.account,
                access_key_id: &caller.access_key,
            },
        },
        (None, claims) => {
            let (aud, sub) = claims
                .as_ref()
                .map(|cl| {
                    (
                        cl.aud.first().map(String::as_str).unwrap_or_default(),
                        cl.sub.as_str(),
                    )
                })
                .unwrap_or_default();
            Identity::WebIdentityUser {
                principal_id: format!("{provider}:{aud}:{sub}"),
                user_name: sub,
                identity_provider: &provider,
            }
        }
    };
    let mut resources = Vec::new();
    if let Some(arn) = role_arn {
        resources.push(Resource {
            arn: arn.into(),
            account_id: account,
            kind: "AWS::IAM::Role",
        });
    } else if let Some(name) = c.params.get("RoleName") {
        resources.push(Resource {
            arn: format!("arn:aws:iam::{account}:role/{name}").into(),
            account_id: account,
            kind: "AWS::IAM::Role",
        });
    }
    for (param, kind) in [
        ("PolicyArn", "AWS::IAM::Policy"),
        ("OpenIDConnectProviderArn", "AWS::IAM::OIDCProvider"),
    ] {
        if let Some(arn) = c.params.get(param) {
            resources.push(Resource {
                arn: arn.into(),
                account_id: account,
                kind,
            });
        }
    }
    let response_elements = c.outcome.ok().and_then(issued);
    let access_key_id = match (&response_elements, c.caller) {
        (Some(issued), _) => issued.credentials.access_key_id,
        (None, Some(caller)) => match &caller.session {
            Some(s) => s.access_key.as_str(),
            None => caller.access_key.as_str(),
        },
        (None, None) => "",
    };
    let error = c.outcome.err();
    let event_id = oidc::uuid_v7(u64::try_from(c.now).unwrap_or_default() * 1000);
    let source = format!("{}.amazonaws.com", c.service);
    let first = resources.first();
    let (resource_type, resource_name) = first
        .map(|r| (r.kind.to_string(), r.arn.to_string()))
        .unwrap_or_default();
    let record = Record {
        event_version: "1.08",
        user_identity,
        event_time: iso8601(c.now),
        event_source: &source,
        event_name: c.action,
        aws_region: "us-east-1",
        source_ip_address: c.origin.source_ip.as_deref().unwrap_or_default(),
        user_agent: c.origin.user_agent.as_deref().unwrap_or_default(),
        error_code: error.map(ApiError::code),
        error_message: error.map(ApiError::message),
        request_parameters: RequestParameters {
            params: c.params,
            unsigned: c.caller.is_none(),
        },
        response_elements,
        request_id: c.request_id,
        event_id: &event_id,
        read_only: is_read_only(c.action),
        resources,
        event_type: "AwsApiCall",
        management_event: true,
        recipient_account_id: account,
    };
    AuditEvent {
        record: serde_json::to_string(&record).unwrap_or_default(),
        account: account.to_string(),
        time_ms: c.now * 1000,
        name: c.action.to_string(),
        username: username.to_string(),
        access_key_id: access_key_id.to_string(),
        read_only: record.read_only,
        error_code: error.map(|e| e.code().to_string()).unwrap_or_default(),
        resource_type,
        resource_name,
        source,
        id: event_id,
        seq: 0,
    }
}

/// Sets a member of a JSON object (a no-op on other values).
pub(crate) fn set(object: &mut serde_json::Value, key: &str, value: serde_json::Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_finds_the_first_of_each_in_one_pass() {
        let xml = "<R><Credentials><AccessKeyId>ASIA1</AccessKeyId><Expiration>2026</Expiration>\
                   </Credentials><Arn>a1</Arn><Arn>a2</Arn><Empty></Empty></R>";
        assert_eq!(
            tags(
                xml,
                ["Arn", "AccessKeyId", "Missing", "Empty", "Expiration"]
            ),
            [Some("a1"), Some("ASIA1"), None, Some(""), Some("2026")]
        );
        assert_eq!(tags("", ["A"]), [None]);
        assert_eq!(tags("<A>unterminated", ["A"]), [None]);
        assert_eq!(tags("<A", ["A"]), [None]);
        assert!(issued(xml).is_some());
        assert!(
            issued("<Arn>x</Arn>").is_none(),
            "no credentials, no responseElements"
        );
    }

    #[test]
    fn request_parameters_drop_secrets_and_repeats() {
        let params = Params::parse(
            b"Action=AssumeRoleWithWebIdentity&Version=2011-06-15&WebIdentityToken=eyJ.secret.sig\
             &RoleArn=arn&RoleSessionName=s&X-Amz-Signature=abc&RoleArn=second",
        );
        let json = serde_json::to_value(RequestParameters {
            params: &params,
            unsigned: false,
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"roleArn": "arn", "roleSessionName": "s"})
        );
        let only_secrets = Params::parse(b"Action=GetCallerIdentity&Version=2011-06-15");
        assert_eq!(
            serde_json::to_value(RequestParameters {
                params: &only_secrets,
                unsigned: false,
            })
            .unwrap(),
            serde_json::Value::Null
        );
    }
}
