//! Graph's wire shapes for applications, service principals and password credentials, and their
//! translation into the provider-neutral types of [`crate::provider`].
//!
//! Invariants:
//! * timestamps of any RFC 3339 precision parse (Graph sends 7 fractional digits);
//! * `secretText` is deserialised straight into a [`SecretString`]; nothing here can print it;
//! * parse failures never quote the body (it may hold `secretText`): only where parsing stopped.

use jiff::{Timestamp, civil::DateTime, tz::TimeZone};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::hypotheses::OFFSETLESS_TIMESTAMPS_ARE_UTC;
use crate::provider::{
    ApplicationCredentials, Credential, MintRequest, MintedCredential, ProviderError, Reason,
};

/// The `$select` the client asks for when reading an application or service principal.
pub const SELECT: &str = "id,appId,passwordCredentials";

/// An application or service principal, as far as `$select=id,appId,passwordCredentials` goes.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DirectoryObject {
    pub id: String,
    pub app_id: String,
    #[serde(default)]
    pub password_credentials: Option<Vec<PasswordCredential>>,
}

/// A passwordCredential as Graph returns it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PasswordCredential {
    pub key_id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default)]
    pub hint: Option<String>,
    #[serde(default)]
    pub start_date_time: Option<String>,
    #[serde(default)]
    pub end_date_time: Option<String>,
    /// Only ever present in an addPassword response.
    #[serde(default)]
    pub secret_text: Option<SecretString>,
}

/// The body of addPassword.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AddPasswordBody {
    pub password_credential: NewPasswordCredential,
}

/// The passwordCredential of an addPassword request.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NewPasswordCredential {
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_date_time: Option<String>,
    /// Always sent: Graph's two-year default trips lifetime policies.
    pub end_date_time: String,
}

impl AddPasswordBody {
    pub fn from_request(request: &MintRequest) -> Self {
        Self {
            password_credential: NewPasswordCredential {
                display_name: request.display_name.clone(),
                start_date_time: request.start.map(|t| t.to_string()),
                end_date_time: request.end.to_string(),
            },
        }
    }
}

/// The body of removePassword.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RemovePasswordBody<'a> {
    pub key_id: &'a str,
}

/// Parses a Graph timestamp: RFC 3339 with any number of fractional digits; without an offset it is
/// read as UTC (see [`OFFSETLESS_TIMESTAMPS_ARE_UTC`]).
pub fn parse_timestamp(value: &str) -> Result<Timestamp, String> {
    let value = value.trim();
    if let Ok(ts) = value.parse::<Timestamp>() {
        return Ok(ts);
    }
    if OFFSETLESS_TIMESTAMPS_ARE_UTC && let Ok(civil) = value.parse::<DateTime>() {
        return civil
            .to_zoned(TimeZone::UTC)
            .map(|z| z.timestamp())
            .map_err(|e| e.to_string());
    }
    Err(format!("{value:?} is not an RFC 3339 timestamp"))
}

fn unexpected(message: String) -> ProviderError {
    ProviderError::new(Reason::UnexpectedResponse, message)
}

impl PasswordCredential {
    /// The provider-neutral credential (never the secret).
    pub fn to_credential(&self) -> Result<Credential, ProviderError> {
        let end = self
            .end_date_time
            .as_deref()
            .ok_or_else(|| unexpected(format!("password credential {} has no endDateTime", self.key_id)))?;
        let end =
            parse_timestamp(end).map_err(|e| unexpected(format!("endDateTime of {}: {e}", self.key_id)))?;
        let start = match self.start_date_time.as_deref() {
            Some(s) => Some(
                parse_timestamp(s)
                    .map_err(|e| unexpected(format!("startDateTime of {}: {e}", self.key_id)))?,
            ),
            None => None,
        };
        Ok(Credential {
            key_id: self.key_id.clone(),
            display_name: self.display_name.clone(),
            hint: self.hint.clone(),
            start,
            end,
        })
    }

    /// The minted credential of an addPassword response.
    pub fn into_minted(mut self) -> Result<MintedCredential, ProviderError> {
        let credential = self.to_credential()?;
        let secret = self.secret_text.take().ok_or_else(|| {
            unexpected(format!(
                "addPassword answered without secretText for key {}",
                credential.key_id
            ))
        })?;
        Ok(MintedCredential { credential, secret })
    }
}

impl DirectoryObject {
    pub fn into_credentials(self) -> Result<ApplicationCredentials, ProviderError> {
        let credentials = self
            .password_credentials
            .unwrap_or_default()
            .iter()
            .map(PasswordCredential::to_credential)
            .collect::<Result<_, _>>()?;
        Ok(ApplicationCredentials {
            client_id: self.app_id,
            object_id: self.id,
            credentials,
        })
    }
}

