//! The operations the host can ask of a path.

use std::fmt;
use std::str::FromStr;

/// One kind of request, as the host names it on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Operation {
    /// A write to a path whose existence check said it does not exist.
    Create,
    /// `bao read`.
    Read,
    /// A write to an existing path, or any write when there is no existence check.
    Update,
    /// `bao patch`.
    Patch,
    /// `bao delete`.
    Delete,
    /// `bao list`.
    List,
    /// `bao path-help`.
    Help,
    /// Asked by the host before a login, to learn the alias.
    AliasLookahead,
    /// Asked by the host to learn which role a login uses.
    ResolveRole,
    /// Asked by the host for response headers.
    Header,
    /// Lease renewal.
    Renew,
    /// Lease revocation.
    Revoke,
    /// The host's periodic tick (about once a minute).
    Rollback,
}

impl Operation {
    /// The name the host uses on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Read => "read",
            Self::Update => "update",
            Self::Patch => "patch",
            Self::Delete => "delete",
            Self::List => "list",
            Self::Help => "help",
            Self::AliasLookahead => "alias-lookahead",
            Self::ResolveRole => "resolve-role",
            Self::Header => "header",
            Self::Renew => "renew",
            Self::Revoke => "revoke",
            Self::Rollback => "rollback",
        }
    }

    /// Whether an empty answer means "not found" to the host (HTTP 404).
    pub fn is_read_like(self) -> bool {
        matches!(self, Self::Read | Self::List)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The host sent an operation name this SDK does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown operation {0:?}")]
pub struct UnknownOperation(pub String);

impl FromStr for Operation {
    type Err = UnknownOperation;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "create" => Self::Create,
            "read" => Self::Read,
            "update" => Self::Update,
            "patch" => Self::Patch,
            "delete" => Self::Delete,
            "list" => Self::List,
            "help" => Self::Help,
            "alias-lookahead" => Self::AliasLookahead,
            "resolve-role" => Self::ResolveRole,
            "header" => Self::Header,
            "renew" => Self::Renew,
            "revoke" => Self::Revoke,
            "rollback" => Self::Rollback,
            other => return Err(UnknownOperation(other.to_owned())),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_round_trips_through_its_wire_name() {
        let all = [
            Operation::Create,
            Operation::Read,
            Operation::Update,
            Operation::Patch,
            Operation::Delete,
            Operation::List,
            Operation::Help,
            Operation::AliasLookahead,
            Operation::ResolveRole,
            Operation::Header,
            Operation::Renew,
            Operation::Revoke,
            Operation::Rollback,
        ];
        for op in all {
            assert_eq!(op.as_str().parse::<Operation>(), Ok(op));
        }
        assert_eq!(
            "write".parse::<Operation>(),
            Err(UnknownOperation("write".into()))
        );
    }
}
