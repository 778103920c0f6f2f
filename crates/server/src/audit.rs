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

use serde_json::{Map, Value, json};
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
    done: tokio::sync::oneshot::Sender<Result<(), String>>,
}

/// The audit writer.
pub struct Auditor {
    tx: SyncSender<Pending>,
}

impl std::fmt::Debug for Auditor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Auditor")
    }
}

impl Auditor {
    /// Starts the writer thread on `store` (give it its own connection).
    pub fn start(store: Arc<dyn Store>, config: AuditConfig) -> Result<Auditor, String> {
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
        std::thread::Builder::new()
            .name("irsa-audit".into())
            .spawn(move || writer(store.as_ref(), rx, log))
            .map_err(|e| format!("cannot start the audit writer: {e}"))?;
        Ok(Auditor { tx })
    }

    /// Records an event and waits until it is committed.
    pub(crate) async fn record(&self, event: AuditEvent) -> Result<(), ApiError> {
        let (done, wait) = tokio::sync::oneshot::channel();
        self.tx
            .try_send(Pending { event, done })
            .map_err(|e| ApiError::internal(format!("audit queue: {e}")))?;
        match wait.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(ApiError::internal(format!("audit write failed: {e}"))),
            Err(_) => Err(ApiError::internal("the audit writer stopped")),
        }
    }
}

fn writer(store: &dyn Store, rx: Receiver<Pending>, mut log: Option<std::fs::File>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(p) => batch.push(p),
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        let events: Vec<AuditEvent> = batch.iter().map(|p| p.event.clone()).collect();
        let started = std::time::Instant::now();
        let result = store.append_events(&events).map_err(|e| e.to_string());
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
        for p in batch {
            let _ = p.done.send(result.clone());
        }
    }
}

/// Deletes events older than `retention_seconds`, in small batches, forever.
pub async fn expire(store: Arc<dyn Store>, retention_seconds: i64) {
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

fn camel(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

fn request_parameters(params: &Params) -> Value {
    let mut map = Map::new();
    for (k, v) in params.pairs() {
        if SECRET_PARAMS.contains(&k.as_str()) || k.starts_with("X-Amz-") {
            continue;
        }
        map.insert(camel(k), Value::String(v.clone()));
    }
    if map.is_empty() {
        Value::Null
    } else {
        Value::Object(map)
    }
}

/// The text of the first `<tag>` of our own XML.
fn tag<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}>");
    let start = xml.find(&open)? + open.len();
    let end = xml.get(start..)?.find(&format!("</{tag}>"))?;
    xml.get(start..start + end)
}