/// Parses a JSON body that may hold a secret. On failure the error says where parsing stopped,
/// never what it saw (serde_json's messages can quote values).
pub fn parse_secret_bearing<T: serde::de::DeserializeOwned>(
    body: &[u8],
    what: &str,
) -> Result<T, ProviderError> {
    serde_json::from_slice(body).map_err(|e| {
        unexpected(format!(
            "{what}: the response is not the expected JSON ({:?} error at line {}, column {})",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn timestamps_of_any_precision_parse() {
        let seven = parse_timestamp("2021-09-09T19:50:29.3086381Z").unwrap();
        assert_eq!(seven.subsec_nanosecond(), 308_638_100);
        assert_eq!(
            parse_timestamp("2027-03-30T08:00:00Z").unwrap().as_second(),
            1_806_393_600
        );
        assert_eq!(
            parse_timestamp("2027-03-30T10:00:00+02:00").unwrap(),
            parse_timestamp("2027-03-30T08:00:00Z").unwrap()
        );
        assert_eq!(
            parse_timestamp("2022-03-28T07:32:32").unwrap(),
            parse_timestamp("2022-03-28T07:32:32Z").unwrap()
        );
        assert!(parse_timestamp("yesterday").is_err());
    }

    #[test]
    fn add_password_response_becomes_a_minted_credential() {
        let body = br#"{
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#microsoft.graph.passwordCredential",
            "customKeyIdentifier": null, "displayName": "rotator/ns1/my-app 2026-10-01",
            "endDateTime": "2027-03-30T08:00:00Z", "hint": "Zq4",
            "keyId": "3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80",
            "secretText": "Zq48Q~exampleexampleexampleexampleexample",
            "startDateTime": "2026-10-01T08:00:00.1234567Z"
        }"#;
        let wire: PasswordCredential = parse_secret_bearing(body, "addPassword").unwrap();
        let minted = wire.into_minted().unwrap();
        assert_eq!(minted.credential.key_id, "3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80");
        assert_eq!(minted.credential.hint.as_deref(), Some("Zq4"));
        assert_eq!(
            minted.secret.expose_secret(),
            "Zq48Q~exampleexampleexampleexampleexample"
        );
        assert!(!format!("{minted:?}").contains("Zq48Q~example"));
    }

    #[test]
    fn a_mangled_secret_bearing_body_is_not_quoted_in_the_error() {
        let body = br#"{"keyId": 5, "secretText": "Zq48Q~leak"}"#;
        let err = parse_secret_bearing::<PasswordCredential>(body, "addPassword").unwrap_err();
        assert_eq!(err.reason, Reason::UnexpectedResponse);
        assert!(!err.to_string().contains("leak"), "{err}");
        let body = br#"{"keyId": "k", "endDateTime": "2027-01-01T00:00:00Z"}"#;
        let wire: PasswordCredential = parse_secret_bearing(body, "addPassword").unwrap();
        assert_eq!(wire.into_minted().unwrap_err().reason, Reason::UnexpectedResponse);
    }

    #[test]
    fn application_read_lists_credentials() {
        let body = br#"{"@odata.context": "x/$entity", "id": "obj", "appId": "client",
            "passwordCredentials": [{"customKeyIdentifier": null, "displayName": null,
            "endDateTime": "2026-09-28T08:00:00Z", "hint": "k2P", "keyId": "k1", "secretText": null,
            "startDateTime": "2026-04-01T08:00:00Z"}]}"#;
        let object: DirectoryObject = parse_secret_bearing(body, "read").unwrap();
        let creds = object.into_credentials().unwrap();
        assert_eq!(
            (creds.client_id.as_str(), creds.object_id.as_str()),
            ("client", "obj")
        );
        assert_eq!(creds.credentials.len(), 1);
        assert_eq!(creds.credentials[0].display_name, None);
        let missing_end = br#"{"id": "o", "appId": "c", "passwordCredentials": [{"keyId": "k"}]}"#;
        let object: DirectoryObject = parse_secret_bearing(missing_end, "read").unwrap();
        assert_eq!(
            object.into_credentials().unwrap_err().reason,
            Reason::UnexpectedResponse
        );
    }

    #[test]
    fn add_password_body_always_carries_an_end() {
        let request = MintRequest {
            display_name: "rotator/ns/app".into(),
            start: None,
            end: "2027-03-30T08:00:00Z".parse().unwrap(),
        };
        let json = serde_json::to_value(AddPasswordBody::from_request(&request)).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"passwordCredential": {"displayName": "rotator/ns/app", "endDateTime": "2027-03-30T08:00:00Z"}})
        );
    }
}
