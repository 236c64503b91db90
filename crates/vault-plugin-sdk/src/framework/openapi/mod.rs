//! The OpenAPI 3 document of a backend, built from its paths' docs.
//!
//! The host asks every mount for its OpenAPI (a help request on the mount's
//! root) and merges the paths, prefixed with the mount, into
//! `/v1/sys/internal/specs/openapi`; its UI and client generators read that.
//! The document follows the host's conventions so our plugins look like
//! built-in ones there:
//!
//! * one OpenAPI path per reading of the pattern's optional parts and
//!   alternatives (see `expand`); named captures become path parameters,
//!   always `required: true`, typed from the field of the same name (a
//!   string when the capture is not a declared field);
//! * `read` is `get`; `list` is `get` with a required `list=true` query
//!   parameter, or folded into `read`'s `get` as an optional one when the
//!   path has both; `create` and `update` are `post` (one operation, marked
//!   `x-vault-createSupported` when `create` exists); `patch` is `patch`;
//!   `delete` is `delete`. Other operations have no HTTP form;
//! * writes take a JSON body of the fields that are not in the path (open
//!   to any other field when the path takes arbitrary input). Its schema is
//!   also a component named after the operation id plus `Request`, but the
//!   body holds it inline rather than by `$ref`: the host drops `$ref`s
//!   when it merges a plugin's document;
//! * `operationId` is prefix-verb-suffix in kebab case: each part from the
//!   operation's display attributes, else the path's, else the plugin type
//!   the host sends (`requestResponsePrefix`), the operation (`write` for
//!   update) and the path's words. A `|`-separated suffix gives each
//!   expanded path its own. Ids are made unique with `-2`, `-3`...;
//! * unpublished operations are left out; deprecated ones say so.
//!
//! Differences from the Go SDK, each to keep the document valid: a pattern
//! with no OpenAPI form is left out rather than listed under its regex; a
//! capture without a declared field still gets its parameter; defaults are
//! shown decoded (`"1h"` as `3600`); a name field's `pattern` is written
//! so that every regex dialect accepts it; request bodies are inline; when
//! two patterns give the same OpenAPI path the first one, the one that
//! routes requests, is kept.
//!
//! Not done: per-response schemas (the SDK's docs have none yet, so every
//! operation answers a plain `200`, or `204` for delete) and the
//! `x-vault-sudo` / `x-vault-unauthenticated` marks of special paths. The
//! host names operation ids after the plugin type, not the mount, so two
//! mounts of one plugin repeat ids in the server's merged document.

mod expand;
mod schema;

use std::collections::HashSet;

use serde_json::{Map, Value};

pub(crate) use schema::help_type_name;

use expand::{expand, parameters};
use schema::clean;

use super::Operation;
use super::display::DisplayAttrs;
use super::doc::{OperationDoc, PathDoc};
use super::fields::FieldSchema;
use crate::backend::BackendType;

/// The OpenAPI version the document declares (the host's own).
pub(crate) const OAS_VERSION: &str = "3.0.2";

/// Description of a path parameter whose capture is not a declared field.
const CAPTURE_DESCRIPTION: &str = "Taken from the request path.";