fn role_from_arn(arn: &str) -> Option<(String, String)> {
    let rest = arn.strip_prefix("arn:aws:iam::")?;
    let (account, path) = rest.split_once(":role/")?;
    Some((account.to_string(), path.rsplit('/').next()?.to_string()))
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

/// Builds the CloudTrail record of a call.
pub(crate) fn event(c: &Call<'_>) -> AuditEvent {
    let role_arn = c.params.get("RoleArn").map(str::to_string);
    let role = role_arn.as_deref().and_then(role_from_arn);
    let (identity, account, username, caller_key) = match c.caller {
        Some(caller) => identity_of(caller),
        None => {
            // Unsigned AssumeRoleWithWebIdentity: the identity is the token's.
            let claims = c
                .params
                .get("WebIdentityToken")
                .and_then(|t| oidc::Unverified::parse(t.trim()).ok())
                .map(|t| t.claims);
            let account = role.as_ref().map(|(a, _)| a.clone()).unwrap_or_default();
            let provider = claims
                .as_ref()
                .and_then(|cl| crate::iam::provider_key(&cl.iss).ok())
                .map(|k| format!("arn:aws:iam::{account}:oidc-provider/{k}"))
                .unwrap_or_default();
            let (aud, sub) = claims
                .as_ref()
                .map(|cl| (cl.aud.first().cloned().unwrap_or_default(), cl.sub.clone()))
                .unwrap_or_default();
            let identity = json!({
                "type": "WebIdentityUser",
                "principalId": format!("{provider}:{aud}:{sub}"),
                "userName": sub,
                "identityProvider": provider,
            });
            let username = role.as_ref().map(|(_, n)| n.clone()).unwrap_or_default();
            (identity, account, username, String::new())
        }
    };
    // STS events belong to the role's account, IAM events to the caller's.
    let account = match (&role, c.service) {
        (Some((a, _)), "sts") => a.clone(),
        _ => account,
    };
    let username = match (&role, c.action) {
        (Some((_, name)), a) if a.starts_with("AssumeRole") => name.clone(),
        _ => username,
    };
    let mut resources = Vec::new();
    if let Some(arn) = &role_arn {
        resources.push(json!({"ARN": arn, "accountId": account, "type": "AWS::IAM::Role"}));
    } else if let Some(name) = c.params.get("RoleName") {
        resources.push(json!({"ARN": format!("arn:aws:iam::{account}:role/{name}"), "accountId": account, "type": "AWS::IAM::Role"}));
    }
    if let Some(arn) = c.params.get("PolicyArn") {
        resources.push(json!({"ARN": arn, "accountId": account, "type": "AWS::IAM::Policy"}));
    }
    if let Some(arn) = c.params.get("OpenIDConnectProviderArn") {
        resources.push(json!({"ARN": arn, "accountId": account, "type": "AWS::IAM::OIDCProvider"}));
    }
    let mut access_key = caller_key;
    let mut record = json!({
        "eventVersion": "1.08",
        "userIdentity": identity,
        "eventTime": iso8601(c.now),
        "eventSource": format!("{}.amazonaws.com", c.service),
        "eventName": c.action,
        "awsRegion": "us-east-1",
        "sourceIPAddress": c.origin.source_ip.clone().unwrap_or_default(),
        "userAgent": c.origin.user_agent.clone().unwrap_or_default(),
        "requestParameters": request_parameters(c.params),
        "responseElements": Value::Null,
        "requestID": c.request_id,
        "eventID": oidc::uuid_v4(),
        "readOnly": is_read_only(c.action),
        "resources": resources,
        "eventType": "AwsApiCall",
        "managementEvent": true,
        "recipientAccountId": account,
    });
    match c.outcome {
        Ok(xml) => {
            if let (Some(key), Some(exp)) = (tag(xml, "AccessKeyId"), tag(xml, "Expiration")) {
                // Issued credentials: the key id and expiry, never the secret or token.
                access_key = key.to_string();
                let mut elements = json!({
                    "credentials": {"accessKeyId": key, "expiration": exp},
                    "assumedRoleUser": {
                        "assumedRoleId": tag(xml, "AssumedRoleId"),
                        "arn": tag(xml, "Arn"),
                    },
                });
                for (name, field) in [
                    ("SubjectFromWebIdentityToken", "subjectFromWebIdentityToken"),
                    ("Audience", "audience"),
                    ("Provider", "provider"),
                ] {
                    if let (Some(v), Some(map)) = (tag(xml, name), elements.as_object_mut()) {
                        map.insert(field.into(), Value::String(v.to_string()));
                    }
                }
                set(&mut record, "responseElements", elements);
            }
        }
        Err(e) => {
            set(
                &mut record,
                "errorCode",
                Value::String(e.code().to_string()),
            );
            set(
                &mut record,
                "errorMessage",
                Value::String(e.message().to_string()),
            );
        }
    }
    let first = resources_first(&record);
    AuditEvent {
        id: record
            .get("eventID")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        account,
        time_ms: c.now * 1000,
        name: c.action.to_string(),
        source: format!("{}.amazonaws.com", c.service),
        username,
        access_key_id: access_key,
        read_only: is_read_only(c.action),
        error_code: c
            .outcome
            .err()
            .map(|e| e.code().to_string())
            .unwrap_or_default(),
        resource_type: first.0,
        resource_name: first.1,
        record: record.to_string(),
        seq: 0,
    }
}

/// Sets a member of a JSON object (a no-op on other values).
pub(crate) fn set(object: &mut Value, key: &str, value: Value) {
    if let Some(map) = object.as_object_mut() {
        map.insert(key.to_string(), value);
    }
}

fn resources_first(record: &Value) -> (String, String) {
    let r = record["resources"].get(0);
    (
        r.and_then(|r| r["type"].as_str())
            .unwrap_or_default()
            .to_string(),
        r.and_then(|r| r["ARN"].as_str())
            .unwrap_or_default()
            .to_string(),
    )
}

fn identity_of(caller: &Caller) -> (Value, String, String, String) {
    match &caller.session {
        Some(s) => (
            json!({
                "type": "AssumedRole",
                "principalId": s.assumed_role_id(),
                "arn": s.arn(),
                "accountId": s.account,
                "accessKeyId": s.access_key,
                "sessionContext": {
                    "sessionIssuer": {"type": "Role", "principalId": s.role_id, "arn": s.role_arn, "accountId": s.account, "userName": s.role_name},
                    "attributes": {"creationDate": iso8601(s.issued), "mfaAuthenticated": "false"},
                    "sourceIdentity": s.source_identity,
                },
            }),
            s.account.clone(),
            s.role_name.clone(),
            s.access_key.clone(),
        ),
        None => (
            json!({
                "type": "Root",
                "principalId": caller.account,
                "arn": caller.arn(),
                "accountId": caller.account,
                "accessKeyId": caller.access_key,
            }),
            caller.account.clone(),
            "root".to_string(),
            caller.access_key.clone(),
        ),
    }
}
