//! IAM OIDC identity providers: the issuers whose tokens roles may trust.
//! Reference: <https://docs.aws.amazon.com/IAM/latest/APIReference/API_CreateOpenIDConnectProvider.html>

use store::{OidcProvider, StoreError};

use super::roles::tag_keys;
use super::{Call, merge_tags, new_tags, page, paging, write_paging, write_tags};
use crate::error::ApiError;
use crate::protocol::xml::Xml;
use crate::time::iso8601;
use crate::validate::Checker;

/// IAM's quota of OIDC providers per account.
const PROVIDERS_PER_ACCOUNT: usize = 100;
/// IAM's quota of client ids (audiences) per provider.
const CLIENT_IDS_PER_PROVIDER: usize = 100;
/// IAM's limit of thumbprints per provider.
const THUMBPRINTS_PER_PROVIDER: usize = 5;

type Answer = Result<Option<Xml>, ApiError>;

/// The `HOST[:PORT]/PATH` of an issuer URL, as IAM keys providers by it:
/// `https` always; plain `http` only for a loopback host (irsa's local
/// clusters and tests), where no one else can answer for the issuer.
pub(crate) fn provider_key(url: &str) -> Result<String, ApiError> {
    let invalid = |why: &str| ApiError::invalid_input(format!("Invalid URL `{url}`: {why}"));
    crate::issuers::issuer_url(url).map_err(invalid)?;
    let Some((_, rest)) = url.split_once("://") else {
        return Err(invalid("the URL must begin with https://"));
    };
    if rest.contains(['?', '#']) {
        return Err(invalid("the URL must not contain a query or fragment"));
    }
    if rest.contains(char::is_whitespace) {
        return Err(invalid("the URL must not contain white space"));
    }
    let key = rest.trim_end_matches('/');
    if key.is_empty() || key.starts_with('/') {
        return Err(invalid("the URL has no host"));
    }
    Ok(key.to_string())
}

fn provider_arn<'a>(call: &'a Call<'_>, c: &mut Checker) -> &'a str {
    call.params
        .req(c, "OpenIDConnectProviderArn", 20, 2048, None)
}

fn check_arn(arn: &str) -> Result<(), ApiError> {
    let ok = arn
        .strip_prefix("arn:aws:iam::")
        .and_then(|rest| rest.split_once(":oidc-provider/"))
        .is_some_and(|(account, key)| policy::is_account_id(account) && !key.is_empty());
    if ok {
        Ok(())
    } else {
        Err(ApiError::invalid_input(format!("ARN {arn} is not valid.")))
    }
}

/// Authorizes the call on the provider, then requires it in the caller's account.
fn authorized(call: &Call<'_>, arn: &str) -> Result<OidcProvider, ApiError> {
    check_arn(arn)?;
    call.authorize(arn)?;
    call.store
        .oidc_provider(arn)?
        .filter(|p| p.account == call.account())
        .ok_or_else(|| {
            ApiError::no_such_entity(format!("OpenIDConnect Provider not found for arn {arn}"))
        })
}

fn client_ids(c: &mut Checker, name: &str, ids: &[String]) {
    for (i, id) in ids.iter().enumerate() {
        c.string(&format!("{name}.{}.member", i + 1), id, 1, 255, None);
    }
}

fn thumbprints(c: &mut Checker, name: &str, prints: &[String]) {
    c.list_len(name, prints.len(), THUMBPRINTS_PER_PROVIDER);
    for (i, t) in prints.iter().enumerate() {
        c.string(&format!("{name}.{}.member", i + 1), t, 40, 40, None);
    }
}

fn check_thumbprints_hex(prints: &[String]) -> Result<(), ApiError> {
    match prints
        .iter()
        .find(|t| !t.bytes().all(|b| b.is_ascii_hexdigit()))
    {
        Some(t) => Err(ApiError::invalid_input(format!(
            "Thumbprint {t} is not valid: it must be 40 hexadecimal characters"
        ))),
        None => Ok(()),
    }
}

pub(super) fn create(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let url = call.params.req(&mut c, "Url", 1, 255, None).to_string();
    let ids = call.params.list("ClientIDList").unwrap_or_default();
    client_ids(&mut c, "ClientIDList", &ids);
    let prints = call.params.list("ThumbprintList").unwrap_or_default();
    thumbprints(&mut c, "ThumbprintList", &prints);
    let tags = call.params.tags("Tags").unwrap_or_default();
    c.tags("Tags", &tags);
    c.finish()?;
    let key = provider_key(&url)?;
    let arn = call.arn(&format!("oidc-provider/{key}"));
    call.with_request_tags(&tags);
    call.authorize(&arn)?;
    check_thumbprints_hex(&prints)?;
    if ids.len() > CLIENT_IDS_PER_PROVIDER {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {CLIENT_IDS_PER_PROVIDER}"
        )));
    }
    let tags = new_tags(&tags)?;
    let store = call.store;
    if store.oidc_provider_count(call.account())? >= PROVIDERS_PER_ACCOUNT {
        return Err(ApiError::limit_exceeded(format!(
            "Cannot exceed quota for OpenIdConnectProvidersPerAccount: {PROVIDERS_PER_ACCOUNT}"
        )));
    }
    let mut unique_ids: Vec<String> = Vec::new();
    for id in ids {
        if !unique_ids.contains(&id) {
            unique_ids.push(id);
        }
    }
    let provider = OidcProvider {
        arn: arn.clone(),
        account: call.account().to_string(),
        url: url.clone(),
        client_ids: unique_ids,
        thumbprints: prints,
        tags,
        created: call.now,
    };
    match store.insert_oidc_provider(&provider) {
        Ok(()) => {}
        Err(StoreError::AlreadyExists) => {
            return Err(ApiError::already_exists(format!(
                "Provider with url {url} already exists."
            )));
        }
        Err(e) => return Err(e.into()),
    }
    let mut x = Xml::default();
    x.text("OpenIDConnectProviderArn", &arn);
    if !provider.tags.is_empty() {
        write_tags(&mut x, "Tags", &provider.tags);
    }
    Ok(Some(x))
}