/// The OpenAPI document of `paths`.
///
/// `backend_help` gives the title (its first line) and description,
/// `plugin_version` the document version, and `prefix` (the plugin type,
/// sent by the host as `requestResponsePrefix`; may be empty) the default
/// first part of every operation id.
pub(crate) fn document(
    backend_help: &str,
    backend_type: BackendType,
    plugin_version: &str,
    prefix: &str,
    paths: &[PathDoc<'_>],
) -> Value {
    let mut builder = DocBuilder::new(backend_type, prefix);
    for path in paths {
        builder.add(path);
    }

    let mut info = Map::new();
    info.insert("title".into(), title(backend_help, prefix).into());
    info.insert("description".into(), backend_help.trim().into());
    let version = if plugin_version.trim().is_empty() {
        "unknown"
    } else {
        plugin_version
    };
    info.insert("version".into(), version.into());

    let mut schemas = Map::new();
    schemas.insert("schemas".into(), Value::Object(builder.schemas));
    let mut doc = Map::new();
    doc.insert("openapi".into(), OAS_VERSION.into());
    doc.insert("info".into(), Value::Object(info));
    doc.insert("paths".into(), Value::Object(builder.paths));
    doc.insert("components".into(), Value::Object(schemas));
    Value::Object(doc)
}

/// The document's title: the help's first line, or the plugin type.
fn title(help: &str, prefix: &str) -> String {
    let first = help.trim().lines().next().unwrap_or_default().trim();
    match (first.is_empty(), prefix.is_empty()) {
        (false, _) => first.to_owned(),
        (true, false) => format!("{prefix} plugin"),
        (true, true) => "OpenBao plugin".to_owned(),
    }
}

/// Accumulates paths and component schemas, keeping operation ids unique.
struct DocBuilder<'p> {
    backend_type: BackendType,
    prefix: &'p str,
    paths: Map<String, Value>,
    schemas: Map<String, Value>,
    ids: HashSet<String>,
}

impl<'p> DocBuilder<'p> {
    fn new(backend_type: BackendType, prefix: &'p str) -> Self {
        Self {
            backend_type,
            prefix,
            paths: Map::new(),
            schemas: Map::new(),
            ids: HashSet::new(),
        }
    }

    /// Adds every OpenAPI path `path` expands to. A pattern without an
    /// OpenAPI form adds nothing.
    fn add(&mut self, path: &PathDoc<'_>) {
        let Ok(expanded) = expand(path.regex) else {
            return;
        };
        for (index, oas_path) in expanded.iter().enumerate() {
            let key = format!("/{oas_path}");
            if self.paths.contains_key(&key) {
                continue;
            }
            let item = self.path_item(path, oas_path, index);
            self.paths.insert(key, Value::Object(item));
        }
    }

    fn path_item(
        &mut self,
        path: &PathDoc<'_>,
        oas_path: &str,
        index: usize,
    ) -> Map<String, Value> {
        let captures = parameters(oas_path);
        let mut item = Map::new();
        if !path.synopsis.trim().is_empty() {
            item.insert("description".into(), clean(path.synopsis).into());
        }
        let params = path_parameters(path.fields, &captures);
        if !params.is_empty() {
            item.insert("parameters".into(), Value::Array(params));
        }
        if let Some(display) = schema::display_attrs(path.display) {
            item.insert("x-vault-displayAttrs".into(), display);
        }

        let has = |op: Operation| path.operations.iter().any(|(o, _)| *o == op);
        for (op, op_doc) in &path.operations {
            if op_doc.unpublished {
                continue;
            }
            if *op == Operation::Create {
                // The host asks for `create` only on paths with an existence check.
                if path.existence_check {
                    item.insert("x-vault-createSupported".into(), true.into());
                }
                if has(Operation::Update) {
                    continue;
                }
            }
            if *op == Operation::List && has(Operation::Read) {
                continue;
            }
            let method = match op {
                Operation::Read | Operation::List => "get",
                Operation::Create | Operation::Update => "post",
                Operation::Patch => "patch",
                Operation::Delete => "delete",
                _ => continue,
            };
            let id = operation_id(
                oas_path,
                index,
                path.display,
                *op,
                &op_doc.display,
                self.prefix,
            );
            let id = self.unique(id);
            let body = body_fields(path.fields, &captures);
            let operation = self.operation(path, *op, op_doc, id, &body, has(Operation::List));
            item.insert(method.into(), Value::Object(operation));
        }
        item
    }

