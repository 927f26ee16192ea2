//! `secret-rotator rotate <name> [-n ns] [--emergency]`: requests one rotation now, like
//! `cmctl renew`, by setting the rotation's request annotation to a new value; the operator acts
//! on each value once.
//!
//! Invariant: the command only ever writes that one annotation (a JSON merge patch under its own
//! field manager); it never touches the spec, the status or any Secret.

use jiff::Timestamp;
use kube::{
    Api,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::kubeconfig::{ConnectError, KubeconfigArgs};
use crate::api::{ClientSecretRotation, wellknown};

/// Arguments of `secret-rotator rotate`.
#[derive(Clone, Debug, clap::Args)]
pub struct RotateArgs {
    /// Name of the ClientSecretRotation.
    pub name: String,
    /// Namespace of the ClientSecretRotation (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Emergency rotation, for a leaked secret: the current secret is revoked as soon as the new
    /// one is verified and written, without waiting for rollouts or the overlap.
    #[arg(long)]
    pub emergency: bool,
    /// Connection flags.
    #[command(flatten)]
    pub kube: KubeconfigArgs,
}

/// Which rotation is requested.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A normal rotation: the previous secret is revoked after rollouts and the overlap.
    Manual,
    /// An emergency rotation: the previous secret is revoked as soon as the new one is written.
    Emergency,
}

impl RequestKind {
    /// The annotation that carries this kind of request.
    pub fn annotation(self) -> &'static str {
        match self {
            RequestKind::Manual => wellknown::ANNOTATION_ROTATE,
            RequestKind::Emergency => wellknown::ANNOTATION_EMERGENCY_ROTATE,
        }
    }
}

/// The annotation value of a new request made at `now`: the time in RFC 3339 with nanoseconds
/// (readable, and distinct from every earlier request), made distinct from `previous` should the
/// clock repeat itself.
pub fn request_value(now: Timestamp, previous: Option<&str>) -> String {
    let value = now.to_string();
    if previous == Some(value.as_str()) {
        return format!("{value}+1");
    }
    value
}

/// The JSON merge patch that sets `annotation` to `value`.
pub fn request_patch(annotation: &str, value: &str) -> serde_json::Value {
    json!({ "metadata": { "annotations": { annotation: value } } })
}

/// What was done, for the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Requested {
    /// Namespace of the rotation.
    pub namespace: String,
    /// Name of the rotation.
    pub name: String,
    /// The annotation set.
    pub annotation: &'static str,
    /// Its new value.
    pub value: String,
    /// The kind of request.
    pub kind: RequestKind,
    /// The rotation is suspended (`spec.suspend`): nothing happens until it is resumed.
    pub suspended: bool,
    /// The phase of a rotation already in flight, if any.
    pub in_flight: Option<String>,
}

impl std::fmt::Display for Requested {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            RequestKind::Manual => "a rotation",
            RequestKind::Emergency => "an EMERGENCY rotation",
        };
        writeln!(
            f,
            "Requested {what} of clientsecretrotation {}/{} ({}={}).",
            self.namespace, self.name, self.annotation, self.value
        )?;
        if self.kind == RequestKind::Emergency {
            writeln!(
                f,
                "The current secret is revoked as soon as the new one is verified and written, without waiting for rollouts."
            )?;
        }
        if let Some(phase) = &self.in_flight {
            writeln!(f, "Note: a rotation is already in flight (phase {phase}).")?;
        }
        if self.suspended {
            writeln!(
                f,
                "Note: the rotation is suspended (spec.suspend): nothing happens until it is resumed."
            )?;
        }
        write!(f, "Follow it with: secret-rotator status -n {}", self.namespace)
    }
}

/// Why the request could not be made.
#[derive(Debug, thiserror::Error)]
pub enum RotateError {
    /// The cluster could not be reached.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// There is no such rotation.
    #[error(
        "clientsecretrotation {name:?} not found in namespace {namespace:?} (list them with: secret-rotator status -A)"
    )]
    NotFound {
        /// The namespace looked in.
        namespace: String,
        /// The name looked for.
        name: String,
    },
    /// The cluster does not serve the ClientSecretRotation API.
    #[error(
        "the cluster does not serve clientsecretrotations.{group}: install the CRDs (kubectl apply -f crds/, or the Helm chart)",
        group = wellknown::GROUP
    )]
    ApiNotInstalled,
    /// The API server refused the request.
    #[error("cannot {action} clientsecretrotation {namespace}/{name}: {source}")]
    Api {
        /// What was attempted.
        action: &'static str,
        /// The namespace.
        namespace: String,
        /// The name.
        name: String,
        /// kube's error.
        source: kube::Error,
    },
}

/// Whether `error` says the resource type is not served at all, rather than that one object is
/// missing. kube-apiserver answers a path of an unknown API group with a plain-text
/// `404 page not found`, and an unknown resource of a known group with a `NotFound` Status that
/// names no object ("the server could not find the requested resource"); a missing object gets a
/// `NotFound` Status whose details name it.
pub(crate) fn api_not_installed(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(s) if s.code == 404 => {
            s.reason != "NotFound" || s.details.as_ref().is_none_or(|d| d.name.is_empty())
        }
        _ => false,
    }
}

