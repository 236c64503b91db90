//! Answers to the host's `help` operation: what `bao path-help` prints, and
//! the OpenAPI document the host collects from every mount.
//!
//! The host sends `help` in two situations. A user runs `bao path-help
//! <mount>/<path>` (or adds `?help=1` to an API call): the request path is
//! the path inside the mount and the CLI prints the `help` text we answer.
//! The server builds `/v1/sys/internal/specs/openapi`: it sends `help` on the
//! mount's root with `requestResponsePrefix` (the plugin's type, e.g.
//! `example-kv`) in the data and merges the `openapi` object we answer,
//! prefixing our paths with the mount. Both get the same response shape:
//! `help` (text), `see_also` (null: we name no related paths) and `openapi`.
//!
//! The server also knows `generic_mount_paths`, which replaces mount names
//! by parameters; it does that itself after collecting the documents, so a
//! plugin has nothing to do for it (a plugin adding its own mount parameter
//! would duplicate the server's).

use regex_lite::Regex;
use serde_json::{Map, Value};

use super::Response;
use super::doc::PathDoc;
use super::fields::FieldSchema;
use super::openapi::{document, help_type_name};
use crate::backend::BackendType;

/// The data key in which the host names the plugin's type.
const PREFIX_KEY: &str = "requestResponsePrefix";

/// What a path parameter without a description of its own says.
const CAPTURE_TEXT: &str = "Taken from the request path.";

/// Indent of a path or parameter name in help text.
const NAME_INDENT: usize = 4;
/// Indent of the text under a name.
const TEXT_INDENT: usize = 8;

