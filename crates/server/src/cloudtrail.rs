//! CloudTrail `LookupEvents` (JSON 1.1) over the audit trail: each account sees
//! only its own events, newest first.
//! Reference: <https://docs.aws.amazon.com/awscloudtrail/latest/APIReference/API_LookupEvents.html>

use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use store::AuditFilter;

use crate::auth::{self, Caller, Origin};
use crate::eks::JsonReply;
use crate::state::State;

/// The `X-Amz-Target` of LookupEvents.
pub(crate) const LOOKUP_EVENTS: &str =
    "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.LookupEvents";
/// CloudTrail's default event history window: 90 days.
const DEFAULT_WINDOW_SECONDS: i64 = 90 * 86_400;

fn error(kind: &'static str, message: &str) -> JsonReply {
    JsonReply {
        service: "cloudtrail",
        status: StatusCode::BAD_REQUEST,
        body: json!({"__type": kind, "message": message}).to_string(),
        error_type: Some(kind),
    }
}

fn seconds(v: &Value) -> Option<i64> {
    v.as_f64()
        .map(|f| (f * 1000.0) as i64)
        .or_else(|| v.as_i64().map(|i| i * 1000))
}

/// Answers a CloudTrail request.
pub(crate) fn handle(
    state: &State,
    target: Option<&str>,
    body: &[u8],
    caller: &Caller,
    origin: &Origin,
    now: i64,
) -> JsonReply {
    if target != Some(LOOKUP_EVENTS) {
        return error(
            "UnknownOperationException",
            &format!(
                "irsa's CloudTrail answers LookupEvents only, not {}",
                target.unwrap_or("(no X-Amz-Target)")
            ),
        );
    }
    let ctx = auth::context(caller, origin, now);
    if let Err(e) = auth::check(
        state,
        state.store.as_ref(),
        caller,
        &ctx,
        "cloudtrail:LookupEvents",
        "*",
    ) {
        return JsonReply {
            service: "cloudtrail",
            status: e.status(),
            body: json!({"__type": "AccessDeniedException", "message": e.message()}).to_string(),
            error_type: Some("AccessDeniedException"),
        };
    }
    let req: Value = if body.is_empty() {
        json!({})
    } else {
        match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(_) => return error("SerializationException", "the request body is not JSON"),
        }
    };
    let attrs = req
        .get("LookupAttributes")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if attrs.len() > 1 {
        return error(
            "InvalidLookupAttributesException",
            "You cannot specify more than one lookup attribute.",
        );
    }
    let filter = match attrs.first() {
        None => AuditFilter::All,
        Some(a) => {
            let value = a
                .get("AttributeValue")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            match a
                .get("AttributeKey")
                .and_then(Value::as_str)
                .unwrap_or_default()
            {
                "EventId" => AuditFilter::EventId(value),
                "EventName" => AuditFilter::EventName(value),
                "ReadOnly" => AuditFilter::ReadOnly(value.eq_ignore_ascii_case("true")),
                "Username" => AuditFilter::Username(value),
                "ResourceType" => AuditFilter::ResourceType(value),
                "ResourceName" => AuditFilter::ResourceName(value),
                "EventSource" => AuditFilter::EventSource(value),
                "AccessKeyId" => AuditFilter::AccessKeyId(value),
                other => {
                    return error(
                        "InvalidLookupAttributesException",
                        &format!(
                            "The attribute key `{other}` is not valid: use EventId, EventName, ReadOnly, Username, ResourceType, ResourceName, EventSource or AccessKeyId."
                        ),
                    );
                }
            }
        }
    };
    let end = req.get("EndTime").and_then(seconds).unwrap_or(now * 1000);
    let start = req
        .get("StartTime")
        .and_then(seconds)
        .unwrap_or(end - DEFAULT_WINDOW_SECONDS * 1000);
    if start > end {
        return error(
            "InvalidTimeRangeException",
            "Occurs if the timestamp values are not valid. Either the start time occurs after the end time, or the time range is outside the range of possible values.",
        );
    }
    let max = req.get("MaxResults").and_then(Value::as_i64).unwrap_or(50);
    if !(1..=50).contains(&max) {
        return error(
            "InvalidMaxResultsException",
            "MaxResults must be between 1 and 50.",
        );
    }
    let before = match req.get("NextToken").and_then(Value::as_str) {
        None => None,
        Some(t) => match STANDARD
            .decode(t)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.strip_prefix("seq:")?.parse::<i64>().ok())
        {
            Some(seq) => Some(seq),
            None => return error("InvalidNextTokenException", "The NextToken is not valid."),
        },
    };
    let limit = usize::try_from(max).unwrap_or(50);
    let mut events =
        match state
            .store
            .lookup_events(&caller.account, &filter, start, end, before, limit + 1)
        {
            Ok(e) => e,
            Err(e) => {
                let _ = crate::error::ApiError::internal(e);
                return JsonReply {
                    service: "cloudtrail",
                    status: StatusCode::INTERNAL_SERVER_ERROR,
                    body: json!({"__type": "InternalFailure"}).to_string(),
                    error_type: Some("InternalFailure"),
                };
            }
        };
    let next = (events.len() > limit).then(|| {
        events.truncate(limit);
        STANDARD.encode(format!("seq:{}", events.last().map_or(0, |e| e.seq)))
    });
    let items: Vec<Value> = events
        .iter()
        .map(|e| {
            let mut item = json!({
                "EventId": e.id,
                "EventName": e.name,
                "ReadOnly": e.read_only.to_string(),
                "EventTime": e.time_ms as f64 / 1000.0,
                "EventSource": e.source,
                "Username": e.username,
                "Resources": if e.resource_name.is_empty() { json!([]) } else { json!([{"ResourceType": e.resource_type, "ResourceName": e.resource_name}]) },
                "CloudTrailEvent": e.record,
            });
            if !e.access_key_id.is_empty() {
                crate::audit::set(&mut item, "AccessKeyId", json!(e.access_key_id));
            }
            item
        })
        .collect();
    let mut out = json!({ "Events": items });
    if let Some(n) = next {
        crate::audit::set(&mut out, "NextToken", json!(n));
    }
    JsonReply {
        service: "cloudtrail",
        status: StatusCode::OK,
        body: out.to_string(),
        error_type: None,
    }
}
