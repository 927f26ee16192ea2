//! Step 4 of a pass: performing the one action the core decided, and reporting its [`Outcome`].
//! Each action does exactly what [`crate::rotation::Action`] documents, through the executors of
//! [`super::secrets`], [`super::workloads`], [`super::status`] and the provider.
//!
//! Invariants:
//! * tenancy was checked by the core's plan before any action that reaches the provider (an
//!   unauthorized rotation is `Blocked`, never acted on);
//! * a failure of any kind becomes `Outcome::Failed` (with a stable reason), never an early exit,
//!   so the core records it and backs off;
//! * a minted secret goes to the staging Secret before anything else happens.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt, runtime::reflector::ObjectRef};

use super::{Context, failure, gather::Gathered, hooks::Point, secrets, status, workloads};
use crate::{
    api::{ClientSecretRotation, CredentialHolderKind},
    provider::{ApplicationCredentials, ApplicationId, ApplicationRef, CredentialHolder, CredentialProvider},
    rotation::{Action, Outcome, StepFailure, staging_metadata},
};

/// What performing an action produced.
pub struct Acted {
    /// For the core's `record`.
    pub outcome: Outcome,
    /// The rotation as written, when the action wrote it (finalizer changes).
    pub rotation: Option<ClientSecretRotation>,
    /// The rotation is gone (its last finalizer was removed).
    pub gone: bool,
}

impl From<Outcome> for Acted {
    fn from(outcome: Outcome) -> Self {
        Self {
            outcome,
            rotation: None,
            gone: false,
        }
    }
}

fn failed(f: StepFailure) -> Acted {
    Outcome::Failed(f).into()
}

/// The application a rotation works on.
pub fn application(rotation: &ClientSecretRotation) -> Result<ApplicationRef, StepFailure> {
    let app = &rotation.spec.application;
    let id = match (&app.client_id, &app.object_id) {
        (Some(id), _) => ApplicationId::ClientId(id.clone()),
        (None, Some(id)) => ApplicationId::ObjectId(id.clone()),
        (None, None) => {
            return Err(failure::failure(
                "InvalidSpec",
                "spec.application sets neither clientId nor objectId",
                false,
            ));
        }
    };
    Ok(ApplicationRef {
        id,
        holder: match app.credential_holder {
            CredentialHolderKind::Application => CredentialHolder::Application,
            CredentialHolderKind::ServicePrincipal => CredentialHolder::ServicePrincipal,
        },
    })
}

async fn provider(ctx: &Context, gathered: &Gathered) -> Result<Arc<dyn CredentialProvider>, StepFailure> {
    let object = gathered.provider.as_ref().ok_or_else(|| {
        failure::failure(
            "ProviderNotFound",
            "the provider disappeared during the pass",
            true,
        )
    })?;
    ctx.providers.get(&ctx.provider_env(), object).await
}

