//! How directory objects and credentials look on the wire.
//!
//! Invariant: `secretText` is `null` in every rendering except the addPassword response, and
//! only credentials/objects visible at the read instant (after read lag) are rendered.

use jiff::Timestamp;
use serde_json::{Map, Value, json};

use crate::entra::clock::graph_precision;
use crate::entra::directory::{CertificateRecord, DirObject, ObjectKind, PasswordRecord};

/// A Graph `DateTimeOffset` (UTC, up to 7 fractional digits, trailing zeros trimmed).
pub(crate) fn timestamp(t: Timestamp) -> String {
    graph_precision(t).to_string()
}

/// A `passwordCredential`; `secret_text` only for the addPassword response.
pub(crate) fn password(p: &PasswordRecord, secret_text: Option<&str>) -> Map<String, Value> {
    let v = json!({
        "customKeyIdentifier": null,
        "displayName": p.display_name,
        "endDateTime": timestamp(p.end),
        "hint": p.hint,
        "keyId": p.key_id,
        "secretText": secret_text,
        "startDateTime": timestamp(p.start),
    });
    v.as_object().cloned().unwrap_or_default()
}

fn certificate(c: &CertificateRecord) -> Value {
    let thumbprint: String = c.sha1.iter().map(|b| format!("{b:02X}")).collect();
    json!({
        "customKeyIdentifier": thumbprint,
        "displayName": c.display_name,
        "endDateTime": timestamp(c.end),
        "key": null,
        "keyId": c.key_id,
        "startDateTime": timestamp(c.start),
        "type": "AsymmetricX509Cert",
        "usage": "Verify",
    })
}

/// An application or service principal with its default properties, as read at `now`.
pub(crate) fn object(o: &DirObject, publisher_domain: &str, now: Timestamp) -> Map<String, Value> {
    let passwords: Vec<Value> = o
        .passwords
        .iter()
        .filter(|p| p.readable(now))
        .map(|p| Value::Object(password(p, None)))
        .collect();
    let keys: Vec<Value> = o.certificates.iter().map(certificate).collect();
    let v = match o.kind {
        ObjectKind::Application => json!({
            "id": o.id,
            "appId": o.app_id,
            "displayName": o.display_name,
            "signInAudience": o.sign_in_audience,
            "createdDateTime": timestamp(o.created),
            "deletedDateTime": null,
            "description": null,
            "identifierUris": [],
            "publisherDomain": publisher_domain,
            "tags": [],
            "keyCredentials": keys,
            "passwordCredentials": passwords,
        }),
        ObjectKind::ServicePrincipal => json!({
            "id": o.id,
            "appId": o.app_id,
            "displayName": o.display_name,
            "appDisplayName": o.display_name,
            "accountEnabled": true,
            "appOwnerOrganizationId": o.tenant_id,
            "createdDateTime": timestamp(o.created),
            "deletedDateTime": null,
            "servicePrincipalNames": [o.app_id],
            "servicePrincipalType": o.service_principal_type,
            "signInAudience": o.sign_in_audience,
            "tags": [],
            "keyCredentials": keys,
            "passwordCredentials": passwords,
        }),
    };
    v.as_object().cloned().unwrap_or_default()
}

/// `@odata.context` for an entity set, with the `$select` list, for a single entity or a list.
pub(crate) fn context(graph_root: &str, set: &str, select: Option<&[String]>, single: bool) -> String {
    let select = select.map(|s| format!("({})", s.join(","))).unwrap_or_default();
    let entity = if single { "/$entity" } else { "" };
    format!("{graph_root}/v1.0/$metadata#{set}{select}{entity}")
}