/// Requests a rotation of `namespace/name` at `now` through `api`.
pub async fn request(
    api: &Api<ClientSecretRotation>,
    namespace: &str,
    name: &str,
    kind: RequestKind,
    now: Timestamp,
) -> Result<Requested, RotateError> {
    let api_error = |action, source| RotateError::Api {
        action,
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        source,
    };
    let not_found = || RotateError::NotFound {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    };
    let current = match api.get(name).await {
        Ok(rotation) => rotation,
        Err(e) if api_not_installed(&e) => return Err(RotateError::ApiNotInstalled),
        Err(kube::Error::Api(s)) if s.code == 404 => return Err(not_found()),
        Err(e) => return Err(api_error("read", e)),
    };
    let annotation = kind.annotation();
    let previous = current
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(annotation));
    let value = request_value(now, previous.map(String::as_str));
    let params = PatchParams {
        field_manager: Some(wellknown::FIELD_MANAGER_CLI.to_owned()),
        ..Default::default()
    };
    let patched = match api
        .patch(name, &params, &Patch::Merge(request_patch(annotation, &value)))
        .await
    {
        Ok(p) => p,
        // Deleted between the read and the write.
        Err(kube::Error::Api(s)) if s.code == 404 => return Err(not_found()),
        Err(e) => return Err(api_error("annotate", e)),
    };
    Ok(Requested {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        annotation,
        value,
        kind,
        suspended: patched.spec.suspend,
        in_flight: patched
            .status
            .as_ref()
            .and_then(|s| s.rotation.as_ref())
            .map(|r| format!("{:?}", r.phase)),
    })
}

/// Runs `secret-rotator rotate`.
pub async fn run(args: &RotateArgs) -> Result<Requested, RotateError> {
    let connection = args.kube.connect().await?;
    let namespace = args.namespace.clone().unwrap_or(connection.default_namespace);
    let api = Api::namespaced(connection.client, &namespace);
    let kind = if args.emergency {
        RequestKind::Emergency
    } else {
        RequestKind::Manual
    };
    request(&api, &namespace, &args.name, kind, Timestamp::now()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_values_are_the_time_and_always_new() {
        let t: Timestamp = "2026-11-25T10:00:00.123456789Z".parse().unwrap();
        assert_eq!(request_value(t, None), "2026-11-25T10:00:00.123456789Z");
        assert_eq!(
            request_value(t, Some("2026-11-24T10:00:00Z")),
            "2026-11-25T10:00:00.123456789Z"
        );
        // The same instant again (a clock that stood still) still makes a new request.
        assert_eq!(
            request_value(t, Some("2026-11-25T10:00:00.123456789Z")),
            "2026-11-25T10:00:00.123456789Z+1"
        );
    }

    #[test]
    fn kinds_map_to_the_well_known_annotations() {
        assert_eq!(RequestKind::Manual.annotation(), "secret-rotator.dev/rotate");
        assert_eq!(
            RequestKind::Emergency.annotation(),
            "secret-rotator.dev/emergency-rotate"
        );
        assert_eq!(
            request_patch("secret-rotator.dev/rotate", "v"),
            json!({"metadata": {"annotations": {"secret-rotator.dev/rotate": "v"}}})
        );
    }

    #[test]
    fn the_message_says_what_happens_next() {
        let mut r = Requested {
            namespace: "team-a".into(),
            name: "my-app".into(),
            annotation: wellknown::ANNOTATION_EMERGENCY_ROTATE,
            value: "2026-11-25T10:00:00Z".into(),
            kind: RequestKind::Emergency,
            suspended: true,
            in_flight: Some("Verifying".into()),
        };
        let text = r.to_string();
        assert!(
            text.contains("EMERGENCY rotation of clientsecretrotation team-a/my-app"),
            "{text}"
        );
        assert!(text.contains("without waiting for rollouts"), "{text}");
        assert!(text.contains("suspended"), "{text}");
        assert!(text.contains("phase Verifying"), "{text}");
        r.kind = RequestKind::Manual;
        r.suspended = false;
        r.in_flight = None;
        let text = r.to_string();
        assert!(!text.contains("EMERGENCY") && !text.contains("suspended") && !text.contains("in flight"));
        assert!(text.ends_with("secret-rotator status -n team-a"), "{text}");
    }

    #[test]
    fn a_missing_api_is_told_apart_from_a_missing_object() {
        let plain_404 = kube::Error::Api(
            kube::core::Status::failure("404 page not found", "Failed to parse error data")
                .with_code(404)
                .boxed(),
        );
        let no_resource = kube::Error::Api(
            kube::core::Status::failure("the server could not find the requested resource", "NotFound")
                .with_code(404)
                .boxed(),
        );
        let not_found = kube::Error::Api(
            kube::core::Status::failure(
                "clientsecretrotations.secret-rotator.dev \"x\" not found",
                "NotFound",
            )
            .with_code(404)
            .with_details(kube::core::response::StatusDetails {
                name: "x".into(),
                group: wellknown::GROUP.into(),
                kind: "clientsecretrotations".into(),
                uid: String::new(),
                causes: vec![],
                retry_after_seconds: 0,
            })
            .boxed(),
        );
        assert!(api_not_installed(&plain_404));
        assert!(api_not_installed(&no_resource));
        assert!(!api_not_installed(&not_found));
    }
}