pub(super) fn get(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    c.finish()?;
    let p = authorized(call, arn)?;
    let mut x = Xml::default();
    // IAM returns the URL without its scheme, as in the ARN.
    let url = p.arn.split_once(":oidc-provider/").map_or("", |(_, k)| k);
    x.text("Url", url)
        .strings("ClientIDList", &p.client_ids)
        .strings("ThumbprintList", &p.thumbprints)
        .text("CreateDate", &iso8601(p.created));
    if !p.tags.is_empty() {
        write_tags(&mut x, "Tags", &p.tags);
    }
    Ok(Some(x))
}

pub(super) fn list(call: &Call<'_>) -> Answer {
    call.authorize("*")?;
    let providers = call.store.oidc_providers(call.account())?;
    let mut x = Xml::default();
    x.list("OpenIDConnectProviderList", &providers, |x, p| {
        x.text("Arn", &p.arn);
    });
    Ok(Some(x))
}

pub(super) fn delete(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    c.finish()?;
    let p = authorized(call, arn)?;
    call.store.delete_oidc_provider(&p.arn)?;
    Ok(None)
}

fn client_id<'a>(call: &'a Call<'_>, c: &mut Checker) -> &'a str {
    call.params.req(c, "ClientID", 1, 255, None)
}

pub(super) fn add_client_id(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    let id = client_id(call, &mut c);
    c.finish()?;
    let mut p = authorized(call, arn)?;
    if !p.client_ids.iter().any(|i| i == id) {
        if p.client_ids.len() >= CLIENT_IDS_PER_PROVIDER {
            return Err(ApiError::limit_exceeded(format!(
                "Cannot exceed quota for ClientIdsPerOpenIdConnectProvider: {CLIENT_IDS_PER_PROVIDER}"
            )));
        }
        p.client_ids.push(id.to_string());
        call.store.update_oidc_provider(&p)?;
    }
    Ok(None)
}

pub(super) fn remove_client_id(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    let id = client_id(call, &mut c);
    c.finish()?;
    let mut p = authorized(call, arn)?;
    // Idempotent: removing an absent client id is not an error (API reference).
    p.client_ids.retain(|i| i != id);
    call.store.update_oidc_provider(&p)?;
    Ok(None)
}

pub(super) fn update_thumbprints(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    let prints = call.params.list("ThumbprintList");
    match &prints {
        None => c.null("ThumbprintList"),
        Some(p) => thumbprints(&mut c, "ThumbprintList", p),
    }
    c.finish()?;
    let mut p = authorized(call, arn)?;
    let prints = prints.unwrap_or_default();
    check_thumbprints_hex(&prints)?;
    p.thumbprints = prints;
    call.store.update_oidc_provider(&p)?;
    Ok(None)
}

pub(super) fn tag(call: &mut Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c).to_string();
    let tags = call.required_tags(&mut c);
    c.finish()?;
    let mut p = authorized(call, &arn)?;
    merge_tags(&mut p.tags, new_tags(&tags)?)?;
    call.store.update_oidc_provider(&p)?;
    Ok(None)
}

pub(super) fn untag(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    let keys = tag_keys(call, &mut c);
    c.finish()?;
    let mut p = authorized(call, arn)?;
    p.tags.retain(|t| !keys.contains(&t.key));
    call.store.update_oidc_provider(&p)?;
    Ok(None)
}

pub(super) fn list_tags(call: &Call<'_>) -> Answer {
    let mut c = Checker::default();
    let arn = provider_arn(call, &mut c);
    let (marker, max_items) = paging(&mut c, call.params);
    c.finish()?;
    let p = authorized(call, arn)?;
    let (tags, next) = page(p.tags, |t| t.key.clone(), marker.as_deref(), max_items);
    let mut x = Xml::default();
    write_tags(&mut x, "Tags", &tags);
    write_paging(&mut x, next.as_deref());
    Ok(Some(x))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_keys() {
        assert_eq!(
            provider_key("https://oidc.eks.us-east-1.amazonaws.com/id/ABC").unwrap(),
            "oidc.eks.us-east-1.amazonaws.com/id/ABC"
        );
        assert_eq!(
            provider_key("https://token.actions.githubusercontent.com/").unwrap(),
            "token.actions.githubusercontent.com"
        );
        assert_eq!(
            provider_key("http://127.0.0.1:4599/oidc/id/X").unwrap(),
            "127.0.0.1:4599/oidc/id/X"
        );
        assert_eq!(
            provider_key("http://localhost:4599/x").unwrap(),
            "localhost:4599/x"
        );
        for bad in [
            "http://example.com/x",
            "ftp://x",
            "https://",
            "https://a?b=c",
            "oidc.example.com",
            "http://127.0.0.1.evil.com/x",
            // Issue 11, finding 6: userinfo hides the real host.
            "http://localhost:1@127.0.0.2:4702",
            "https://user@oidc.example.com/id/X",
            "http://127.0.0.1:1@10.0.0.1/x",
        ] {
            assert!(provider_key(bad).is_err(), "{bad}");
        }
    }
}
