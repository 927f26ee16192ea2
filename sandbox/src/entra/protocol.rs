//! Every wire-level fact of Microsoft Entra and Graph that the emulator reproduces and that the
//! protocol reference (`shared/docs/entra-graph-protocol.md`) marks as an inference (\[inf\]) or
//! leaves open: status codes, error codes and message texts. They live here, in one place, so
//! that a fact proven wrong against the real service is changed once.
//!
//! Facts the reference states as documented or observed are also here when several modules use
//! them; each constant says which kind it is.

use std::time::Duration;

/// The well-known application id of Microsoft Graph; tokens may carry it as `aud` too. \[doc\]
pub const GRAPH_APP_ID: &str = "00000003-0000-0000-c000-000000000000";

/// The Graph resource of the global cloud. \[doc\]
pub const GLOBAL_GRAPH_RESOURCE: &str = "https://graph.microsoft.com";

/// The public authority host, used in `error_uri` and the `WWW-Authenticate` header. \[obs\]
pub const AUTHORITY_HOST: &str = "https://login.microsoftonline.com";

/// The audience a federated token must carry for Entra's token exchange. \[code: AWI-consts\]
pub const TOKEN_EXCHANGE_AUDIENCE: &str = "api://AzureADTokenExchange";

/// Default lifetime of access tokens from the token endpoint (`expires_in` 3599). \[doc: E-cc\]
pub const DEFAULT_TOKEN_LIFETIME: Duration = Duration::from_secs(3599);

/// Default lifetime of managed-identity tokens from IMDS. \[inf: IMDS tokens live about 24 h\]
pub const DEFAULT_IMDS_TOKEN_LIFETIME: Duration = Duration::from_secs(86_399);

/// Clock skew tolerated on client assertions' `exp`/`nbf`. \[inf\]
pub const ASSERTION_CLOCK_SKEW: Duration = Duration::from_secs(300);

/// Length of generated secrets. \[inf: "a random 40-character value"\]
pub const SECRET_LENGTH: usize = 40;

/// Characters 4–6 of current Entra secrets. \[inf: `xxx8Q~…`\]
pub const SECRET_VERSION_MARKER: &str = "8Q~";

/// Default `endDateTime` when addPassword omits it: start plus this many years. \[doc: G-addpw\]
pub const DEFAULT_PASSWORD_LIFETIME_YEARS: i16 = 2;

/// The id of the tenant-wide default app management policy. \[inf: all-zero GUID as in Graph's example\]
pub const DEFAULT_POLICY_ID: &str = "00000000-0000-0000-0000-000000000000";

/// `signInAudience` values that include personal Microsoft accounts. \[obs: ISS-2pw\]
pub const PERSONAL_ACCOUNT_AUDIENCES: [&str; 2] =
    ["AzureADandPersonalMicrosoftAccount", "PersonalMicrosoftAccount"];

/// Maximum number of passwords on apps whose audience includes personal accounts. \[obs: ISS-2pw, uncertain\]
pub const PERSONAL_ACCOUNT_PASSWORD_LIMIT: usize = 2;

/// Throttling defaults. \[doc: G-limits\]
pub mod throttle {
    use std::time::Duration;
    /// Write quota per app + tenant.
    pub const WRITE_CAPACITY: u32 = 3000;
    /// Window of the write quota.
    pub const WRITE_WINDOW: Duration = Duration::from_secs(150);
    /// Resource-unit quota per app + tenant (small tenant).
    pub const RU_CAPACITY: u32 = 3500;
    /// Window of the resource-unit quota.
    pub const RU_WINDOW: Duration = Duration::from_secs(10);
    /// `x-ms-throttle-limit-percentage` is sent only above this fraction.
    pub const REPORT_THRESHOLD: f64 = 0.8;
}

/// Graph error codes and messages.
pub mod graph {
    use http::StatusCode;

