//! The status of `IdentityProvider`s and `ClusterIdentityProvider`s: a `Ready` condition saying
//! whether the operator can sign in with the provider (resolving its sign-in material, then
//! signing in, or finding its cached Graph token still fresh).
//!
//! It is computed whenever the provider changes (its watch), by the leader only, and written
//! (server-side apply on the status subresource, field manager
//! [`wellknown::FIELD_MANAGER_PROVIDER_STATUS`]) only when the condition changed, so the watch
//! event of that write finds nothing more to do.
//!
//! Invariant: a sign-in costs a token request only when no fresh token is cached; the condition's
//! message never carries sign-in material (provider errors never do).

use jiff::Timestamp;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::{
    Api, ResourceExt,
    api::{Patch, PatchParams},
};
use serde_json::json;

use super::{Context, providers::ProviderObject};
use crate::{
    api::{ClusterIdentityProvider, IdentityProvider, IdentityProviderStatus, wellknown},
    rotation::{StepFailure, conditions},
};

/// The `Ready` condition of a provider, from whether signing in worked.
pub fn ready_condition(
    previous: &[Condition],
    sign_in: Result<String, StepFailure>,
    generation: Option<i64>,
    now: Timestamp,
) -> Vec<Condition> {
    let mut out = previous.to_vec();
    let (status, reason, message) = match sign_in {
        Ok(tenant) => (
            "True",
            wellknown::reason::SIGNED_IN.to_owned(),
            format!("the operator signed in to tenant {tenant}"),
        ),
        Err(f) => ("False", f.reason, f.message),
    };
    conditions::set(
        &mut out,
        wellknown::condition::READY,
        status,
        &reason,
        message,
        generation,
        now,
    );
    out
}

async fn sign_in(ctx: &Context, object: &ProviderObject) -> Result<String, StepFailure> {
    let provider = ctx.providers.get(&ctx.provider_env(), object).await?;
    provider.sign_in().await.map_err(|e| StepFailure::from(&e))?;
    Ok(match object {
        ProviderObject::Namespaced(p) => p.spec.directory.tenant_id.clone(),
        ProviderObject::Cluster(p) => p.spec.directory.tenant_id.clone(),
    })
}

/// Whether a provider's status already describes its current generation (an operator restart
/// need not sign in again to say so).
pub fn up_to_date(generation: Option<i64>, status: Option<&IdentityProviderStatus>) -> bool {
    status.is_some_and(|s| {
        s.observed_generation == generation
            && conditions::get(&s.conditions, wellknown::condition::READY).is_some()
    })
}

/// Checks a provider and records the outcome in its status, if it changed.
pub async fn report(ctx: &Context, object: &ProviderObject) {
    let (generation, current) = match object {
        ProviderObject::Namespaced(p) => (p.metadata.generation, p.status.clone()),
        ProviderObject::Cluster(p) => (p.metadata.generation, p.status.clone()),
    };
    let current = current.unwrap_or_default();
    let outcome = sign_in(ctx, object).await;
    let status = IdentityProviderStatus {
        observed_generation: generation,
        conditions: ready_condition(&current.conditions, outcome, generation, ctx.clock.now()),
    };
    if status == current {
        return;
    }
    let params = PatchParams::apply(wellknown::FIELD_MANAGER_PROVIDER_STATUS).force();
    let result = match object {
        ProviderObject::Namespaced(p) => {
            let api: Api<IdentityProvider> =
                Api::namespaced(ctx.client.clone(), &p.namespace().unwrap_or_default());
            let body =
                json!({"apiVersion": wellknown::API_VERSION, "kind": "IdentityProvider", "status": status});
            api.patch_status(&p.name_any(), &params, &Patch::Apply(body))
                .await
                .map(|_| ())
        }
        ProviderObject::Cluster(p) => {
            let api: Api<ClusterIdentityProvider> = Api::all(ctx.client.clone());
            let body = json!({"apiVersion": wellknown::API_VERSION, "kind": "ClusterIdentityProvider", "status": status});
            api.patch_status(&p.name_any(), &params, &Patch::Apply(body))
                .await
                .map(|_| ())
        }
    };
    if let Err(error) = result {
        tracing::warn!(%error, "could not write a provider's status");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ready_follows_the_sign_in_and_keeps_its_transition_time() {
        let t0: Timestamp = "2026-10-01T08:00:00Z".parse().unwrap();
        let ok = ready_condition(&[], Ok("contoso".into()), Some(1), t0);
        assert_eq!(
            (ok[0].status.as_str(), ok[0].reason.as_str()),
            ("True", wellknown::reason::SIGNED_IN)
        );
        let later = ready_condition(
            &ok,
            Ok("contoso".into()),
            Some(2),
            t0 + std::time::Duration::from_secs(60),
        );
        assert_eq!(later[0].last_transition_time, ok[0].last_transition_time);
        assert_eq!(later[0].observed_generation, Some(2));
        let failed = ready_condition(
            &later,
            Err(StepFailure {
                reason: "InvalidOperatorCredential".into(),
                message: "AADSTS7000215".into(),
                transient: false,
                retry_after: None,
            }),
            Some(2),
            t0 + std::time::Duration::from_secs(120),
        );
        assert_eq!(
            (failed[0].status.as_str(), failed[0].reason.as_str()),
            ("False", "InvalidOperatorCredential")
        );
        assert_ne!(failed[0].last_transition_time, ok[0].last_transition_time);
    }
}