/// Performs `action` for `rotation`. `credentials` carries a fetched credential list to the next
/// plan of the pass (and is dropped after a mint or a revoke, which change it).
pub async fn act(
    ctx: &Context,
    rotation: &ClientSecretRotation,
    gathered: &Gathered,
    action: &Action,
    credentials: &mut Option<ApplicationCredentials>,
) -> Acted {
    let namespace = rotation.namespace().unwrap_or_default();
    let secrets_api: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let me = ObjectRef::from_obj(rotation);
    match action {
        Action::AddFinalizer => match status::add_finalizer(ctx, rotation).await {
            Ok(written) => Acted {
                outcome: Outcome::Done,
                rotation: Some(written),
                gone: false,
            },
            Err(f) => failed(f),
        },
        Action::RemoveFinalizer => match status::remove_finalizer(ctx, rotation).await {
            Ok(written) => Acted {
                outcome: Outcome::Done,
                gone: written
                    .as_ref()
                    .is_none_or(|w| w.metadata.deletion_timestamp.is_some()),
                rotation: written,
            },
            Err(f) => failed(f),
        },
        Action::FetchCredentials => {
            let app = match application(rotation) {
                Ok(app) => app,
                Err(f) => return failed(f),
            };
            let provider = match provider(ctx, gathered).await {
                Ok(p) => p,
                Err(f) => return failed(f),
            };
            match provider.list_credentials(&app).await {
                Ok(list) => {
                    *credentials = Some(list.clone());
                    Outcome::Fetched(list).into()
                }
                Err(e) => failed(StepFailure::from(&e)),
            }
        }
        Action::Mint {
            rotation: number,
            request,
            staging_secret,
        } => {
            *credentials = None;
            let app = match application(rotation) {
                Ok(app) => app,
                Err(f) => return failed(f),
            };
            // Refuse before minting anything that could not be staged.
            if let Err(f) = secrets::check_staging_is_ours(&secrets_api, rotation).await {
                return failed(f);
            }
            let provider = match provider(ctx, gathered).await {
                Ok(p) => p,
                Err(f) => return failed(f),
            };
            let minted = match provider.mint(&app, request).await {
                Ok(m) => m,
                Err(e) => return failed(StepFailure::from(&e)),
            };
            ctx.hook(&me, Point::MintedBeforeStaging).await;
            let (labels, annotations) = staging_metadata(*number, &minted.credential);
            match secrets::write_staging(
                &secrets_api,
                rotation,
                staging_secret,
                &minted.secret,
                labels,
                annotations,
            )
            .await
            {
                Ok(()) => Outcome::Minted(minted.credential).into(),
                // The credential is now held nowhere: the next pass finds it by its display name
                // and revokes it as an orphan.
                Err(f) => failed(f),
            }
        }
        Action::Verify { key_id } => {
            let app = match application(rotation) {
                Ok(app) => app,
                Err(f) => return failed(f),
            };
            let sources = secrets::Sources {
                api: &secrets_api,
                rotation,
            };
            let staged = crate::rotation::SecretValue {
                key_id: key_id.clone(),
                hint: None,
                from: crate::rotation::ValueSource::Staging,
            };
            let secret = match sources.read_value(&staged).await {
                Ok(s) => s,
                Err(f) => return failed(f),
            };
            let provider = match provider(ctx, gathered).await {
                Ok(p) => p,
                Err(f) => return failed(f),
            };
            match provider.check(&app, &secret).await {
                Ok(outcome) => Outcome::Checked(outcome).into(),
                Err(e) => failed(StepFailure::from(&e)),
            }
        }
        Action::WriteSecret(write) => {
            let sources = secrets::Sources {
                api: &secrets_api,
                rotation,
            };
            match secrets::write_target(&sources, write).await {
                Ok(()) => Outcome::Done.into(),
                Err(f) => failed(f),
            }
        }
        Action::Rollout {
            annotation_key,
            version,
            targets,
        } => {
            let (patched, failure) =
                workloads::restart(&ctx.client, &namespace, targets, annotation_key, version).await;
            Outcome::RolledOut { patched, failure }.into()
        }
        Action::Revoke { key_id, .. } => {
            *credentials = None;
            let app = match application(rotation) {
                Ok(app) => app,
                Err(f) => return failed(f),
            };
            let provider = match provider(ctx, gathered).await {
                Ok(p) => p,
                Err(f) => return failed(f),
            };
            match provider.revoke(&app, key_id).await {
                Ok(()) => Outcome::Done.into(),
                Err(e) => failed(StepFailure::from(&e)),
            }
        }
        Action::DeleteStagingSecret => match secrets::delete_staging(&secrets_api, rotation).await {
            Ok(()) => Outcome::Done.into(),
            Err(f) => failed(f),
        },
        Action::ReleaseTargetSecret => match secrets::release_target(&secrets_api, rotation).await {
            Ok(()) => Outcome::Done.into(),
            Err(f) => failed(f),
        },
        // Nothing to perform: the pass handles these without acting.
        Action::UpdateStatus(_) | Action::Wait { .. } | Action::Blocked { .. } => Outcome::Done.into(),
    }
}
