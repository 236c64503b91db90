//! One path: its pattern, its handlers per operation, and its documentation.

use std::collections::BTreeMap;

use super::display::DisplayAttrs;
use super::doc::OperationDoc;
use super::fields::FieldSchema;
use super::handler::{BoxHandler, Handler};
use super::{Operation, Response};

/// One path pattern with its handlers and help.
pub struct Path<S> {
    pub(crate) pattern: String,
    pub(crate) synopsis: String,
    pub(crate) description: String,
    pub(crate) display: DisplayAttrs,
    pub(crate) fields: Vec<FieldSchema>,
    pub(crate) operations: BTreeMap<Operation, BoxHandler<S, Response>>,
    pub(crate) docs: BTreeMap<Operation, OperationDoc>,
    pub(crate) existence: Option<BoxHandler<S, bool>>,
    pub(crate) takes_arbitrary_input: bool,
}

impl<S: Send + Sync + 'static> Path<S> {
    /// A path matching `pattern`: `{name}` captures one name segment,
    /// `{rest*}` the remainder; anything else is a Vault-style regex
    /// (`role/?` matches with and without the trailing slash).
    pub fn new(pattern: impl Into<String>) -> Self {
        Self {
            pattern: pattern.into(),
            synopsis: String::new(),
            description: String::new(),
            display: DisplayAttrs::default(),
            fields: Vec::new(),
            operations: BTreeMap::new(),
            docs: BTreeMap::new(),
            existence: None,
            takes_arbitrary_input: false,
        }
    }

    /// One line saying what the path is for (shown by `path-help`).
    pub fn synopsis(mut self, text: impl Into<String>) -> Self {
        self.synopsis = text.into();
        self
    }

    /// A longer description (shown by `path-help`).
    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = text.into();
        self
    }

    /// UI hints and the default operation-id parts for OpenAPI.
    pub fn display(mut self, display: DisplayAttrs) -> Self {
        self.display = display;
        self
    }

    /// Declares a field by hand, beside those of the handlers' argument
    /// structs (for plain handlers that read [`Request::data`](super::Request::data)).
    pub fn field(mut self, field: FieldSchema) -> Self {
        self.fields.push(field);
        self
    }

    /// Accepts fields nobody declared without warning about them.
    pub fn takes_arbitrary_input(mut self) -> Self {
        self.takes_arbitrary_input = true;
        self
    }

    /// Registers `handler` for `operation`.
    pub fn operation<M>(
        mut self,
        operation: Operation,
        handler: impl Handler<S, Response, M>,
    ) -> Self {
        self.operations.insert(operation, BoxHandler::new(handler));
        self
    }

    /// Documents `operation` (summary, operation id parts...).
    pub fn doc(mut self, operation: Operation, doc: OperationDoc) -> Self {
        self.docs.insert(operation, doc);
        self
    }

    /// Sets the one-line summary of `operation` in OpenAPI.
    pub fn summary(mut self, operation: Operation, text: impl Into<String>) -> Self {
        self.docs.entry(operation).or_default().summary = text.into();
        self
    }

    /// Handles `read`.
    pub fn read<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::Read, handler)
    }

    /// Handles `create`; the backend refuses to build unless the path also
    /// has an [`existence_check`](Self::existence_check).
    pub fn create<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::Create, handler)
    }

    /// Handles `update` (every write when there is no existence check).
    pub fn update<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::Update, handler)
    }

    /// Handles both `create` and `update` with one handler, with an existence
    /// check so the host can tell them apart for ACLs.
    pub fn write<M, M2>(
        self,
        handler: impl Handler<S, Response, M> + Clone,
        existence_check: impl Handler<S, bool, M2>,
    ) -> Self {
        self.operation(Operation::Create, handler.clone())
            .operation(Operation::Update, handler)
            .existence_check(existence_check)
    }

    /// Handles `patch` (see [`merge_patch`](super::merge_patch)).
    pub fn patch<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::Patch, handler)
    }

    /// Handles `delete`.
    pub fn delete<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::Delete, handler)
    }

    /// Handles `list`.
    pub fn list<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::List, handler)
    }

    /// Handles `alias-lookahead` (auth methods: the alias a login would use).
    pub fn alias_lookahead<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::AliasLookahead, handler)
    }

    /// Handles `resolve-role` (auth methods: the role a login would use).
    pub fn resolve_role<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::ResolveRole, handler)
    }

    /// Handles `header`.
    pub fn header<M>(self, handler: impl Handler<S, Response, M>) -> Self {
        self.operation(Operation::Header, handler)
    }

    /// Tells the host whether the target exists, so it can ask for `create`
    /// or `update` (and check the matching ACL capability).
    pub fn existence_check<M>(mut self, handler: impl Handler<S, bool, M>) -> Self {
        self.existence = Some(BoxHandler::new(handler));
        self
    }
}
