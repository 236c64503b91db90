//! Display attributes: hints for UIs and for OpenAPI operation ids.

/// How a UI should show a field or name an operation (Go's `DisplayAttributes`).
/// All parts are optional; unset parts are left out of the OpenAPI document.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DisplayAttrs {
    /// A friendly name for the field or path.
    pub name: Option<String>,
    /// A friendly description.
    pub description: Option<String>,
    /// An example value.
    pub value: Option<String>,
    /// Whether the UI should mask the value.
    pub sensitive: bool,
    /// Whether the path appears in a UI's navigation.
    pub navigation: bool,
    /// The kind of item the path manages (e.g. `Role`).
    pub item_type: Option<String>,
    /// A group the field belongs to in a form.
    pub group: Option<String>,
    /// A verb for a UI button (e.g. `Generate`).
    pub action: Option<String>,
    /// The first part of the OpenAPI operation id (e.g. `balena`).
    pub operation_prefix: Option<String>,
    /// The verb of the OpenAPI operation id (e.g. `generate`).
    pub operation_verb: Option<String>,
    /// The last part of the OpenAPI operation id (e.g. `credentials`).
    pub operation_suffix: Option<String>,
    /// How the UI edits the field (e.g. `textarea`).
    pub edit_type: Option<String>,
}
