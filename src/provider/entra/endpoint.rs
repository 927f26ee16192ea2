//! Endpoint rules and URL construction for the token endpoint, Microsoft Graph and IMDS.
//!
//! Invariants:
//! * an endpoint is `https`, except plain `http` to a loopback host (127.0.0.0/8, `::1`,
//!   `localhost`) and, for IMDS only, the platform's link-local address `169.254.169.254`, which is
//!   plain http by design; anything else is [`Reason::InvalidConfiguration`];
//! * endpoints never carry user info, a query or a fragment;
//! * caller-supplied identifiers (tenant, object and client ids) always end up percent-encoded in
//!   one path segment (and quote-escaped inside an OData key literal), so they cannot reshape a URL.

use std::net::{IpAddr, Ipv4Addr};

use url::{Host, Url};

use crate::provider::{ApplicationId, ApplicationRef, CredentialHolder, ProviderError, Reason};

/// The Azure Instance Metadata Service address (link-local, plain http by design).
pub const IMDS_ADDRESS: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);

/// Which plain-http hosts an endpoint may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlainHttp {
    /// Loopback hosts only.
    LoopbackOnly,
    /// Loopback hosts and the IMDS link-local address.
    LoopbackOrImds,
}

/// Parses and checks an endpoint, returning it without a trailing slash in its path.
pub fn parse_endpoint(what: &str, raw: &str, plain_http: PlainHttp) -> Result<Url, ProviderError> {
    let invalid = |why: String| ProviderError::new(Reason::InvalidConfiguration, format!("{what}: {why}"));
    let mut url = Url::parse(raw.trim()).map_err(|e| invalid(format!("{raw:?} is not a URL ({e})")))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid("must not carry credentials".into()));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(format!("{raw:?} must not have a query or fragment")));
    }
    let host = url
        .host()
        .ok_or_else(|| invalid(format!("{raw:?} has no host")))?;
    match url.scheme() {
        "https" => {}
        "http" if is_loopback(&host) => {}
        "http"
            if plain_http == PlainHttp::LoopbackOrImds
                && matches!(host, Host::Ipv4(ip) if ip == IMDS_ADDRESS) => {}
        "http" => {
            return Err(invalid(format!(
                "plain http is only allowed to a loopback host, use https for {}",
                url.host_str().unwrap_or_default()
            )));
        }
        other => return Err(invalid(format!("unsupported scheme {other:?}, expected https"))),
    }
    let trimmed = url.path().trim_end_matches('/').to_owned();
    url.set_path(&trimmed);
    Ok(url)
}

fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Domain(name) => name.eq_ignore_ascii_case("localhost"),
        Host::Ipv4(ip) => IpAddr::V4(*ip).is_loopback(),
        Host::Ipv6(ip) => ip.is_loopback(),
    }
}

/// Checks a tenant id: a GUID or a domain name (letters, digits, `.` and `-`).
pub fn validate_tenant(tenant: &str) -> Result<(), ProviderError> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 256
        && tenant
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(ProviderError::new(
            Reason::InvalidConfiguration,
            format!("tenant id {tenant:?} is neither a GUID nor a domain name"),
        ))
    }
}

/// `{authority}/{tenant}/oauth2/v2.0/token`, keeping any path prefix of the authority.
pub fn token_url(authority: &Url, tenant: &str) -> Url {
    with_segments(authority, &[tenant, "oauth2", "v2.0", "token"])
}

/// `{graph root}/v1.0`.
pub fn graph_base(graph_root: &Url) -> Url {
    with_segments(graph_root, &["v1.0"])
}

/// The URL of the object that holds an application's credentials, e.g.
/// `/v1.0/applications/{id}` or `/v1.0/servicePrincipals(appId='{appId}')`.
pub fn object_url(graph_base: &Url, app: &ApplicationRef) -> Result<Url, ProviderError> {
    let collection = match app.holder {
        CredentialHolder::Application => "applications",
        CredentialHolder::ServicePrincipal => "servicePrincipals",
    };
    match &app.id {
        ApplicationId::ObjectId(id) => {
            non_empty(id, "object id")?;
            Ok(with_segments(graph_base, &[collection, id]))
        }
        ApplicationId::ClientId(app_id) => {
            non_empty(app_id, "client id")?;
            // OData string literal: a single quote is written twice.
            let key = format!("{collection}(appId='{}')", app_id.replace('\'', "''"));
            Ok(with_segments(graph_base, &[&key]))
        }
    }
}

/// The URL of a bound action (`addPassword`, `removePassword`) on the credential holder.
pub fn action_url(graph_base: &Url, app: &ApplicationRef, action: &str) -> Result<Url, ProviderError> {
    let object = object_url(graph_base, app)?;
    Ok(with_segments(&object, &[action]))
}

fn non_empty(value: &str, what: &str) -> Result<(), ProviderError> {
    // NB: `url` silently drops "." and ".." segments, which would turn an object URL into the
    // collection's URL.
    if value.trim().is_empty() || value == "." || value == ".." {
        Err(ProviderError::new(
            Reason::InvalidConfiguration,
            format!("the application's {what} {value:?} is not valid"),
        ))
    } else {
        Ok(())
    }
}

