//! The Microsoft clouds the operator can work in, and the two endpoints each one has: the Entra
//! authority host (token endpoint) and the Microsoft Graph root.
//!
//! Invariant: the values are those of the reference's §1 table [doc: G-deploy]; tokens from one cloud
//! are not accepted by another, so both endpoints always come from the same row unless the operator
//! overrides them explicitly.

use std::{fmt, str::FromStr};

use super::hypotheses::GRAPH_SCOPE_SUFFIX;

/// A Microsoft cloud (national cloud deployments of Entra ID and Graph).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Cloud {
    /// The global (public) cloud; Microsoft 365 GCC tenants use it too.
    #[default]
    Global,
    /// US Government L4 (GCC High).
    UsGovernment,
    /// US Government L5 (DoD).
    UsGovernmentDoD,
    /// Azure China, operated by 21Vianet.
    China,
}

impl Cloud {
    /// Every cloud, for documentation and parsing.
    pub const ALL: [Cloud; 4] = [
        Cloud::Global,
        Cloud::UsGovernment,
        Cloud::UsGovernmentDoD,
        Cloud::China,
    ];

    /// The Entra authority host, without a trailing slash.
    pub fn authority_host(self) -> &'static str {
        match self {
            Cloud::Global => "https://login.microsoftonline.com",
            Cloud::UsGovernment | Cloud::UsGovernmentDoD => "https://login.microsoftonline.us",
            Cloud::China => "https://login.chinacloudapi.cn",
        }
    }

    /// The Microsoft Graph root, without a trailing slash or version.
    pub fn graph_root(self) -> &'static str {
        match self {
            Cloud::Global => "https://graph.microsoft.com",
            Cloud::UsGovernment => "https://graph.microsoft.us",
            Cloud::UsGovernmentDoD => "https://dod-graph.microsoft.us",
            Cloud::China => "https://microsoftgraph.chinacloudapi.cn",
        }
    }

    /// The client-credentials scope for Graph in this cloud (`{graph root}/.default`).
    pub fn graph_scope(self) -> String {
        format!("{}{GRAPH_SCOPE_SUFFIX}", self.graph_root())
    }

    /// The stable name used in configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Global => "Global",
            Cloud::UsGovernment => "UsGovernment",
            Cloud::UsGovernmentDoD => "UsGovernmentDoD",
            Cloud::China => "China",
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for an unknown cloud name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown cloud {0:?}; expected one of Global, UsGovernment, UsGovernmentDoD, China")]
pub struct UnknownCloud(pub String);

impl FromStr for Cloud {
    type Err = UnknownCloud;

    /// Accepts the names above case-insensitively, plus the Azure CLI's names
    /// (`AzureCloud`, `AzureUSGovernment`, `AzureChinaCloud`) and `GCCHigh`/`DoD`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        match lower.as_str() {
            "global" | "public" | "azurecloud" | "azurepubliccloud" => Ok(Cloud::Global),
            "usgovernment" | "gcchigh" | "azureusgovernment" | "azureusgovernmentcloud" => {
                Ok(Cloud::UsGovernment)
            }
            "usgovernmentdod" | "dod" => Ok(Cloud::UsGovernmentDoD),
            "china" | "azurechinacloud" => Ok(Cloud::China),
            _ => Err(UnknownCloud(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_cloud_pairs_its_authority_with_its_graph_root() {
        let rows: Vec<_> = Cloud::ALL
            .iter()
            .map(|c| (c.authority_host(), c.graph_root()))
            .collect();
        assert_eq!(
            rows,
            [
                ("https://login.microsoftonline.com", "https://graph.microsoft.com"),
                ("https://login.microsoftonline.us", "https://graph.microsoft.us"),
                (
                    "https://login.microsoftonline.us",
                    "https://dod-graph.microsoft.us"
                ),
                (
                    "https://login.chinacloudapi.cn",
                    "https://microsoftgraph.chinacloudapi.cn"
                ),
            ]
        );
        assert_eq!(
            Cloud::UsGovernmentDoD.graph_scope(),
            "https://dod-graph.microsoft.us/.default"
        );
    }

    #[test]
    fn names_round_trip_and_aliases_parse() {
        for cloud in Cloud::ALL {
            assert_eq!(cloud.as_str().parse::<Cloud>(), Ok(cloud));
        }
        assert_eq!("AzureUSGovernment".parse::<Cloud>(), Ok(Cloud::UsGovernment));
        assert_eq!("azurechinacloud".parse::<Cloud>(), Ok(Cloud::China));
        assert!(
            "Germany"
                .parse::<Cloud>()
                .unwrap_err()
                .to_string()
                .contains("Germany")
        );
    }
}
