//! The webhook's settings: upstream's flags and defaults
//! (amazon-eks-pod-identity-webhook `main.go`).

/// Settings of the IRSA (web identity) injection.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Prefix of the annotations read (`eks.amazonaws.com`).
    pub annotation_prefix: String,
    /// Audience of the projected token when the ServiceAccount names none.
    pub token_audience: String,
    /// Token lifetime in seconds when no annotation sets one.
    pub token_expiration: i64,
    /// Where the token volume is mounted in each container.
    pub token_mount_path: String,
    /// Value of `AWS_DEFAULT_REGION` and `AWS_REGION`, if any.
    pub aws_default_region: Option<String>,
    /// `AWS_STS_REGIONAL_ENDPOINTS=regional` for every pod (a ServiceAccount
    /// annotation can still turn it off).
    pub sts_regional_endpoints: bool,
    /// EKS Pod Identity (container credentials) injection.
    pub container_credentials: ContainerCredentials,
}

/// Settings of the EKS Pod Identity (container credentials) injection.
#[derive(Debug, Clone, PartialEq)]
pub struct ContainerCredentials {
    /// Audience of the projected token (`pods.eks.amazonaws.com`).
    pub audience: String,
    /// Where its volume is mounted.
    pub mount_path: String,
    /// The volume's name (`eks-pod-identity-token`).
    pub volume_name: String,
    /// The token's file name inside the mount.
    pub token_path: String,
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`.
    pub full_uri: String,
}

/// Shortest token lifetime Kubernetes accepts for a projected token.
pub const MIN_TOKEN_EXPIRATION: i64 = 600;
/// Longest token lifetime the API server accepts (`expirationSeconds`
/// must be under 2^32).
pub const MAX_TOKEN_EXPIRATION: i64 = (1 << 32) - 1;
/// Name of the IRSA token volume and mount.
pub const TOKEN_VOLUME: &str = "aws-iam-token";

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            annotation_prefix: "eks.amazonaws.com".into(),
            token_audience: "sts.amazonaws.com".into(),
            token_expiration: 86_400,
            token_mount_path: "/var/run/secrets/eks.amazonaws.com/serviceaccount".into(),
            aws_default_region: None,
            sts_regional_endpoints: false,
            container_credentials: ContainerCredentials::default(),
        }
    }
}

impl Default for ContainerCredentials {
    fn default() -> ContainerCredentials {
        ContainerCredentials {
            audience: "pods.eks.amazonaws.com".into(),
            mount_path: "/var/run/secrets/pods.eks.amazonaws.com/serviceaccount".into(),
            volume_name: "eks-pod-identity-token".into(),
            token_path: "eks-pod-identity-token".into(),
            full_uri: "http://169.254.170.23/v1/credentials".into(),
        }
    }
}
