//! Seeding the Entra emulator the way an administrator sets up a real tenant for the operator
//! (`docs/entra-setup.md`): the operator's application with the Graph application permission
//! `Application.ReadWrite.OwnedBy`, and applications whose secrets it rotates, each owned by the
//! operator's service principal.
//!
//! Invariant: the operator gets exactly the least privilege the documentation asks for, so what
//! works here works with the same grants in a real tenant.

use sandbox::entra::{AdminError, ApplicationSpec, CreatedApplication, Emulator, TenantSpec};

/// The Graph app role the operator's identity holds.
pub const OWNED_BY: &str = "Application.ReadWrite.OwnedBy";

/// The operator's identity in a seeded tenant.
#[derive(Clone, Debug)]
pub struct OperatorIdentity {
    /// The tenant id.
    pub tenant: String,
    /// The operator's application.
    pub app: CreatedApplication,
    /// Object id of its service principal (what owns the rotated applications).
    pub service_principal: String,
}

/// Creates a tenant and, in it, the operator's application `display_name` with
/// `Application.ReadWrite.OwnedBy`.
pub fn seed_operator(
    em: &Emulator,
    tenant: TenantSpec,
    display_name: &str,
) -> Result<OperatorIdentity, AdminError> {
    let tenant = em.create_tenant(tenant)?.id;
    let app = em.create_application(&tenant, ApplicationSpec::new(display_name))?;
    let service_principal = app.service_principal_id.clone().ok_or_else(|| {
        AdminError::Invalid("the operator's application was created without a service principal".into())
    })?;
    em.grant_app_roles(&service_principal, &[OWNED_BY])?;
    Ok(OperatorIdentity {
        tenant,
        app,
        service_principal,
    })
}

/// Creates an application in the operator's tenant, owned by the operator's service principal.
pub fn add_owned_application(
    em: &Emulator,
    operator: &OperatorIdentity,
    spec: ApplicationSpec,
) -> Result<CreatedApplication, AdminError> {
    let app = em.create_application(&operator.tenant, spec)?;
    em.add_owner(&app.object_id, &operator.service_principal)?;
    Ok(app)
}
