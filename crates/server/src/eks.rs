//! EKS, the two calls IRSA setups make: `DescribeCluster` (for the cluster's
//! OIDC issuer) and `ListClusters`, REST-JSON over the local clusters.
//! Reference: API_DescribeCluster.html; wire details in `docs/sts-eks-reference.md` §5.

use axum::http::StatusCode;
use serde_json::{Value, json};
use store::Cluster;

use crate::auth::{self, Caller, Origin};
use crate::clusters::issuer_url;
use crate::error::ApiError;
use crate::state::State;

/// A REST-JSON answer.
pub(crate) struct JsonReply {
    /// The service label for metrics.
    pub(crate) service: &'static str,
    pub(crate) status: StatusCode,
    pub(crate) body: String,
    pub(crate) error_type: Option<&'static str>,
}

fn error(status: StatusCode, error_type: &'static str, message: &str) -> JsonReply {
    JsonReply {
        service: "eks",
        status,
        body: json!({ "message": message }).to_string(),
        error_type: Some(error_type),
    }
}

fn from_api(e: &ApiError) -> JsonReply {
    let kind = match e.code() {
        "AccessDenied" => "AccessDeniedException",
        c if e.is_sender_fault() && c != "InternalFailure" => "ClientException",
        _ => "ServerException",
    };
    JsonReply {
        service: "eks",
        status: e.status(),
        body: json!({ "message": e.message() }).to_string(),
        error_type: Some(kind),
    }
}

fn cluster_json(state: &State, c: &Cluster) -> Value {
    let issuer = issuer_url(&state.public_url, c);
    json!({
        "name": c.name,
        "arn": format!("arn:aws:eks:{}:{}:cluster/{}", c.region, c.account, c.name),
        "createdAt": c.created as f64,
        "version": "1.31",
        "endpoint": state.public_url,
        "roleArn": format!("arn:aws:iam::{}:role/eks-cluster-role", c.account),
        "resourcesVpcConfig": {"subnetIds": [], "securityGroupIds": [], "endpointPublicAccess": true, "endpointPrivateAccess": false},
        "kubernetesNetworkConfig": {"serviceIpv4Cidr": "10.100.0.0/16", "ipFamily": "ipv4"},
        "identity": {"oidc": {"issuer": issuer}},
        "status": "ACTIVE",
        "platformVersion": "eks.1",
        "tags": {},
    })
}

/// Answers an EKS request signed for service `eks`.
pub(crate) fn handle(
    state: &State,
    method: &str,
    path: &str,
    caller: &Caller,
    origin: &Origin,
    now: i64,
) -> JsonReply {
    match answer(state, method, path, caller, origin, now) {
        Ok(r) => r,
        Err(e) => from_api(&e),
    }
}

fn answer(
    state: &State,
    method: &str,
    path: &str,
    caller: &Caller,
    origin: &Origin,
    now: i64,
) -> Result<JsonReply, ApiError> {
    let ctx = auth::context(caller, origin, now);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method, segments.as_slice()) {
        ("GET", ["clusters"]) => {
            auth::check(
                state,
                state.store.as_ref(),
                caller,
                &ctx,
                "eks:ListClusters",
                "*",
            )?;
            let names: Vec<String> = state
                .store
                .clusters()?
                .into_iter()
                .filter(|c| c.account == caller.account)
                .map(|c| c.name)
                .collect();
            Ok(JsonReply {
                service: "eks",
                status: StatusCode::OK,
                body: json!({ "clusters": names }).to_string(),
                error_type: None,
            })
        }
        ("GET", ["clusters", name]) => {
            let arn = format!("arn:aws:eks:us-east-1:{}:cluster/{name}", caller.account);
            auth::check(
                state,
                state.store.as_ref(),
                caller,
                &ctx,
                "eks:DescribeCluster",
                &arn,
            )?;
            match state
                .store
                .cluster(name)?
                .filter(|c| c.account == caller.account)
            {
                Some(c) => Ok(JsonReply {
                    service: "eks",
                    status: StatusCode::OK,
                    body: json!({ "cluster": cluster_json(state, &c) }).to_string(),
                    error_type: None,
                }),
                None => Ok(error(
                    StatusCode::NOT_FOUND,
                    "ResourceNotFoundException",
                    &format!("No cluster found for name: {name}."),
                )),
            }
        }
        _ => Ok(error(
            StatusCode::NOT_FOUND,
            "ResourceNotFoundException",
            &format!(
                "irsa's EKS API answers DescribeCluster and ListClusters only, not {method} {path}"
            ),
        )),
    }
}