    /// Unknown object. \[obs: ISS-404\]
    pub const NOT_FOUND_CODE: &str = "Request_ResourceNotFound";
    /// Message of [`NOT_FOUND_CODE`]. \[obs: ISS-404\]
    pub fn not_found_message(id: &str) -> String {
        format!(
            "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
        )
    }
    /// Bad input. \[obs\]
    pub const BAD_REQUEST_CODE: &str = "Request_BadRequest";
    /// removePassword with an unknown keyId. \[inf\]
    pub fn no_password_message(key_id: &str) -> String {
        format!("No password credential found with keyId {key_id}.")
    }
    /// Missing role or not an owner. \[obs: ISS-authz\]
    pub const DENIED_CODE: &str = "Authorization_RequestDenied";
    /// Message of [`DENIED_CODE`]. \[obs: ISS-authz\]
    pub const DENIED_MESSAGE: &str = "Insufficient privileges to complete the operation.";
    /// Bad or missing bearer token. \[obs: ISS-401-rs\]
    pub const INVALID_TOKEN_CODE: &str = "InvalidAuthenticationToken";
    /// No token at all. \[inf\]
    pub const EMPTY_TOKEN_MESSAGE: &str = "Access token is empty.";
    /// Expired or not yet valid token. \[obs\]
    pub const EXPIRED_TOKEN_MESSAGE: &str = "Access token has expired or is not yet valid.";
    /// Token with a bad signature, audience or claims. \[obs\]
    pub const INVALID_TOKEN_MESSAGE: &str = "Access token validation failure.";
    /// Token that is not a JWT. \[obs\]
    pub const UNPARSEABLE_TOKEN_MESSAGE: &str = "CompactToken parsing failed with error code: 80049217";
    /// `WWW-Authenticate` on 401. \[obs: ISS-401-rs\]
    pub const WWW_AUTHENTICATE: &str = "Bearer realm=\"\", authorization_uri=\"https://login.microsoftonline.com/common/oauth2/authorize\", client_id=\"00000003-0000-0000-c000-000000000000\"";
    /// Lifetime over a policy's cap. \[obs: ISS-policy\]
    pub const LIFETIME_POLICY_CODE: &str = "CredentialInvalidLifetimeAsPerAppPolicy";
    /// Message of [`LIFETIME_POLICY_CODE`]. \[obs: ISS-policy\]
    pub fn lifetime_policy_message(policy_id: &str) -> String {
        format!("Credential lifetime exceeds the max value allowed as per assigned policy '{policy_id}'.")
    }
    /// `details[0]` of a lifetime violation. \[obs: ISS-policy\]
    pub const LIFETIME_DETAIL_CODE: &str = "InvalidKeyEndDate";
    /// `details[0].target` of a lifetime violation. \[obs: ISS-policy\]
    pub const LIFETIME_DETAIL_TARGET: &str = "EndDate";
    /// Secrets blocked by a policy. \[obs: ISS-policy-toolkit\]
    pub const ADDITION_POLICY_CODE: &str = "CredentialTypeNotAllowedAsPerAppPolicy";
    /// Status of [`ADDITION_POLICY_CODE`]. \[inf: "probably 400"\]
    pub const ADDITION_POLICY_STATUS: StatusCode = StatusCode::BAD_REQUEST;
    /// Message of [`ADDITION_POLICY_CODE`]. \[inf\]
    pub fn addition_policy_message(policy_id: &str) -> String {
        format!("Password credential addition is not allowed as per assigned policy '{policy_id}'.")
    }
    /// Status of the two-password limit. \[inf\]
    pub const PASSWORD_LIMIT_STATUS: StatusCode = StatusCode::BAD_REQUEST;
    /// Code of the two-password limit. \[inf\]
    pub const PASSWORD_LIMIT_CODE: &str = "Request_BadRequest";
    /// Message of the two-password limit. \[obs: ISS-2pw\]
    pub const PASSWORD_LIMIT_MESSAGE: &str = "You can only add a maximum of 2 encrypted credentials.";
    /// Status of the object-size limit. \[inf: legacy AAD Graph says 403\]
    pub const SIZE_LIMIT_STATUS: StatusCode = StatusCode::FORBIDDEN;
    /// Code of the object-size limit. \[inf: legacy AAD Graph\]
    pub const SIZE_LIMIT_CODE: &str = "Directory_ResourceSizeExceeded";
    /// Message of the object-size limit. \[doc: AADG-ext\]
    pub const SIZE_LIMIT_MESSAGE: &str = "The size of the object has exceeded its limit. Please reduce the number of values and retry your request.";
    /// Code of a 429 from the throttling buckets. \[inf: unconfirmed, clients must not branch on it\]
    pub const THROTTLED_CODE: &str = "Request_ThrottledTemporarily";
    /// Message of a 429. \[inf\]
    pub fn throttled_message(retry_after_secs: u64) -> String {
        format!("Your request is throttled temporarily. Please try after {retry_after_secs} seconds.")
    }
    /// Error code that an injected fault with this status carries. \[doc: G-errors, inf for 500/504\]
    pub fn fault_code(status: StatusCode) -> &'static str {
        match status.as_u16() {
            429 => THROTTLED_CODE,
            503 => "serviceNotAvailable",
            504 => "gatewayTimeout",
            500 => "generalException",
            _ => "UnknownError",
        }
    }
    /// Malformed JSON body. \[inf\]
    pub const BAD_JSON_MESSAGE: &str = "Unable to read JSON request payload. Please ensure Content-Type header is set and payload is of valid JSON format.";
}

