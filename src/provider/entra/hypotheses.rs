//! Every fact about Graph and the Entra token endpoint that the protocol reference marks as an
//! inference (`[inf]`) or as an unverified observation, gathered in one place so that a correction
//! from the real service is a one-line change here, not a hunt through the client.
//!
//! Invariant: the rest of the Entra client takes these facts only from this module. Documented
//! facts (`[doc]`) live next to the code that uses them.

/// The Graph scope of a cloud is its Graph root followed by `/.default` (the documented "resource
/// identifier + `/.default`" rule applied to the national clouds' Graph roots). [inf, reference §1]
pub const GRAPH_SCOPE_SUFFIX: &str = "/.default";

/// removePassword on an unknown or already removed `keyId` fails with a message containing this text.
/// Its status (seen as 400) and `error.code` (probably `Request_BadRequest`) are unverified, so the
/// client matches the message alone, case-insensitively, on any 4xx. [obs+inf, reference §3.2]
pub const NO_PASSWORD_CREDENTIAL_FOUND: &str = "no password credential found with keyid";

/// Error codes that mean "this application holds as many passwords as it may". The legacy
/// `Directory_ResourceSizeExceeded` (403) and the az CLI's `TooManyAppPasswords` are seen in the
/// wild; the code Graph's addPassword actually returns is unverified. [obs+inf, reference §3.5]
pub const PASSWORD_LIMIT_CODES: &[&str] = &["Directory_ResourceSizeExceeded", "TooManyAppPasswords"];

/// Message fragments (lower case) for the password-count ceiling, because the codes above are
/// unverified. [obs, reference §3.5]
pub const PASSWORD_LIMIT_MESSAGES: &[&str] = &[
    "maximum of 2 encrypted credentials",
    "not allowed to add 3 passwords",
    "size of the object has exceeded its limit",
];

/// App management policy: lifetime over the cap. Seen as HTTP 400. [obs, reference §3.6]
pub const LIFETIME_POLICY_CODE: &str = "CredentialInvalidLifetimeAsPerAppPolicy";

/// App management policy: passwords blocked. Its status was never seen (probably 400), so the code
/// is matched on any status. [obs+inf, reference §3.6]
pub const CREDENTIAL_TYPE_POLICY_CODE: &str = "CredentialTypeNotAllowedAsPerAppPolicy";

/// Whether a Graph error is the "password limit reached" failure, by code or, failing that, by message.
pub fn is_password_limit(code: &str, message: &str) -> bool {
    let message = message.to_ascii_lowercase();
    PASSWORD_LIMIT_CODES.iter().any(|c| c.eq_ignore_ascii_case(code))
        || PASSWORD_LIMIT_MESSAGES.iter().any(|m| message.contains(m))
}

/// Whether a removePassword failure says the key is already gone.
pub fn is_no_password_credential_found(message: &str) -> bool {
    message
        .to_ascii_lowercase()
        .contains(NO_PASSWORD_CREDENTIAL_FOUND)
}

/// Graph timestamps are UTC with a `Z`; a timestamp without any offset (as in `innerError.date`) is
/// read as UTC. [inf, reference §4.1]
pub const OFFSETLESS_TIMESTAMPS_ARE_UTC: bool = true;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_limit_matches_codes_and_messages_case_insensitively() {
        assert!(is_password_limit("directory_resourcesizeexceeded", ""));
        assert!(is_password_limit(
            "Request_BadRequest",
            "You can only add a MAXIMUM of 2 encrypted credentials."
        ));
        assert!(is_password_limit(
            "Request_BadRequest",
            "The size of the object has exceeded its limit. Please reduce the number of values and retry"
        ));
        assert!(!is_password_limit(
            "Request_BadRequest",
            "Invalid value specified for property"
        ));
    }

    #[test]
    fn no_password_credential_found_is_matched_on_the_message() {
        assert!(is_no_password_credential_found(
            "No password credential found with keyId 3c1f6a0e-8d2b-4f7e-9a51-0b7c2d4e6f80."
        ));
        assert!(!is_no_password_credential_found("Resource does not exist"));
    }
}
