//! What a path tells readers about itself: the model help and OpenAPI are
//! generated from.

use super::Operation;
use super::display::DisplayAttrs;
use super::fields::FieldSchema;

/// Documentation of one operation on a path (Go's `OperationProperties`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperationDoc {
    /// One line: what the operation does.
    pub summary: String,
    /// Longer text.
    pub description: String,
    /// Marked deprecated in OpenAPI.
    pub deprecated: bool,
    /// Left out of OpenAPI.
    pub unpublished: bool,
    /// Operation-id parts and UI hints.
    pub display: DisplayAttrs,
}

/// A read-only view of one path, as help and OpenAPI see it.
#[derive(Debug, Clone)]
pub(crate) struct PathDoc<'a> {
    /// The pattern as declared (e.g. `role/{name}` or a regex).
    pub pattern: &'a str,
    /// The compiled regex source, anchored (`^role/(?P<name>...)$`).
    pub regex: &'a str,
    /// One line.
    pub synopsis: &'a str,
    /// Longer text.
    pub description: &'a str,
    /// Every field of the path (union of its handlers' argument structs).
    pub fields: &'a [FieldSchema],
    /// The operations the path handles, sorted.
    pub operations: Vec<(Operation, &'a OperationDoc)>,
    /// Path-level UI hints and operation-id defaults.
    pub display: &'a DisplayAttrs,
    /// Whether the path has an existence check (create vs update).
    pub existence_check: bool,
    /// Whether the path accepts fields it does not declare.
    pub takes_arbitrary_input: bool,
}