/// The answer to a `help` request on `path` (inside the mount; `""` is the
/// mount itself).
///
/// On the root, or on a path no pattern matches, the text is the backend's
/// help with a list of its paths, and `openapi` documents every path. On a
/// path that matches, the text is that path's help (synopsis, parameters,
/// description) and `openapi` documents that path only. `data` is the
/// request's data: its `requestResponsePrefix`, when given, starts every
/// operation id.
pub(crate) fn help_response(
    backend_help: &str,
    backend_type: BackendType,
    plugin_version: &str,
    paths: &[PathDoc<'_>],
    path: &str,
    data: &Map<String, Value>,
) -> Response {
    let prefix = data
        .get(PREFIX_KEY)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let matched = if path.is_empty() {
        None
    } else {
        paths.iter().find(|doc| matches(doc, path))
    };
    let (text, openapi) = match matched {
        Some(doc) => (
            path_help(doc, path),
            document(
                backend_help,
                backend_type,
                plugin_version,
                prefix,
                std::slice::from_ref(doc),
            ),
        ),
        None => (
            root_help(backend_help, paths),
            document(backend_help, backend_type, plugin_version, prefix, paths),
        ),
    };
    let mut out = Map::new();
    out.insert("help".into(), Value::String(text));
    out.insert("see_also".into(), Value::Null);
    out.insert("openapi".into(), openapi);
    Response::with_data(out)
}

/// Whether the path's (anchored) regex matches `path`.
fn matches(doc: &PathDoc<'_>, path: &str) -> bool {
    Regex::new(doc.regex).is_ok_and(|re| re.is_match(path))
}

/// The help of the mount itself: the backend's help, then every path.
fn root_help(backend_help: &str, paths: &[PathDoc<'_>]) -> String {
    let mut listed: Vec<(&str, &str)> = paths.iter().map(|p| (p.pattern, p.synopsis)).collect();
    listed.sort_unstable();
    listed.dedup();

    let mut out = String::new();
    out.push_str("## DESCRIPTION\n\n");
    out.push_str(or_placeholder(backend_help, "(no description)"));
    out.push_str("\n\n## PATHS\n\n");
    out.push_str(
        "Each path below is a pattern. For the parameters of one, run path-help\n\
         on a request path it matches, e.g. with a name in place of {name}.\n\
         Which paths a token may use depends on its policies.\n",
    );
    for (pattern, synopsis) in listed {
        out.push('\n');
        out.push_str(&indent(NAME_INDENT, pattern));
        out.push('\n');
        out.push_str(&indent(
            TEXT_INDENT,
            or_placeholder(synopsis, "(no synopsis)"),
        ));
        out.push('\n');
    }
    out.trim_end().to_owned()
}

/// The help of one path, for the request path `request`.
fn path_help(doc: &PathDoc<'_>, request: &str) -> String {
    let mut out = format!(
        "Request:        {request}\nMatching Route: {}\n\n{}\n",
        doc.pattern,
        or_placeholder(doc.synopsis, "(no synopsis)")
    );

    let params = parameters(doc);
    if !params.is_empty() {
        out.push_str("\n## PARAMETERS\n");
        for param in params {
            out.push('\n');
            out.push_str(&indent(NAME_INDENT, &param.heading()));
            out.push('\n');
            out.push_str(&indent(TEXT_INDENT, &param.text()));
            out.push('\n');
        }
    }

    out.push_str("\n## DESCRIPTION\n\n");
    out.push_str(or_placeholder(doc.description, "(no description)"));
    out.trim_end().to_owned()
}

/// One entry of a path's parameter list.
enum Param<'a> {
    /// A declared field, and whether the pattern captures it.
    Field(&'a FieldSchema, bool),
    /// A capture of the pattern that is no declared field.
    Capture(String),
}

impl Param<'_> {
    fn name(&self) -> &str {
        match self {
            Param::Field(f, _) => &f.name,
            Param::Capture(name) => name,
        }
    }

    /// `name (type, required)`.
    fn heading(&self) -> String {
        match self {
            Param::Capture(name) => format!("{name} (string)"),
            Param::Field(f, _) => {
                let mut notes = vec![help_type_name(f.kind)];
                if f.required {
                    notes.push("required");
                }
                if f.deprecated {
                    notes.push("deprecated");
                }
                format!("{} ({})", f.name, notes.join(", "))
            }
        }
    }

    fn text(&self) -> String {
        match self {
            Param::Capture(_) => CAPTURE_TEXT.to_owned(),
            Param::Field(f, captured) => {
                let placeholder = if *captured {
                    CAPTURE_TEXT
                } else {
                    "(no description)"
                };
                let mut text = or_placeholder(&f.description, placeholder).to_owned();
                if let Some(default) = &f.default {
                    text.push_str(&format!("\nDefault: {}", show(default)));
                }
                if !f.allowed_values.is_empty() {
                    let values: Vec<String> = f.allowed_values.iter().map(show).collect();
                    text.push_str(&format!("\nOne of: {}", values.join(", ")));
                }
                text
            }
        }
    }
}

/// The declared fields and undeclared captures of a path, by name.
fn parameters<'a>(doc: &'a PathDoc<'_>) -> Vec<Param<'a>> {
    let captures: Vec<String> = Regex::new(doc.regex)
        .map(|re| re.capture_names().flatten().map(str::to_owned).collect())
        .unwrap_or_default();
    let mut params: Vec<Param<'a>> = doc
        .fields
        .iter()
        .map(|f| Param::Field(f, captures.contains(&f.name)))
        .collect();
    for name in captures {
        if doc.fields.iter().all(|f| f.name != name) {
            params.push(Param::Capture(name));
        }
    }
    params.sort_by(|a, b| a.name().cmp(b.name()));
    params
}

/// A JSON value as a user would type it: strings without quotes.
fn show(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn or_placeholder<'a>(text: &'a str, placeholder: &'a str) -> &'a str {
    let text = text.trim();
    if text.is_empty() { placeholder } else { text }
}

/// Every line of `text` indented by `n` spaces (blank lines stay empty).
fn indent(n: usize, text: &str) -> String {
    let pad = " ".repeat(n);
    text.lines()
        .map(|line| {
            if line.trim().is_empty() {
                String::new()
            } else {
                format!("{pad}{line}")
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Operation::{Create, Delete, List, Read, Update};
    use crate::framework::fields::FieldType;
    use crate::framework::openapi::test_support::{TestPath, views};
    use serde_json::json;

    fn backend_paths() -> Vec<TestPath> {
        vec![
            TestPath::new("kv/{name}", &[Read, Create, Update, Delete])
                .synopsis("Read, write or delete one entry.")
                .description("Writing stores every given field.\nReading returns them.")
                .field(
                    FieldSchema::new("value", FieldType::String)
                        .description("What to store.")
                        .required(),
                )
                .field(
                    FieldSchema::new("ttl", FieldType::DurationSecond)
                        .description("How long to keep it.")
                        .default_value(3600),
                )
                .field(
                    FieldSchema::new("mode", FieldType::String)
                        .allowed_values([json!("a"), json!("b")])
                        .deprecated(),
                ),
            TestPath::new("kv/?", &[List]).synopsis("List the entries."),
            TestPath::new("ping", &[Read]),
        ]
    }

    fn help(path: &str, data: Value) -> Map<String, Value> {
        let paths = backend_paths();
        let Value::Object(data) = data else {
            panic!("data must be an object")
        };
        let resp = help_response(
            "A key/value store.",
            BackendType::Logical,
            "v0.1.0",
            &views(&paths),
            path,
            &data,
        );
        resp.data.unwrap_or_default()
    }

    #[test]
    fn path_help_prints_synopsis_parameters_and_description() {
        let data = help("kv/foo", json!({}));
        let want = "\
Request:        kv/foo
Matching Route: kv/{name}

Read, write or delete one entry.

## PARAMETERS

    mode (string, deprecated)
        (no description)
        One of: a, b

    name (string)
        Taken from the request path.

    ttl (duration (seconds))
        How long to keep it.
        Default: 3600

    value (string, required)
        What to store.

## DESCRIPTION

Writing stores every given field.
Reading returns them.";
        assert_eq!(
            data["help"],
            want,
            "got:\n{}",
            data["help"].as_str().unwrap_or("")
        );
        assert_eq!(data["see_also"], Value::Null);
    }

    #[test]
    fn path_help_carries_the_openapi_of_that_path_only() {
        let data = help("kv/foo", json!({"requestResponsePrefix": "example-kv"}));
        let paths = data["openapi"]["paths"].as_object().map(|p| p.len());
        assert_eq!(paths, Some(1));
        let item = &data["openapi"]["paths"]["/kv/{name}"];
        assert_eq!(item["get"]["operationId"], "example-kv-read-kv-name");
        assert_eq!(item["parameters"][0]["required"], true);
    }

    #[test]
    fn root_help_prints_backend_help_and_every_path() {
        let data = help("", json!({"requestResponsePrefix": "example-kv"}));
        let want = "\
## DESCRIPTION

A key/value store.

## PATHS

Each path below is a pattern. For the parameters of one, run path-help
on a request path it matches, e.g. with a name in place of {name}.
Which paths a token may use depends on its policies.

    kv/?
        List the entries.

    kv/{name}
        Read, write or delete one entry.

    ping
        (no synopsis)";
        assert_eq!(
            data["help"],
            want,
            "got:\n{}",
            data["help"].as_str().unwrap_or("")
        );
        let doc = &data["openapi"];
        assert_eq!(doc["info"]["version"], "v0.1.0");
        let mut keys: Vec<&String> = doc["paths"]
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        keys.sort();
        assert_eq!(keys, ["/kv", "/kv/{name}", "/ping"]);
        assert_eq!(
            doc["paths"]["/kv"]["get"]["operationId"],
            "example-kv-list-kv"
        );
    }

    #[test]
    fn unknown_paths_get_the_root_help() {
        let data = help("nothing/here", json!({}));
        let text = data["help"].as_str().unwrap_or_default();
        assert!(
            text.starts_with("## DESCRIPTION\n\nA key/value store."),
            "{text}"
        );
        assert!(data["openapi"]["paths"].get("/ping").is_some());
    }

    #[test]
    fn without_a_prefix_operation_ids_start_with_the_verb() {
        for data in [json!({}), json!({"requestResponsePrefix": 7})] {
            let data = help("ping", data);
            assert_eq!(
                data["openapi"]["paths"]["/ping"]["get"]["operationId"],
                "read-ping"
            );
        }
    }

    #[test]
    fn generic_mount_paths_is_left_to_the_server() {
        let with = help(
            "",
            json!({"requestResponsePrefix": "kv", "genericMountPaths": true}),
        );
        let without = help("", json!({"requestResponsePrefix": "kv"}));
        assert_eq!(with["openapi"], without["openapi"]);
    }

    #[test]
    fn a_declared_capture_without_description_says_where_it_comes_from() {
        let paths = [TestPath::new("role/{id}", &[Read])
            .field(FieldSchema::new("id", FieldType::Int).required())];
        let resp = help_response(
            "",
            BackendType::Logical,
            "",
            &views(&paths),
            "role/7",
            &Map::new(),
        );
        let data = resp.data.unwrap_or_default();
        let text = data["help"].as_str().unwrap_or_default();
        assert!(
            text.contains("    id (int, required)\n        Taken from the request path.\n"),
            "{text}"
        );
        assert!(text.contains("(no synopsis)") && text.ends_with("(no description)"));
    }

    #[test]
    fn indent_keeps_blank_lines_empty() {
        assert_eq!(indent(2, "a\n\nb"), "  a\n\n  b");
    }
}