fn with_segments(base: &Url, segments: &[&str]) -> Url {
    let mut url = base.clone();
    {
        // NB: cannot fail: every base here was checked to be an http(s) URL with a host.
        let mut path = url.path_segments_mut().expect("http(s) URLs have a path");
        path.pop_if_empty();
        path.extend(segments);
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    fn app(id: ApplicationId, holder: CredentialHolder) -> ApplicationRef {
        ApplicationRef { id, holder }
    }

    #[test]
    fn https_is_accepted_and_trailing_slashes_dropped() {
        let url = parse_endpoint(
            "authority",
            "https://login.microsoftonline.com/",
            PlainHttp::LoopbackOnly,
        );
        assert_eq!(url.unwrap().as_str(), "https://login.microsoftonline.com/");
        let url = parse_endpoint("graph", "https://proxy.example/graph/", PlainHttp::LoopbackOnly).unwrap();
        assert_eq!(url.as_str(), "https://proxy.example/graph");
    }

    #[test]
    fn plain_http_only_to_loopback() {
        for ok in [
            "http://127.0.0.1:8080",
            "http://127.3.4.5",
            "http://[::1]:9",
            "http://LOCALHOST:1",
        ] {
            assert!(parse_endpoint("x", ok, PlainHttp::LoopbackOnly).is_ok(), "{ok}");
        }
        for bad in [
            "http://10.0.0.1",
            "http://login.microsoftonline.com",
            "http://localhost.evil.example",
            "http://169.254.169.254/metadata/identity/oauth2/token",
            "ftp://127.0.0.1",
        ] {
            let err = parse_endpoint("x", bad, PlainHttp::LoopbackOnly).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidConfiguration, "{bad}");
        }
        assert!(
            parse_endpoint(
                "imds",
                "http://169.254.169.254/metadata/identity/oauth2/token",
                PlainHttp::LoopbackOrImds
            )
            .is_ok()
        );
        assert!(parse_endpoint("imds", "http://169.254.169.253/x", PlainHttp::LoopbackOrImds).is_err());
    }

    #[test]
    fn endpoints_with_credentials_queries_or_garbage_are_rejected() {
        for bad in [
            "https://user:pw@login.example",
            "https://login.example/?x=1",
            "https://a/#f",
            "not a url",
        ] {
            assert!(
                parse_endpoint("x", bad, PlainHttp::LoopbackOnly).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn token_url_keeps_authority_prefix() {
        let authority =
            parse_endpoint("a", "https://login.microsoftonline.us/", PlainHttp::LoopbackOnly).unwrap();
        assert_eq!(
            token_url(&authority, "contoso.onmicrosoft.com").as_str(),
            "https://login.microsoftonline.us/contoso.onmicrosoft.com/oauth2/v2.0/token"
        );
        let prefixed = parse_endpoint("a", "http://127.0.0.1:1/entra", PlainHttp::LoopbackOnly).unwrap();
        assert_eq!(
            token_url(&prefixed, "t").as_str(),
            "http://127.0.0.1:1/entra/t/oauth2/v2.0/token"
        );
    }

    #[test]
    fn tenants_are_guids_or_domains() {
        assert!(validate_tenant("72f988bf-86f1-41af-91ab-2d7cd011db47").is_ok());
        assert!(validate_tenant("contoso.onmicrosoft.com").is_ok());
        for bad in ["", "a/b", "common?x", "tenant id"] {
            assert_eq!(
                validate_tenant(bad).unwrap_err().reason,
                Reason::InvalidConfiguration
            );
        }
    }

    #[test]
    fn object_urls_for_each_addressing_form() {
        let base = graph_base(&Url::parse("https://graph.microsoft.com").unwrap());
        let by_object = app(
            ApplicationId::ObjectId("7bec5fd1".into()),
            CredentialHolder::Application,
        );
        assert_eq!(
            object_url(&base, &by_object).unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/applications/7bec5fd1"
        );
        let by_client = app(
            ApplicationId::ClientId("46e6adf4".into()),
            CredentialHolder::ServicePrincipal,
        );
        assert_eq!(
            action_url(&base, &by_client, "addPassword").unwrap().as_str(),
            "https://graph.microsoft.com/v1.0/servicePrincipals(appId='46e6adf4')/addPassword"
        );
    }

    #[test]
    fn identifiers_cannot_reshape_the_url() {
        let base = graph_base(&Url::parse("https://graph.microsoft.com").unwrap());
        let sneaky = app(
            ApplicationId::ObjectId("../servicePrincipals/x?y#z".into()),
            CredentialHolder::Application,
        );
        let url = object_url(&base, &sneaky).unwrap();
        assert_eq!(
            url.path(),
            "/v1.0/applications/..%2FservicePrincipals%2Fx%3Fy%23z"
        );
        assert!(url.query().is_none());
        let quoted = app(
            ApplicationId::ClientId("a')/x('".into()),
            CredentialHolder::Application,
        );
        assert_eq!(
            object_url(&base, &quoted).unwrap().path(),
            "/v1.0/applications(appId='a'')%2Fx(''')"
        );
        for bad in [
            ApplicationId::ClientId(" ".into()),
            ApplicationId::ObjectId("..".into()),
        ] {
            let err = object_url(&base, &app(bad, CredentialHolder::Application)).unwrap_err();
            assert_eq!(err.reason, Reason::InvalidConfiguration);
        }
    }
}