    fn operation(
        &mut self,
        path: &PathDoc<'_>,
        op: Operation,
        doc: &OperationDoc,
        id: String,
        body: &[&FieldSchema],
        has_list: bool,
    ) -> Map<String, Value> {
        let mut out = Map::new();
        // Without a summary of its own, an operation is summed up by its path.
        let summary = if doc.summary.trim().is_empty() {
            path.synopsis
        } else {
            &doc.summary
        };
        if !summary.trim().is_empty() {
            out.insert("summary".into(), clean(summary).into());
        }
        if !doc.description.trim().is_empty() {
            out.insert("description".into(), doc.description.trim().into());
        }
        let tag = match self.backend_type {
            BackendType::Logical => "secrets",
            BackendType::Credential => "auth",
        };
        out.insert("tags".into(), Value::Array(vec![tag.into()]));

        match op {
            Operation::List => {
                let param = list_parameter(true, "Must be `true`: list the entries.");
                out.insert("parameters".into(), Value::Array(vec![param]));
            }
            Operation::Read if has_list => {
                let param = list_parameter(false, "When `true`, list the entries instead.");
                out.insert("parameters".into(), Value::Array(vec![param]));
            }
            _ => {}
        }

        let writes = matches!(op, Operation::Create | Operation::Update | Operation::Patch);
        if writes && (!body.is_empty() || path.takes_arbitrary_input) {
            let name = format!("{}Request", title_case(&id));
            let schema = Value::Object(body_schema(body, path.takes_arbitrary_input));
            self.schemas.insert(name, schema.clone());
            out.insert("requestBody".into(), request_body(schema));
        }

        let (status, text) = if op == Operation::Delete {
            ("204", "empty body")
        } else {
            ("200", "OK")
        };
        let mut response = Map::new();
        response.insert("description".into(), text.into());
        let mut responses = Map::new();
        responses.insert(status.into(), Value::Object(response));
        out.insert("responses".into(), Value::Object(responses));
        if doc.deprecated {
            out.insert("deprecated".into(), true.into());
        }
        out.insert("operationId".into(), id.into());
        out
    }

    /// `id`, or `id-2`, `id-3`... whichever is not taken yet.
    fn unique(&mut self, id: String) -> String {
        let mut candidate = id.clone();
        let mut n = 1;
        while self.ids.contains(&candidate) {
            n += 1;
            candidate = format!("{id}-{n}");
        }
        self.ids.insert(candidate.clone());
        candidate
    }
}

/// The path-level parameters: every capture (in the path, required) and
/// every query field, sorted by name.
fn path_parameters(fields: &[FieldSchema], captures: &[&str]) -> Vec<Value> {
    let mut params: Vec<(String, Value)> = Vec::new();
    for name in captures {
        let field = fields.iter().find(|f| f.name == *name);
        let mut param = Map::new();
        param.insert("name".into(), (*name).into());
        let description = field
            .map(|f| clean(&f.description))
            .filter(|d| !d.is_empty())
            .unwrap_or_else(|| CAPTURE_DESCRIPTION.to_owned());
        param.insert("description".into(), description.into());
        param.insert("in".into(), "path".into());
        let schema = match field {
            Some(f) => schema::field_schema(f, false),
            None => {
                let mut s = Map::new();
                s.insert("type".into(), "string".into());
                s
            }
        };
        param.insert("schema".into(), Value::Object(schema));
        param.insert("required".into(), true.into());
        if field.is_some_and(|f| f.deprecated) {
            param.insert("deprecated".into(), true.into());
        }
        params.push(((*name).to_owned(), Value::Object(param)));
    }
    for field in fields {
        if !field.query || captures.contains(&field.name.as_str()) {
            continue;
        }
        let mut param = Map::new();
        param.insert("name".into(), field.name.as_str().into());
        if !field.description.trim().is_empty() {
            param.insert("description".into(), clean(&field.description).into());
        }
        param.insert("in".into(), "query".into());
        param.insert(
            "schema".into(),
            Value::Object(schema::field_schema(field, false)),
        );
        if field.required {
            param.insert("required".into(), true.into());
        }
        if field.deprecated {
            param.insert("deprecated".into(), true.into());
        }
        params.push((field.name.clone(), Value::Object(param)));
    }
    params.sort_by_key(|(name, _)| name.to_lowercase());
    params.into_iter().map(|(_, p)| p).collect()
}

/// The fields a write takes in its body: neither in the path nor in the query.
fn body_fields<'f>(fields: &'f [FieldSchema], captures: &[&str]) -> Vec<&'f FieldSchema> {
    fields
        .iter()
        .filter(|f| !f.query && !captures.contains(&f.name.as_str()))
        .collect()
}

