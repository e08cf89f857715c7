//! API key roles and the one place that decides what each may do.

use serde::{Deserialize, Serialize};

/// The role of a brand's secret API key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, including API keys and brand settings.
    Owner,
    /// Everything but API keys and brand settings.
    Developer,
    /// Reads everything and creates refunds.
    Support,
    /// Reads only.
    ReadOnly,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Developer => "developer",
            Role::Support => "support",
            Role::ReadOnly => "read_only",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        match value {
            "owner" => Some(Role::Owner),
            "developer" => Some(Role::Developer),
            "support" => Some(Role::Support),
            "read_only" => Some(Role::ReadOnly),
            _ => None,
        }
    }

    /// Whether this role may call `method` on the route `path` (a route
    /// pattern such as `/v1/customers/{id}`). Every brand route is checked
    /// here and nowhere else.
    pub fn allows(self, method: &str, path: &str) -> bool {
        // A parent's view of its children is its owner's alone.
        let owner_only = path.starts_with("/v1/api_keys")
            || path.starts_with("/v1/child_brands")
            || (path.starts_with("/v1/brands") && method != "GET");
        match self {
            Role::Owner => true,
            _ if owner_only => false,
            Role::Developer => true,
            Role::Support => method == "GET" || (method == "POST" && path == "/v1/refunds"),
            Role::ReadOnly => method == "GET",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix() {
        assert!(Role::Owner.allows("POST", "/v1/api_keys"));
        assert!(!Role::Developer.allows("POST", "/v1/api_keys"));
        assert!(!Role::Developer.allows("GET", "/v1/api_keys"));
        assert!(!Role::Developer.allows("GET", "/v1/child_brands"));
        assert!(!Role::ReadOnly.allows("GET", "/v1/child_brands/{id}/balance"));
        assert!(Role::Developer.allows("POST", "/v1/customers"));
        assert!(!Role::Developer.allows("PATCH", "/v1/brands/{id}"));
        assert!(Role::Support.allows("POST", "/v1/refunds"));
        assert!(!Role::Support.allows("POST", "/v1/customers"));
        assert!(Role::ReadOnly.allows("GET", "/v1/customers"));
        assert!(!Role::ReadOnly.allows("DELETE", "/v1/customers/{id}"));
        assert!(Role::Developer.allows("POST", "/v1/mandates/{id}/revoke"));
        for role in [Role::Support, Role::ReadOnly] {
            assert!(!role.allows("POST", "/v1/mandates/{id}/revoke"));
            assert!(role.allows("GET", "/v1/mandates/{id}"));
        }
    }
}
