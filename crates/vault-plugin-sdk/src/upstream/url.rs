//! Checking the base URL an operator configures for an upstream API.

use crate::Error;

/// Checks a base URL as typed into the config field `field`:
/// `http(s)://host[:port][/path]`, without credentials, query or fragment.
/// Returns it without a trailing slash, ready to have paths appended.
///
/// The 400 never repeats the URL (it might hold credentials).
///
/// ```
/// use vault_plugin_sdk::upstream::normalize_base_url;
///
/// assert_eq!(normalize_base_url("url", "https://api.example/v1/").unwrap(), "https://api.example/v1");
/// let err = normalize_base_url("url", "https://me:pw@api.example").unwrap_err();
/// assert!(err.to_string().contains("credentials") && !err.to_string().contains("pw"));
/// ```
pub fn normalize_base_url(field: &str, text: &str) -> Result<String, Error> {
    let url = reqwest::Url::parse(text.trim()).map_err(|e| {
        Error::bad_request(format!(
            "{field} is not a valid URL ({e}); expected https://host[:port][/path]"
        ))
    })?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(Error::bad_request(format!(
            "{field} must start with https:// or http://"
        )));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(Error::bad_request(format!("{field} has no host")));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(Error::bad_request(format!(
            "{field} must not contain credentials (user:password@)"
        )));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(Error::bad_request(format!(
            "{field} must not have a query or a fragment"
        )));
    }
    Ok(url.as_str().trim_end_matches('/').to_owned())
}

/// Percent-encodes everything but RFC 3986's unreserved characters
/// (`A-Z a-z 0-9 - _ . ~`): for a name put into a path segment or a query
/// value.
///
/// ```
/// use vault_plugin_sdk::upstream::percent_encode;
///
/// assert_eq!(percent_encode("name eq 'a&b'"), "name%20eq%20%27a%26b%27");
/// ```
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encoding_keeps_only_unreserved_characters() {
        assert_eq!(percent_encode("a b/c"), "a%20b%2Fc");
        assert_eq!(percent_encode("key-1.x_~"), "key-1.x_~");
        assert_eq!(percent_encode("é"), "%C3%A9");
    }

    #[test]
    fn url_table() {
        let cases = [
            ("https://api.example", Ok("https://api.example")),
            ("https://api.example/", Ok("https://api.example")),
            ("http://127.0.0.1:8080", Ok("http://127.0.0.1:8080")),
            (
                "https://h.example:8443/api/",
                Ok("https://h.example:8443/api"),
            ),
            ("ftp://x", Err("https://")),
            ("api.example", Err("not a valid URL")),
            ("https://u:p4ss@host", Err("credentials")),
            ("https://host/?a=1", Err("query")),
            ("https://host/#x", Err("fragment")),
            ("", Err("not a valid URL")),
        ];
        for (input, want) in cases {
            match (normalize_base_url("proxmox_url", input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got, want, "{input}"),
                (Err(Error::BadRequest(got)), Err(fragment)) => {
                    assert!(got.contains(fragment), "{input}: {got}");
                    assert!(got.starts_with("proxmox_url "), "{got}");
                    assert!(!got.contains("p4ss"), "{got}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }
}
