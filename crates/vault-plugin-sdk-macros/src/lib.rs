//! The derive macros of `vault-plugin-sdk`.
//!
//! A derive macro must live in a crate of its own (`proc-macro = true`), so
//! this one exists; plugins never depend on it directly but use the
//! re-export `vault_plugin_sdk::Fields`, which is also the trait's name.

mod fields;

use proc_macro::TokenStream;

/// Derives `vault_plugin_sdk::Fields` for a struct with named fields: the
/// schema of its request fields, a decoder for them, and `update_from`,
/// which changes only the fields a request sent (partial updates).
///
/// Each struct field is one request field named like the Rust field,
/// decoded with `FieldData::get`; its doc comment (lines joined with a
/// space) becomes the description. Options go in `#[field(...)]`:
///
/// | option | effect |
/// |---|---|
/// | `rename = "wireName"` | the name in the request differs from the Rust name |
/// | `kind = "comma_string_slice"` | the field type, in snake case, instead of the Rust type's default |
/// | `default = "1h"` | a string, whole number, float or boolean used when the field is not sent |
/// | `required` | a request without the field is refused |
/// | `sensitive` | UIs mask the value |
/// | `secret` | write-only: UIs mask it and the router removes it from every read response of the path |
/// | `path` | the value is the path capture of the same name (`role/{name}`); a path without that capture fails to build |
/// | `allowed = ["a", "b"]` | only these values are accepted |
/// | `alias = "oldName"` | also read from `oldName` when the field itself is absent (repeatable); the alias appears in the schema as a deprecated field |
/// | `description = "..."` | the description, instead of the doc comment |
/// | `query` | sent as a query parameter |
/// | `deprecated` | marked deprecated |
/// | `display_name`, `display_group`, `display_value`, `edit_type` | UI hints |
/// | `skip` | not a request field; set with `Default::default()` |
/// | `flatten` | the field is itself a `Fields` struct (e.g. `TokenFields`); its fields join this one's, and its `redact` applies to reads |
///
/// On the struct, `#[fields(redact = path::to_fn)]` names a
/// `fn(&Self, &mut JsonMap)` that takes out of a read of the stored value
/// what it must not show beyond the `secret` fields (which every read loses
/// anyway); it becomes the struct's `Fields::redact`.
#[proc_macro_derive(Fields, attributes(field, fields))]
pub fn derive_fields(input: TokenStream) -> TokenStream {
    let input = syn::parse_macro_input!(input as syn::DeriveInput);
    fields::expand(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
