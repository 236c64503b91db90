//! `#[derive(Fields)]`: reads the struct and its `#[field(...)]` options and
//! writes the `Fields` impl (schema plus decoder).

use proc_macro2::{Literal, Span, TokenStream};
use quote::{format_ident, quote};
use syn::ext::IdentExt as _;
use syn::meta::ParseNestedMeta;
use syn::parse::ParseStream;
use syn::{Data, DeriveInput, Expr, ExprLit, Fields as SynFields, Lit, LitStr, Token};

/// The field types, by the snake-case names `kind = "..."` takes, with the
/// `FieldType` variant each stands for.
const KINDS: [(&str, &str); 17] = [
    ("string", "String"),
    ("int", "Int"),
    ("int64", "Int64"),
    ("bool", "Bool"),
    ("map", "Map"),
    ("duration_second", "DurationSecond"),
    ("signed_duration_second", "SignedDurationSecond"),
    ("slice", "Slice"),
    ("string_slice", "StringSlice"),
    ("comma_string_slice", "CommaStringSlice"),
    ("lower_case_string", "LowerCaseString"),
    ("name_string", "NameString"),
    ("kv_pairs", "KvPairs"),
    ("comma_int_slice", "CommaIntSlice"),
    ("header", "Header"),
    ("float", "Float"),
    ("time", "Time"),
];

const KEYS: &str = "rename, kind, default, required, sensitive, secret, path, allowed, alias, \
                    description, query, deprecated, display_name, display_group, display_value, \
                    edit_type, skip, flatten";

/// The options of one struct field.
#[derive(Default)]
struct Options {
    rename: Option<LitStr>,
    kind: Option<syn::Ident>,
    default: Option<TokenStream>,
    required: bool,
    sensitive: bool,
    /// Write-only: accepted on writes, never in a read response.
    secret: bool,
    /// The value is a capture of the path pattern.
    path: bool,
    allowed: Option<Vec<TokenStream>>,
    aliases: Vec<LitStr>,
    description: Option<LitStr>,
    query: bool,
    deprecated: bool,
    display_name: Option<LitStr>,
    display_group: Option<LitStr>,
    display_value: Option<LitStr>,
    edit_type: Option<LitStr>,
    skip: bool,
    /// The field is itself a `Fields` struct whose fields are added to this one.
    flatten: bool,
    /// Whether any option other than `skip` or `flatten` was given.
    any_other: bool,
}