/// The JSON body of a write; `open` when the path takes fields it does not
/// declare.
fn body_schema(fields: &[&FieldSchema], open: bool) -> Map<String, Value> {
    let mut properties = Map::new();
    let mut required: Vec<&str> = Vec::new();
    for field in fields {
        properties.insert(
            field.name.clone(),
            Value::Object(schema::field_schema(field, true)),
        );
        if field.required {
            required.push(&field.name);
        }
    }
    required.sort_unstable();
    let mut schema = Map::new();
    schema.insert("type".into(), "object".into());
    schema.insert("properties".into(), Value::Object(properties));
    if !required.is_empty() {
        let required = required.into_iter().map(Value::from).collect();
        schema.insert("required".into(), Value::Array(required));
    }
    if open {
        schema.insert("additionalProperties".into(), true.into());
    }
    schema
}

/// A required JSON request body. The schema is written inline, not as a
/// `$ref` to its component: the host rebuilds a plugin's document field by
/// field when merging it and keeps no `$ref`, which would leave the body
/// without a schema in `/v1/sys/internal/specs/openapi`.
fn request_body(schema: Value) -> Value {
    let mut media = Map::new();
    media.insert("schema".into(), schema);
    let mut content = Map::new();
    content.insert("application/json".into(), Value::Object(media));
    let mut body = Map::new();
    body.insert("required".into(), true.into());
    body.insert("content".into(), Value::Object(content));
    Value::Object(body)
}

/// The `list` query parameter of a `get` that lists.
fn list_parameter(required: bool, description: &str) -> Value {
    let mut schema = Map::new();
    schema.insert("type".into(), "string".into());
    if required {
        schema.insert("enum".into(), Value::Array(vec!["true".into()]));
    }
    let mut param = Map::new();
    param.insert("name".into(), "list".into());
    param.insert("description".into(), description.into());
    param.insert("in".into(), "query".into());
    param.insert("schema".into(), Value::Object(schema));
    if required {
        param.insert("required".into(), true.into());
    }
    Value::Object(param)
}

