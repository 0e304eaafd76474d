//! Networking errors, each with the name Neutron gives it (its
//! `NeutronError.type`) and Neutron's message.

use oxstack_store::StoreError;

/// The class of a failure, which decides its HTTP status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    /// 400.
    Invalid,
    /// 403.
    Forbidden,
    /// 404.
    NotFound,
    /// 409.
    Conflict,
}

#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// A refusal the caller can act on.
    #[error("{message}")]
    Refused {
        class: Class,
        /// Neutron's exception name, e.g. `NetworkNotFound`.
        kind: &'static str,
        message: String,
    },
    #[error(transparent)]
    Store(StoreError),
}

pub type NetworkResult<T> = Result<T, NetworkError>;

impl NetworkError {
    pub fn refused(class: Class, kind: &'static str, message: impl Into<String>) -> Self {
        Self::Refused {
            class,
            kind,
            message: message.into(),
        }
    }

    /// Attribute validation's 400 (`Invalid input for name. Reason: ...`).
    pub fn invalid_input(attribute: &str, reason: impl std::fmt::Display) -> Self {
        Self::refused(
            Class::Invalid,
            "HTTPBadRequest",
            format!("Invalid input for {attribute}. Reason: {reason}."),
        )
    }

    /// A 400 of Neutron's `InvalidInput` kind.
    pub fn invalid(kind: &'static str, message: impl Into<String>) -> Self {
        Self::refused(Class::Invalid, kind, message)
    }

    pub fn conflict(kind: &'static str, message: impl Into<String>) -> Self {
        Self::refused(Class::Conflict, kind, message)
    }

    pub fn not_found(kind: &'static str, message: impl Into<String>) -> Self {
        Self::refused(Class::NotFound, kind, message)
    }

    /// A policy refusal, named by its rule (`create_network:shared`).
    pub fn policy(rule: &str) -> Self {
        Self::refused(
            Class::Forbidden,
            "PolicyNotAuthorized",
            format!("rule:{rule} is disallowed by policy"),
        )
    }

    /// Over a project's limit of `resource`.
    pub fn over_quota(resource: &str) -> Self {
        Self::conflict(
            "OverQuota",
            format!("Quota exceeded for resources: ['{resource}']."),
        )
    }

    pub fn network_not_found(id: &str) -> Self {
        Self::not_found(
            "NetworkNotFound",
            format!("Network {id} could not be found."),
        )
    }

    pub fn subnet_not_found(id: &str) -> Self {
        Self::not_found("SubnetNotFound", format!("Subnet {id} could not be found."))
    }

    pub fn port_not_found(id: &str) -> Self {
        Self::not_found("PortNotFound", format!("Port {id} could not be found."))
    }

    pub fn group_not_found(id: &str) -> Self {
        Self::not_found(
            "SecurityGroupNotFound",
            format!("Security group {id} does not exist"),
        )
    }

    pub fn rule_not_found(id: &str) -> Self {
        Self::not_found(
            "SecurityGroupRuleNotFound",
            format!("Security group rule {id} does not exist"),
        )
    }
}

impl From<StoreError> for NetworkError {
    /// A value the store cannot keep is the caller's input (400); the
    /// rest are failures below the domain.
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::Unstorable => Self::invalid("InvalidInput", err.to_string()),
            other => Self::Store(other),
        }
    }
}
