//! The names of the Entra provider's HTTP operations, as its [`RequestObserver`] receives them
//! (and as `secret_rotator_graph_requests_total` labels them). A fixed set: one per kind of
//! request, never per application or credential.
//!
//! [`RequestObserver`]: crate::provider::observer::RequestObserver

/// `GET /applications/{id}` (or `(appId=...)`): the application and its password credentials.
pub const GET_APPLICATION: &str = "getApplication";
/// `GET /servicePrincipals/{id}`: a service principal and its password credentials.
pub const GET_SERVICE_PRINCIPAL: &str = "getServicePrincipal";
/// `POST .../addPassword`: minting a credential.
pub const ADD_PASSWORD: &str = "addPassword";
/// `POST .../removePassword`: revoking a credential.
pub const REMOVE_PASSWORD: &str = "removePassword";
/// The operator's own sign-in at the token endpoint (client credentials).
pub const TOKEN: &str = "token";
/// A verification probe: a token request with a newly minted secret (refusals while the secret
/// propagates are expected, and count as `clientError`).
pub const VERIFY_SECRET: &str = "verifySecret";
/// A token request to the Azure Instance Metadata Service (managed identity sign-in).
pub const MANAGED_IDENTITY_TOKEN: &str = "managedIdentityToken";

/// Every operation.
pub const ALL: [&str; 7] = [
    GET_APPLICATION,
    GET_SERVICE_PRINCIPAL,
    ADD_PASSWORD,
    REMOVE_PASSWORD,
    TOKEN,
    VERIFY_SECRET,
    MANAGED_IDENTITY_TOKEN,
];