/// Writes the `Fields` impl for `input`.
pub(crate) fn expand(input: &DeriveInput) -> syn::Result<TokenStream> {
    let named = match &input.data {
        Data::Struct(data) => match &data.fields {
            SynFields::Named(named) => named,
            other => {
                return Err(syn::Error::new_spanned(
                    other,
                    "#[derive(Fields)] needs a struct with named fields",
                ));
            }
        },
        Data::Enum(data) => {
            return Err(syn::Error::new(
                data.enum_token.span,
                "#[derive(Fields)] needs a struct with named fields, not an enum",
            ));
        }
        Data::Union(data) => {
            return Err(syn::Error::new(
                data.union_token.span,
                "#[derive(Fields)] needs a struct with named fields, not a union",
            ));
        }
    };

    let sdk = quote!(::vault_plugin_sdk::framework::fields);
    let mut schema = Vec::new();
    let mut inits = Vec::new();
    let mut updates = Vec::new();
    let mut redacts = parse_struct_options(&input.attrs)?;
    for field in &named.named {
        let ident = field
            .ident
            .as_ref()
            .ok_or_else(|| syn::Error::new_spanned(field, "a field without a name"))?;
        let options = parse_options(&field.attrs)?;
        if options.skip {
            inits.push(quote!(#ident: ::core::default::Default::default()));
            continue;
        }
        let ty = &field.ty;
        if options.flatten {
            schema.push(quote!(fields.extend(<#ty as #sdk::Fields>::schema());));
            inits.push(quote!(#ident: <#ty as #sdk::Fields>::from_data(data)?));
            updates.push(quote!(<#ty as #sdk::Fields>::update_from(&mut self.#ident, data)?;));
            redacts.push(quote!(<#ty as #sdk::Fields>::redact(&self.#ident, data);));
            continue;
        }
        let wire = options
            .rename
            .as_ref()
            .map_or_else(|| ident.unraw().to_string(), LitStr::value);
        let kind = match &options.kind {
            Some(variant) => quote!(#sdk::FieldType::#variant),
            None => quote!(<#ty as #sdk::FieldValue>::KIND),
        };
        let description = match &options.description {
            Some(text) => text.value(),
            None => doc_text(&field.attrs),
        };

        let mut setters = Vec::new();
        if let Some(default) = &options.default {
            setters.push(quote!(field = field.default_value(#default);));
        }
        let flags = [
            (
                options.required || options.path,
                quote!(field.required = true;),
            ),
            (options.deprecated, quote!(field.deprecated = true;)),
            (options.path, quote!(field.path = true;)),
        ];
        setters.extend(flags.into_iter().filter(|(on, _)| *on).map(|(_, t)| t));
        // Shared with the aliases: how the value is sent, shown and checked.
        let mut shared = Vec::new();
        if options.query {
            shared.push(quote!(field.query = true;));
        }
        if options.sensitive || options.secret {
            shared.push(quote!(field.display.sensitive = true;));
        }
        if options.secret {
            shared.push(quote!(field.write_only = true;));
        }
        for value in options.allowed.iter().flatten() {
            shared.push(quote!(field = field.allow(#value);));
        }
        let display = [
            (&options.display_name, quote!(name)),
            (&options.display_group, quote!(group)),
            (&options.display_value, quote!(value)),
            (&options.edit_type, quote!(edit_type)),
        ];
        for (text, part) in display {
            if let Some(text) = text {
                setters.push(quote!(
                    field.display.#part = ::core::option::Option::Some(::std::string::String::from(#text));
                ));
            }
        }
        schema.push(quote! {
            {
                let mut field = #sdk::FieldSchema::new(#wire, #kind);
                field.description = ::std::string::String::from(#description);
                #(#setters)*
                #(#shared)*
                fields.push(field);
            }
        });
        for alias in &options.aliases {
            let text = format!("Alias of {wire}");
            schema.push(quote! {
                {
                    let mut field = #sdk::FieldSchema::new(#alias, #kind);
                    field.description = ::std::string::String::from(#text);
                    field.deprecated = true;
                    #(#shared)*
                    fields.push(field);
                }
            });
        }
        let aliases = &options.aliases;
        if aliases.is_empty() {
            inits.push(quote!(#ident: data.get::<#ty>(#wire)?));
        } else {
            inits.push(quote!(#ident: data.get_first::<#ty>(&[#wire, #(#aliases),*])?));
        }
        updates.push(quote! {
            if data.sent(&[#wire, #(#aliases),*]) {
                self.#ident = data.get_first::<#ty>(&[#wire, #(#aliases),*])?;
            }
        });
    }

    // Only a struct with something to redact overrides the trait's default.
    let redact = (!redacts.is_empty()).then(|| {
        quote! {
            fn redact(&self, data: &mut #sdk::JsonMap) {
                #(#redacts)*
            }
        }
    });
    let name = &input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    Ok(quote! {
        impl #impl_generics #sdk::Fields for #name #ty_generics #where_clause {
            fn schema() -> ::std::vec::Vec<#sdk::FieldSchema> {
                let mut fields = ::std::vec::Vec::new();
                #(#schema)*
                fields
            }

            fn from_data(
                data: &#sdk::FieldData<'_>,
            ) -> ::core::result::Result<Self, #sdk::FieldError> {
                ::core::result::Result::Ok(Self { #(#inits,)* })
            }

            fn update_from(
                &mut self,
                data: &#sdk::FieldData<'_>,
            ) -> ::core::result::Result<(), #sdk::FieldError> {
                let _ = data;
                #(#updates)*
                ::core::result::Result::Ok(())
            }

            #redact
        }
    })
}

/// Reads `#[fields(redact = path)]` on the struct: the function that takes
/// out of a read what it must not show (`fn(&Self, &mut JsonMap)`).
fn parse_struct_options(attrs: &[syn::Attribute]) -> syn::Result<Vec<TokenStream>> {
    let mut redact: Option<syn::Path> = None;
    for attr in attrs.iter().filter(|a| a.path().is_ident("fields")) {
        attr.parse_nested_meta(|meta| {
            if !meta.path.is_ident("redact") {
                return Err(meta.error("unknown struct option; expected: redact"));
            }
            let path: syn::Path = meta.value()?.parse()?;
            set(&meta, &mut redact, path)
        })?;
    }
    Ok(redact
        .into_iter()
        .map(|f| quote!(#f(self, data);))
        .collect())
}

/// The doc comment's lines, trimmed, without blank ones, joined by spaces.
fn doc_text(attrs: &[syn::Attribute]) -> String {
    let lines = attrs
        .iter()
        .filter(|a| a.path().is_ident("doc"))
        .filter_map(|a| match &a.meta.require_name_value().ok()?.value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => Some(s.value()),
            _ => None,
        });
    lines
        .map(|line| line.trim().to_owned())
        .filter(|line| !line.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads every `#[field(...)]` on one struct field.
fn parse_options(attrs: &[syn::Attribute]) -> syn::Result<Options> {
    let mut options = Options::default();
    for attr in attrs.iter().filter(|a| a.path().is_ident("field")) {
        attr.parse_nested_meta(|meta| parse_option(&meta, &mut options))?;
    }
    Ok(options)
}

/// Reads one `key` or `key = value` of `#[field(...)]`.
fn parse_option(meta: &ParseNestedMeta<'_>, options: &mut Options) -> syn::Result<()> {
    let key = meta
        .path
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default();
    match key.as_str() {
        "skip" => once(meta, &mut options.skip)?,
        "flatten" => once(meta, &mut options.flatten)?,
        _ => options.any_other = true,
    }
    match key.as_str() {
        "skip" | "flatten" => {}
        "required" => once(meta, &mut options.required)?,
        "sensitive" => once(meta, &mut options.sensitive)?,
        "secret" => once(meta, &mut options.secret)?,
        "path" => once(meta, &mut options.path)?,
        "query" => once(meta, &mut options.query)?,
        "deprecated" => once(meta, &mut options.deprecated)?,
        "rename" => set(meta, &mut options.rename, string(meta)?)?,
        "description" => set(meta, &mut options.description, string(meta)?)?,
        "display_name" => set(meta, &mut options.display_name, string(meta)?)?,
        "display_group" => set(meta, &mut options.display_group, string(meta)?)?,
        "display_value" => set(meta, &mut options.display_value, string(meta)?)?,
        "edit_type" => set(meta, &mut options.edit_type, string(meta)?)?,
        "alias" => options.aliases.push(string(meta)?),
        "kind" => {
            let name = string(meta)?;
            let variant = KINDS
                .iter()
                .find(|(snake, _)| *snake == name.value())
                .map(|(_, variant)| format_ident!("{}", variant, span = name.span()))
                .ok_or_else(|| {
                    let names: Vec<&str> = KINDS.iter().map(|(snake, _)| *snake).collect();
                    syn::Error::new(
                        name.span(),
                        format!("unknown field kind; expected one of: {}", names.join(", ")),
                    )
                })?;
            set(meta, &mut options.kind, variant)?;
        }
        "default" => {
            let value = literal(meta.value()?)?;
            set(meta, &mut options.default, value)?;
        }
        "allowed" => {
            let value = meta.value()?;
            let content;
            syn::bracketed!(content in value);
            let mut values = Vec::new();
            while !content.is_empty() {
                values.push(literal(&content)?);
                if content.is_empty() {
                    break;
                }
                content.parse::<Token![,]>()?;
            }
            set(meta, &mut options.allowed, values)?;
        }
        _ => {
            return Err(meta.error(format!("unknown field option; expected one of: {KEYS}")));
        }
    }
    if options.skip && (options.any_other || options.flatten) {
        return Err(meta.error("`skip` cannot be combined with other field options"));
    }
    if options.flatten && options.any_other {
        return Err(meta.error("`flatten` cannot be combined with other field options"));
    }
    Ok(())
}

/// Sets a flag, refusing it twice.
fn once(meta: &ParseNestedMeta<'_>, flag: &mut bool) -> syn::Result<()> {
    if *flag {
        return Err(meta.error("this option is given twice"));
    }
    *flag = true;
    Ok(())
}

/// Sets an option's value, refusing it twice.
fn set<T>(meta: &ParseNestedMeta<'_>, slot: &mut Option<T>, value: T) -> syn::Result<()> {
    if slot.is_some() {
        return Err(meta.error("this option is given twice"));
    }
    *slot = Some(value);
    Ok(())
}

/// Reads `= "text"`.
fn string(meta: &ParseNestedMeta<'_>) -> syn::Result<LitStr> {
    meta.value()?.parse()
}

/// Reads a literal for a default or allowed value (a string, a whole
/// number, a float or a boolean, numbers optionally negative) as an
/// expression of a type `serde_json::Value` converts from.
fn literal(input: ParseStream<'_>) -> syn::Result<TokenStream> {
    let negative = input.parse::<Option<Token![-]>>()?.is_some();
    let lit: Lit = input.parse()?;
    let sign = if negative { -1 } else { 1 };
    match &lit {
        Lit::Str(s) if !negative => Ok(quote!(#s)),
        Lit::Bool(b) if !negative => Ok(quote!(#b)),
        Lit::Int(i) => {
            let value = i128::from(sign) * i.base10_parse::<i128>()?;
            let value = i64::try_from(value)
                .map_err(|_| syn::Error::new(i.span(), "a whole number must fit in i64"))?;
            Ok(spanned(Literal::i64_suffixed(value), i.span()))
        }
        Lit::Float(f) => {
            let value = f64::from(sign) * f.base10_parse::<f64>()?;
            Ok(spanned(Literal::f64_suffixed(value), f.span()))
        }
        _ => Err(syn::Error::new(
            lit.span(),
            "expected a string, a whole number, a float or a boolean",
        )),
    }
}

/// A literal as tokens, pointing at the user's source for error messages.
fn spanned(mut literal: Literal, span: Span) -> TokenStream {
    literal.set_span(span);
    quote!(#literal)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(input: DeriveInput) -> String {
        match expand(&input) {
            Ok(tokens) => panic!("expected an error, got {tokens}"),
            Err(err) => err.to_string(),
        }
    }

    fn output(input: DeriveInput) -> String {
        match expand(&input) {
            Ok(tokens) => tokens.to_string(),
            Err(err) => panic!("unexpected error: {err}"),
        }
    }

    #[test]
    fn enums_unions_and_tuple_structs_are_refused() {
        let msg = error(syn::parse_quote!(
            enum E {
                A,
            }
        ));
        assert!(msg.contains("not an enum"), "{msg}");
        let msg = error(syn::parse_quote!(
            struct T(String);
        ));
        assert!(msg.contains("struct with named fields"), "{msg}");
        let msg = error(syn::parse_quote!(
            union U {
                a: u8,
            }
        ));
        assert!(msg.contains("not a union"), "{msg}");
    }

    #[test]
    fn unknown_options_are_refused_with_the_list_of_known_ones() {
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(requird)]
                name: String,
            }
        ));
        assert!(msg.starts_with("unknown field option"), "{msg}");
        assert!(msg.contains("required"), "{msg}");
    }

    #[test]
    fn unknown_kinds_are_refused() {
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(kind = "CommaStringSlice")]
                names: Vec<String>,
            }
        ));
        assert!(msg.contains("unknown field kind"), "{msg}");
        assert!(msg.contains("comma_string_slice"), "{msg}");
    }

    #[test]
    fn repeated_and_conflicting_options_are_refused() {
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(required, required)]
                name: String,
            }
        ));
        assert!(msg.contains("given twice"), "{msg}");
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(skip, required)]
                name: String,
            }
        ));
        assert!(msg.contains("cannot be combined"), "{msg}");
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(flatten, rename = "x")]
                token: Token,
            }
        ));
        assert!(msg.contains("`flatten` cannot be combined"), "{msg}");
    }

    #[test]
    fn flatten_adds_the_inner_schema_and_decodes_the_inner_struct() {
        let out = output(syn::parse_quote!(
            struct A {
                #[field(flatten)]
                token: TokenFields,
            }
        ));
        assert!(
            out.contains("fields . extend (< TokenFields as :: vault_plugin_sdk :: framework :: fields :: Fields > :: schema ())"),
            "{out}"
        );
        assert!(
            out.contains("token : < TokenFields as :: vault_plugin_sdk :: framework :: fields :: Fields > :: from_data (data) ?"),
            "{out}"
        );
    }

    #[test]
    fn defaults_must_be_simple_literals() {
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(default = b"bytes")]
                name: String,
            }
        ));
        assert!(msg.contains("expected a string"), "{msg}");
        let msg = error(syn::parse_quote!(
            struct A {
                #[field(default = 99999999999999999999)]
                n: i64,
            }
        ));
        assert!(msg.contains("fit in i64"), "{msg}");
    }

    #[test]
    fn the_expansion_uses_wire_names_aliases_and_typed_defaults() {
        let out = output(syn::parse_quote!(
            struct A {
                /// The key.
                ///
                /// Second line.
                #[field(rename = "apiKey", alias = "balenaApiKey", sensitive)]
                api_key: Option<String>,
                #[field(default = -5, kind = "signed_duration_second")]
                offset: i64,
                #[field(skip)]
                other: u8,
            }
        ));
        assert!(out.contains(r#"FieldSchema :: new ("apiKey""#), "{out}");
        assert!(out.contains(r#""The key. Second line.""#), "{out}");
        assert!(
            out.contains(r#"get_first :: < Option < String > > (& ["apiKey" , "balenaApiKey"])"#),
            "{out}"
        );
        assert!(out.contains(r#""Alias of apiKey""#), "{out}");
        assert!(out.contains("- 5i64") || out.contains("-5i64"), "{out}");
        assert!(out.contains("FieldType :: SignedDurationSecond"), "{out}");
        assert!(
            out.contains("other : :: core :: default :: Default :: default ()"),
            "{out}"
        );
    }
}