/// Token-endpoint (AADSTS) errors: `(HTTP status, OAuth error, AADSTS code)` and message texts.
pub mod aadsts {
    use http::StatusCode;

    /// One AADSTS error kind.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Kind {
        /// HTTP status.
        pub status: StatusCode,
        /// The OAuth `error` string.
        pub error: &'static str,
        /// The AADSTS number.
        pub code: u32,
    }

    /// Wrong, unknown or not yet propagated secret. \[obs: ISS-7000215\]
    pub const INVALID_SECRET: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 7000215,
    };
    /// Expired (or not yet started) secret. \[obs: ISS-7000222; 401 is inf\]
    pub const EXPIRED_SECRET: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 7000222,
    };
    /// Unknown application in the tenant. \[obs: ISS-700016\]
    pub const UNKNOWN_APP: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "unauthorized_client",
        code: 700016,
    };
    /// Unknown tenant. \[doc: E-err\]
    pub const UNKNOWN_TENANT: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        code: 90002,
    };
    /// Missing parameter. \[doc: E-err; 400 inf\]
    pub const MISSING_PARAMETER: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        code: 900144,
    };
    /// Bad scope. \[doc: E-cc\]
    pub const INVALID_SCOPE: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_scope",
        code: 70011,
    };
    /// Unsupported grant type. \[inf\]
    pub const UNSUPPORTED_GRANT: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "unsupported_grant_type",
        code: 70003,
    };
    /// Neither secret nor assertion. \[inf\]
    pub const NO_CREDENTIAL: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 7000218,
    };
    /// Federated token matching no federated identity credential. \[doc: AWI-trouble\]
    pub const NO_MATCHING_FEDERATION: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        code: 70021,
    };
    /// Assertion signature (or key lookup) failure. \[doc: E-err; status and error inf\]
    pub const BAD_ASSERTION_SIGNATURE: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 700027,
    };
    /// Assertion `iss`/`sub` differ from `client_id`. \[inf\]
    pub const ASSERTION_WRONG_CLIENT: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 700021,
    };
    /// Assertion audience is not this token endpoint. \[obs: MSAL.NET issue 2746\]
    pub const ASSERTION_WRONG_AUDIENCE: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 700023,
    };
    /// Assertion outside its `nbf`..`exp` window. \[inf\]
    pub const ASSERTION_LIFETIME: Kind = Kind {
        status: StatusCode::UNAUTHORIZED,
        error: "invalid_client",
        code: 700024,
    };
    /// Assertion that is not a parseable JWT, or of an unknown assertion type. \[inf\]
    pub const MALFORMED_ASSERTION: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        code: 50027,
    };
    /// Federated issuer whose keys the emulator was not given. \[inf\]
    pub const UNTRUSTED_ISSUER: Kind = Kind {
        status: StatusCode::BAD_REQUEST,
        error: "invalid_request",
        code: 50166,
    };
    /// Token endpoint throttled (injected 429). \[doc: E-err; 429 inf\]
    pub const THROTTLED: Kind = Kind {
        status: StatusCode::TOO_MANY_REQUESTS,
        error: "temporarily_unavailable",
        code: 90055,
    };
    /// Retryable server error (injected 5xx). \[doc: E-err\]
    pub const RETRYABLE: Kind = Kind {
        status: StatusCode::SERVICE_UNAVAILABLE,
        error: "temporarily_unavailable",
        code: 50033,
    };

    /// 7000215 text. \[obs: ISS-7000215\]
    pub fn invalid_secret(app_id: &str) -> String {
        format!(
            "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '{app_id}'."
        )
    }
    /// 7000222 text. \[obs: ISS-7000222\]
    pub fn expired_secret(app_id: &str) -> String {
        format!(
            "The provided client secret keys for app '{app_id}' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds."
        )
    }
    /// 700016 text. \[obs: ISS-700016\]
    pub fn unknown_app(app_id: &str, tenant: &str) -> String {
        format!(
            "Application with identifier '{app_id}' was not found in the directory '{tenant}'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant."
        )
    }
    /// 90002 text. \[doc: E-err\]\[obs: ISS-90002\]
    pub fn unknown_tenant(tenant: &str) -> String {
        format!(
            "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are signing into the correct cloud. Check with your subscription administrator, this may happen if there are no active subscriptions for the tenant."
        )
    }
    /// 900144 text. \[doc: E-err\]
    pub fn missing_parameter(name: &str) -> String {
        format!("The request body must contain the following parameter: '{name}'.")
    }
    /// 70011 text. \[inf\]
    pub fn invalid_scope(scope: &str) -> String {
        format!(
            "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid."
        )
    }
    /// 70003 text. \[inf\]
    pub fn unsupported_grant(grant: &str) -> String {
        format!("The app requested an unsupported grant type '{grant}'.")
    }
    /// 7000218 text. \[inf\]
    pub const NO_CREDENTIAL_TEXT: &str =
        "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.";
    /// 70021 text. \[doc: AWI-trouble\]
    pub fn no_matching_federation(issuer: &str, subject: &str, audience: &str) -> String {
        format!(
            "No matching federated identity record found for presented assertion. Assertion Issuer: '{issuer}'. Assertion Subject: '{subject}'. Assertion Audience: '{audience}'."
        )
    }
    /// 700027 text. \[doc: E-err; reason inf\]
    pub fn bad_signature(reason: &str) -> String {
        format!("Client assertion failed signature validation. [Reason - {reason}]")
    }
    /// 700021 text. \[inf\]
    pub const WRONG_CLIENT_TEXT: &str =
        "Client assertion application identifier doesn't match 'client_id' parameter.";
    /// 700023 text. \[obs\]
    pub const WRONG_AUDIENCE_TEXT: &str = "Client assertion audience claim does not match Realm issuer.";
    /// 700024 text. \[inf\]
    pub fn assertion_lifetime(now: &str, nbf: &str, exp: &str) -> String {
        format!(
            "Client assertion is not within its valid time range. Current time: {now}, assertion valid from {nbf}, expiry time of assertion {exp}."
        )
    }
    /// 50027 text. \[inf\]
    pub const MALFORMED_ASSERTION_TEXT: &str = "JWT token is invalid or malformed.";
    /// 50166 text. \[inf\]
    pub fn untrusted_issuer(issuer: &str) -> String {
        format!("Request to External OIDC endpoint failed. Issuer: '{issuer}'.")
    }
    /// Text of injected throttling. \[inf\]
    pub const THROTTLED_TEXT: &str = "The request has been throttled.";
    /// Text of injected server errors. \[inf\]
    pub const RETRYABLE_TEXT: &str = "Retry the request.";
}

/// IMDS error texts. \[inf\]
pub mod imds {
    /// Missing `Metadata: true`.
    pub const MISSING_METADATA_HEADER: &str = "Required metadata header not specified";
    /// Missing query parameter.
    pub fn missing_query(name: &str) -> String {
        format!("Required query variable '{name}' is missing")
    }
    /// No identity with the requested id.
    pub const IDENTITY_NOT_FOUND: &str = "Identity not found";
    /// Several user-assigned identities and none chosen.
    pub const AMBIGUOUS_IDENTITY: &str = "Multiple user assigned identities exist, please specify the clientId / resourceId of the identity in the token request";
}