/// The operation id of `op` on the expanded OpenAPI path `path` (the
/// `index`th of its pattern): prefix, verb and suffix, kebab case.
pub(crate) fn operation_id(
    path: &str,
    index: usize,
    path_display: &DisplayAttrs,
    op: Operation,
    op_display: &DisplayAttrs,
    default_prefix: &str,
) -> String {
    fn pick<'a>(own: &'a Option<String>, inherited: &'a Option<String>) -> &'a str {
        let set = |s: &&str| !s.is_empty();
        own.as_deref()
            .filter(set)
            .or(inherited.as_deref().filter(set))
            .unwrap_or_default()
    }
    let mut prefix = pick(&op_display.operation_prefix, &path_display.operation_prefix);
    let mut verb = pick(&op_display.operation_verb, &path_display.operation_verb);
    let mut suffix = pick(&op_display.operation_suffix, &path_display.operation_suffix);

    // `a|b|c` names the suffix of each expanded path in turn; a path past
    // the list (or any but the first, without a list) falls back to its words.
    let mut past_the_list = false;
    let suffixes: Vec<&str> = suffix.split('|').collect();
    if suffixes.len() > 1 || index > 0 {
        match suffixes.get(index) {
            Some(s) => suffix = s,
            None => {
                suffix = "";
                past_the_list = true;
            }
        }
    }

    let need_prefix = prefix.is_empty() && verb.is_empty();
    let need_suffix = suffix.is_empty() && (verb.is_empty() || past_the_list);
    if need_prefix {
        prefix = default_prefix;
    }
    if verb.is_empty() {
        verb = match op {
            Operation::Update => "write",
            other => other.as_str(),
        };
    }
    let words;
    if need_suffix {
        words = path
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .filter(|w| !w.is_empty())
            .collect::<Vec<_>>()
            .join("-");
        suffix = &words;
    }
    [prefix, verb, suffix]
        .iter()
        .filter(|p| !p.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase()
}

/// `example-kv-write-kv-name` → `ExampleKvWriteKvName`, keeping only the
/// characters a component name may hold.
fn title_case(id: &str) -> String {
    id.split('-')
        .map(|word| {
            let mut chars = word.chars();
            match chars.next() {
                Some(first) => first.to_uppercase().chain(chars).collect::<String>(),
                None => String::new(),
            }
        })
        .collect::<String>()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        .collect()
}

/// Owned storage for a [`PathDoc`] in tests.
#[cfg(test)]
pub(crate) mod test_support {
    use super::super::Operation;
    use super::super::display::DisplayAttrs;
    use super::super::doc::{OperationDoc, PathDoc};
    use super::super::fields::FieldSchema;
    use crate::framework::pattern::compile;

    /// A path as a plugin would declare it.
    pub(crate) struct TestPath {
        pub pattern: &'static str,
        pub regex: String,
        pub synopsis: &'static str,
        pub description: &'static str,
        pub fields: Vec<FieldSchema>,
        pub operations: Vec<(Operation, OperationDoc)>,
        pub display: DisplayAttrs,
        pub takes_arbitrary_input: bool,
    }

    impl TestPath {
        /// A path with `pattern` and the given operations, undocumented.
        pub(crate) fn new(pattern: &'static str, ops: &[Operation]) -> Self {
            let regex = match compile(pattern) {
                Ok(re) => re.as_str().to_owned(),
                Err(e) => panic!("{e}"),
            };
            Self {
                pattern,
                regex,
                synopsis: "",
                description: "",
                fields: Vec::new(),
                operations: ops
                    .iter()
                    .map(|op| (*op, OperationDoc::default()))
                    .collect(),
                display: DisplayAttrs::default(),
                takes_arbitrary_input: false,
            }
        }

        pub(crate) fn synopsis(mut self, text: &'static str) -> Self {
            self.synopsis = text;
            self
        }

        pub(crate) fn description(mut self, text: &'static str) -> Self {
            self.description = text;
            self
        }

        pub(crate) fn field(mut self, field: FieldSchema) -> Self {
            self.fields.push(field);
            self
        }

        /// Changes the docs of `op`.
        pub(crate) fn op_doc(mut self, op: Operation, f: impl FnOnce(&mut OperationDoc)) -> Self {
            if let Some((_, doc)) = self.operations.iter_mut().find(|(o, _)| *o == op) {
                f(doc);
            }
            self
        }

        pub(crate) fn view(&self) -> PathDoc<'_> {
            let mut operations: Vec<_> = self.operations.iter().map(|(o, d)| (*o, d)).collect();
            operations.sort_by_key(|(o, _)| *o);
            PathDoc {
                pattern: self.pattern,
                regex: &self.regex,
                synopsis: self.synopsis,
                description: self.description,
                fields: &self.fields,
                operations,
                display: &self.display,
                existence_check: self.operations.iter().any(|(o, _)| *o == Operation::Create),
                takes_arbitrary_input: self.takes_arbitrary_input,
            }
        }
    }

    /// Views of several test paths.
    pub(crate) fn views(paths: &[TestPath]) -> Vec<PathDoc<'_>> {
        paths.iter().map(TestPath::view).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::test_support::{TestPath, views};
    use super::*;
    use crate::framework::fields::FieldType;
    use serde_json::json;

    use Operation::{Create, Delete, List, Patch, Read, Update};

    fn doc(paths: &[TestPath]) -> Value {
        document(
            "Stores things.\nMore about it.",
            BackendType::Logical,
            "v1.2.3",
            "example-kv",
            &views(paths),
        )
    }

    fn attrs(prefix: &str, verb: &str, suffix: &str) -> DisplayAttrs {
        let some = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        DisplayAttrs {
            operation_prefix: some(prefix),
            operation_verb: some(verb),
            operation_suffix: some(suffix),
            ..DisplayAttrs::default()
        }
    }

    #[test]
    fn operation_ids_follow_display_attrs_then_path_and_operation() {
        let none = DisplayAttrs::default();
        // (path, index, path attrs, op, op attrs, want)
        let cases: Vec<(&str, usize, DisplayAttrs, Operation, DisplayAttrs, &str)> = vec![
            (
                "kv/{name}",
                0,
                none.clone(),
                Read,
                none.clone(),
                "example-kv-read-kv-name",
            ),
            (
                "kv/{name}",
                0,
                none.clone(),
                Update,
                none.clone(),
                "example-kv-write-kv-name",
            ),
            (
                "kv/{name}",
                0,
                none.clone(),
                Create,
                none.clone(),
                "example-kv-create-kv-name",
            ),
            (
                "kv",
                0,
                none.clone(),
                List,
                none.clone(),
                "example-kv-list-kv",
            ),
            (
                "ping",
                0,
                none.clone(),
                Delete,
                none.clone(),
                "example-kv-delete-ping",
            ),
            (
                "role/{name}",
                0,
                attrs("balena", "", "role"),
                Read,
                none.clone(),
                "balena-read-role",
            ),
            // A verb alone replaces the default prefix and suffix.
            (
                "creds/{role}",
                0,
                attrs("", "generate", ""),
                Read,
                none.clone(),
                "generate",
            ),
            (
                "creds/{role}",
                0,
                attrs("balena", "", ""),
                Read,
                attrs("", "generate", "credentials"),
                "balena-generate-credentials",
            ),
            // The operation's own parts win over the path's.
            (
                "x",
                0,
                attrs("a", "b", "c"),
                Read,
                attrs("d", "", ""),
                "d-b-c",
            ),
            (
                "Mixed/Case",
                0,
                attrs("Big", "", ""),
                Read,
                none.clone(),
                "big-read-mixed-case",
            ),
            // `|` suffixes go by the expanded path's index.
            (
                "keys/exported",
                1,
                attrs("pki", "generate", "internal-key|exported-key"),
                Update,
                none.clone(),
                "pki-generate-exported-key",
            ),
            // Past the list: the path's words again.
            (
                "keys/kms",
                2,
                attrs("pki", "generate", "internal-key|exported-key"),
                Update,
                none.clone(),
                "pki-generate-keys-kms",
            ),
            (
                "issue/{role}",
                1,
                attrs("pki", "issue", "role"),
                Update,
                none.clone(),
                "pki-issue-issue-role",
            ),
        ];
        for (path, index, path_attrs, op, op_attrs, want) in cases {
            let got = operation_id(path, index, &path_attrs, op, &op_attrs, "example-kv");
            assert_eq!(got, want, "{path} #{index} {op}");
        }
        assert_eq!(operation_id("ping", 0, &none, Read, &none, ""), "read-ping");
    }

    #[test]
    fn document_has_version_info_and_components() {
        let d = doc(&[TestPath::new("ping", &[Read])]);
        assert_eq!(d["openapi"], "3.0.2");
        assert_eq!(d["info"]["title"], "Stores things.");
        assert_eq!(d["info"]["description"], "Stores things.\nMore about it.");
        assert_eq!(d["info"]["version"], "v1.2.3");
        assert_eq!(d["components"], json!({"schemas": {}}));
        let empty = document("", BackendType::Credential, "", "", &[]);
        assert_eq!(empty["info"]["title"], "OpenBao plugin");
        assert_eq!(empty["info"]["version"], "unknown");
        assert_eq!(empty["paths"], json!({}));
    }

    #[test]
    fn path_parameters_are_required_and_typed_from_their_field() {
        let d = doc(&[TestPath::new("role/{name}/ttl/{ttl}", &[Read])
            .field(FieldSchema::new("ttl", FieldType::DurationSecond).description("How long."))
            .field(
                FieldSchema::new("verbose", FieldType::Bool)
                    .description("More.")
                    .default_value(false),
            )]);
        let item = &d["paths"]["/role/{name}/ttl/{ttl}"];
        let mut query = FieldSchema::new("verbose", FieldType::Bool);
        query.query = true;
        assert_eq!(
            item["parameters"],
            json!([
                {"name": "name", "description": "Taken from the request path.", "in": "path",
                 "schema": {"type": "string"}, "required": true},
                {"name": "ttl", "description": "How long.", "in": "path",
                 "schema": {"type": "integer", "format": "seconds"}, "required": true},
            ])
        );
        // A query field is a path-level query parameter, optional unless required.
        let d = doc(&[TestPath::new("x/{id}", &[Read])
            .field(FieldSchema::new("id", FieldType::Int))
            .field(query)]);
        let params = &d["paths"]["/x/{id}"]["parameters"];
        assert_eq!(params[0]["in"], "path");
        assert_eq!(params[0]["schema"]["type"], "integer");
        assert_eq!(params[1]["name"], "verbose");
        assert_eq!(params[1]["in"], "query");
        assert!(params[1].get("required").is_none());
    }

    #[test]
    fn operations_map_to_http_methods() {
        let d = doc(&[
            TestPath::new("kv/{name}", &[Read, Create, Update, Delete, Patch])
                .synopsis("One entry.")
                .field(FieldSchema::new("value", FieldType::String).required()),
            TestPath::new("kv/?", &[List]),
            TestPath::new("both", &[Read, List]),
            TestPath::new("only-create/{x}", &[Create]),
        ]);
        let entry = &d["paths"]["/kv/{name}"];
        assert_eq!(entry["description"], "One entry.");
        assert_eq!(entry["x-vault-createSupported"], true);
        assert_eq!(entry["get"]["operationId"], "example-kv-read-kv-name");
        assert_eq!(entry["get"]["summary"], "One entry.");
        assert_eq!(entry["get"]["tags"], json!(["secrets"]));
        assert_eq!(
            entry["get"]["responses"],
            json!({"200": {"description": "OK"}})
        );
        assert_eq!(entry["post"]["operationId"], "example-kv-write-kv-name");
        assert_eq!(entry["patch"]["operationId"], "example-kv-patch-kv-name");
        assert_eq!(entry["delete"]["operationId"], "example-kv-delete-kv-name");
        assert_eq!(
            entry["delete"]["responses"],
            json!({"204": {"description": "empty body"}})
        );
        assert!(entry["get"].get("parameters").is_none());

        let list = &d["paths"]["/kv"];
        assert!(
            d["paths"].get("/kv/").is_none(),
            "the optional slash is dropped"
        );
        assert_eq!(list["get"]["operationId"], "example-kv-list-kv");
        assert_eq!(
            list["get"]["parameters"],
            json!([{"name": "list", "description": "Must be `true`: list the entries.",
                    "in": "query", "schema": {"type": "string", "enum": ["true"]},
                    "required": true}])
        );
        // Read and list on one path: one get, with an optional list flag.
        let both = &d["paths"]["/both"]["get"];
        assert_eq!(both["operationId"], "example-kv-read-both");
        assert_eq!(both["parameters"][0]["name"], "list");
        assert!(both["parameters"][0].get("required").is_none());
        // Create alone is the post.
        let create = &d["paths"]["/only-create/{x}"]["post"];
        assert_eq!(create["operationId"], "example-kv-create-only-create-x");
    }

    #[test]
    fn writes_take_body_fields_from_a_named_component() {
        let d = doc(&[TestPath::new("role/{name}", &[Read, Update])
            .field(FieldSchema::new("name", FieldType::NameString).description("The role."))
            .field(FieldSchema::new("ttl", FieldType::DurationSecond).description("TTL."))
            .field(FieldSchema::new("policies", FieldType::CommaStringSlice).required())
            .field(FieldSchema::new("db", FieldType::String).required())]);
        let post = &d["paths"]["/role/{name}"]["post"];
        assert_eq!(post["requestBody"]["required"], true);
        let schema = &post["requestBody"]["content"]["application/json"]["schema"];
        assert!(schema.get("$ref").is_none(), "inline: the host drops $refs");
        assert_eq!(
            &d["components"]["schemas"]["ExampleKvWriteRoleNameRequest"],
            schema
        );
        assert!(
            d["paths"]["/role/{name}"]["get"]
                .get("requestBody")
                .is_none()
        );
        assert_eq!(schema["type"], "object");
        assert_eq!(schema["required"], json!(["db", "policies"]));
        assert_eq!(schema["properties"]["ttl"]["description"], "TTL.");
        assert_eq!(schema["properties"]["policies"]["items"]["type"], "string");
        assert!(
            schema["properties"].get("name").is_none(),
            "path fields stay in the path"
        );
        // No body fields: no body.
        let d = doc(&[TestPath::new("rotate", &[Update])]);
        assert!(d["paths"]["/rotate"]["post"].get("requestBody").is_none());
        assert_eq!(d["components"]["schemas"], json!({}));
        // A path taking any field has an open body, even without declared fields.
        let mut open = TestPath::new("kv/{name}", &[Update]);
        open.takes_arbitrary_input = true;
        let d = doc(&[open]);
        assert_eq!(
            d["components"]["schemas"]["ExampleKvWriteKvNameRequest"],
            json!({"type": "object", "properties": {}, "additionalProperties": true})
        );
    }

    #[test]
    fn unpublished_operations_are_left_out_and_deprecated_ones_marked() {
        let d = doc(&[TestPath::new("old/{x}", &[Read, Update, Delete])
            .op_doc(Update, |d| d.unpublished = true)
            .op_doc(Read, |d| {
                d.deprecated = true;
                d.summary = "Read the old way.".into();
                d.description = "Use new/ instead.".into();
            })]);
        let item = &d["paths"]["/old/{x}"];
        assert!(item.get("post").is_none());
        assert_eq!(item["get"]["deprecated"], true);
        assert_eq!(item["get"]["summary"], "Read the old way.");
        assert_eq!(item["get"]["description"], "Use new/ instead.");
        assert!(item["delete"].get("deprecated").is_none());
    }

    #[test]
    fn operation_ids_are_unique_across_the_document() {
        let same = attrs("p", "do", "it");
        let mut a = TestPath::new("a", &[Read, Update]);
        a.display = same.clone();
        let mut b = TestPath::new("b", &[Read]);
        b.display = same;
        let d = doc(&[a, b]);
        assert_eq!(d["paths"]["/a"]["get"]["operationId"], "p-do-it");
        assert_eq!(d["paths"]["/a"]["post"]["operationId"], "p-do-it-2");
        assert_eq!(d["paths"]["/b"]["get"]["operationId"], "p-do-it-3");
    }

    #[test]
    fn expanded_paths_each_get_an_item_and_the_first_pattern_wins() {
        let d = doc(&[
            TestPath::new(r"issue(/(?P<role>\w+))?", &[Update]),
            TestPath::new("issue", &[Read]).synopsis("shadowed"),
            TestPath::new(".*", &[Read]),
        ]);
        let paths = d["paths"]
            .as_object()
            .map(|m| m.keys().cloned().collect::<Vec<_>>());
        assert_eq!(
            paths,
            Some(vec!["/issue".to_owned(), "/issue/{role}".to_owned()])
        );
        assert!(d["paths"]["/issue"].get("get").is_none());
        assert_eq!(
            d["paths"]["/issue"]["post"]["operationId"],
            "example-kv-write-issue"
        );
        assert_eq!(
            d["paths"]["/issue/{role}"]["post"]["operationId"],
            "example-kv-write-issue-role"
        );
        assert_eq!(
            d["paths"]["/issue/{role}"]["parameters"][0]["required"],
            true
        );
    }

    #[test]
    fn auth_backends_are_tagged_auth_and_display_hints_kept() {
        let mut path = TestPath::new("login", &[Update]);
        path.display.navigation = true;
        path.display.item_type = Some("Role".into());
        path.display.operation_verb = Some("login".into());
        let d = document("", BackendType::Credential, "v1", "ibm", &views(&[path]));
        let item = &d["paths"]["/login"];
        assert_eq!(item["post"]["tags"], json!(["auth"]));
        assert_eq!(item["post"]["operationId"], "login");
        assert_eq!(
            item["x-vault-displayAttrs"],
            json!({"itemType": "Role", "navigation": true})
        );
    }

    #[test]
    fn component_names_are_title_case_and_safe() {
        assert_eq!(
            title_case("example-kv-write-kv-name"),
            "ExampleKvWriteKvName"
        );
        assert_eq!(title_case("a b-c/d"), "AbCd");
    }
}
