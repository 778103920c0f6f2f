//! STS: the caller's identity.
//! Reference: <https://docs.aws.amazon.com/STS/latest/APIReference/API_GetCallerIdentity.html>

use crate::auth::Caller;
use crate::error::ApiError;
use crate::protocol::query::Params;
use crate::protocol::xml::Xml;

/// STS's XML namespace.
pub(crate) const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
/// STS's API version.
pub(crate) const VERSION: &str = "2011-06-15";

/// Handles a signed STS action.
pub(crate) fn handle(
    action: &str,
    _params: &Params,
    caller: &Caller,
) -> Result<Option<Xml>, ApiError> {
    match action {
        // No permission is needed to call GetCallerIdentity (its API reference).
        "GetCallerIdentity" => {
            let mut x = Xml::default();
            x.text("Arn", &caller.arn())
                .text("UserId", &caller.user_id())
                .text("Account", &caller.account);
            Ok(Some(x))
        }
        other => Err(crate::invalid_action(other, VERSION)),
    }
}
