//! Azure Workload Identity: the projected Kubernetes service-account token, read from the file the
//! webhook names in `AZURE_FEDERATED_TOKEN_FILE`, is the client assertion [doc: E-cc][code: RS-wic].
//!
//! Invariant: the file is read again for every token request, because the kubelet rewrites it
//! before the projected token expires; a cached copy would eventually be refused (AADSTS700024).

use std::path::Path;

use secrecy::SecretString;

use crate::provider::{ProviderError, Reason};

/// Reads the current federated token.
pub fn read_federated_token(path: &Path) -> Result<SecretString, ProviderError> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        ProviderError::new(
            Reason::InvalidConfiguration,
            format!(
                "workload identity: cannot read the federated token file {}: {}",
                path.display(),
                e.kind()
            ),
        )
    })?;
    let token = text.trim();
    if token.is_empty() {
        return Err(ProviderError::new(
            Reason::InvalidConfiguration,
            format!(
                "workload identity: the federated token file {} is empty",
                path.display()
            ),
        ));
    }
    Ok(SecretString::from(token))
}

#[cfg(test)]
mod tests {
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn reads_trims_and_rereads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("azure-identity-token");
        std::fs::write(&path, "eyJ.first.sig\n").unwrap();
        assert_eq!(
            read_federated_token(&path).unwrap().expose_secret(),
            "eyJ.first.sig"
        );
        std::fs::write(&path, "eyJ.second.sig").unwrap();
        assert_eq!(
            read_federated_token(&path).unwrap().expose_secret(),
            "eyJ.second.sig"
        );
    }

    #[test]
    fn missing_or_empty_files_are_configuration_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = read_federated_token(&dir.path().join("nope")).unwrap_err();
        assert_eq!(missing.reason, Reason::InvalidConfiguration);
        assert!(missing.message.contains("nope"), "{missing}");
        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        assert_eq!(
            read_federated_token(&empty).unwrap_err().reason,
            Reason::InvalidConfiguration
        );
    }
}
