//! Path patterns: Vault's regular expressions, with `{name}` sugar.
//!
//! A pattern is matched against the whole request path (it is anchored).
//! `{name}` captures one name segment the way Vault's `GenericNameRegex`
//! does (letters, digits, `_`, and `-` or `.` inside); `{name*}` captures the
//! rest of the path, slashes included. Anything else is a regular expression,
//! so Vault patterns such as `kv/?` or `(?P<name>.+)` work as written.

use regex_lite::Regex;

/// ASCII word characters, as Go's `\w` (RE2 is ASCII-only).
const NAME: &str = r"[0-9A-Za-z_](?:[0-9A-Za-z_.\-]*[0-9A-Za-z_])?";

/// A pattern that did not compile.
#[derive(Debug, thiserror::Error)]
#[error("path pattern {pattern:?} is invalid: {reason}")]
pub struct PatternError {
    /// The pattern as written.
    pub pattern: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Compiles `pattern` into an anchored regular expression.
pub(crate) fn compile(pattern: &str) -> Result<Regex, PatternError> {
    let err = |reason: &str| PatternError {
        pattern: pattern.to_owned(),
        reason: reason.to_owned(),
    };
    let body = pattern.trim_start_matches('^').trim_end_matches('$');
    let mut out = String::from("^");
    let mut rest = body;
    while let Some(open) = rest.find('{') {
        // `{2,3}` and the like are regex repetition, not a capture.
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or_else(|| err("unclosed `{`"))?;
        let inner = &after[..close];
        let (name, greedy) = match inner.strip_suffix('*') {
            Some(n) => (n, true),
            None => (inner, false),
        };
        if !inner.is_empty() && inner.chars().all(|c| c.is_ascii_digit() || c == ',') {
            out.push_str(&rest[..open + close + 2]);
            rest = &after[close + 1..];
            continue;
        }
        let valid_start = name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_');
        if !valid_start || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(err("a capture name may hold only letters, digits and `_`"));
        }
        out.push_str(&rest[..open]);
        out.push_str("(?P<");
        out.push_str(name);
        out.push('>');
        out.push_str(if greedy { ".+" } else { NAME });
        out.push(')');
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out.push('$');
    Regex::new(&out).map_err(|e| err(&e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, path: &str) -> Option<Vec<(String, String)>> {
        let re = compile(pattern).unwrap();
        let caps = re.captures(path)?;
        Some(
            re.capture_names()
                .flatten()
                .filter_map(|n| Some((n.to_owned(), caps.name(n)?.as_str().to_owned())))
                .collect(),
        )
    }

    #[test]
    fn table() {
        type Captures = Option<&'static [(&'static str, &'static str)]>;
        let cases: &[(&str, &str, Captures)] = &[
            ("ping", "ping", Some(&[])),
            ("ping", "pingx", None),
            ("ping", "a/ping", None),
            ("kv/{name}", "kv/foo", Some(&[("name", "foo")])),
            ("kv/{name}", "kv/a.b-c_d", Some(&[("name", "a.b-c_d")])),
            ("kv/{name}", "kv/-bad", None),
            ("kv/{name}", "kv/a/b", None),
            ("kv/{name}", "kv/", None),
            ("kv/?", "kv/", Some(&[])),
            ("kv/?", "kv", Some(&[])),
            ("files/{path*}", "files/a/b/c", Some(&[("path", "a/b/c")])),
            (
                "creds/(?P<role>\\w+)",
                "creds/dev",
                Some(&[("role", "dev")]),
            ),
            ("^x{2}$", "xx", Some(&[])),
        ];
        for (pattern, path, want) in cases {
            let got = matches(pattern, path);
            let want = want.map(|w| {
                w.iter()
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .collect::<Vec<_>>()
            });
            assert_eq!(got, want, "pattern {pattern:?} on {path:?}");
        }
    }

    #[test]
    fn bad_patterns_say_why() {
        let e = compile("kv/{name").unwrap_err();
        assert!(e.to_string().contains("unclosed"), "{e}");
        let e = compile("kv/{na-me}").unwrap_err();
        assert!(e.to_string().contains("capture name"), "{e}");
        let e = compile("kv/(").unwrap_err();
        assert!(e.to_string().contains("kv/("), "{e}");
    }
}
