//! From a path's regular expression to the OpenAPI paths it stands for.
//!
//! OpenAPI has no regular expressions: a path is literal text with `{name}`
//! parameters. A Vault pattern such as `roles/?` or
//! `creds/(?P<role>\w+)(/(?P<ttl>\d+))?` therefore becomes one OpenAPI path
//! per way of reading its optional parts and alternatives: `roles`,
//! `creds/{role}` and `creds/{role}/{ttl}`. A named capture becomes a
//! parameter whatever it matches inside.
//!
//! Understood, outside named captures: literal characters (escaped
//! punctuation too), groups `(...)` and `(?:...)`, alternatives `a|b`,
//! optional parts `x?` (and the lazy `x??`), and the zero-width `^`, `$`,
//! `\A`, `\z`, `\b`, `\B`. A trailing optional slash is dropped, as Vault
//! does: `kv/?` documents `kv` only. Anything else outside a named capture
//! (`.`, classes like `[a-z]` or `\w`, repetition `*`, `+`, `{n}`, inline
//! flags) has no OpenAPI form: such a pattern is [`Unsupported`] and its
//! path is left out of the document (help still describes it).

/// Most OpenAPI paths one pattern may expand to; more means the pattern is
/// better left out than flooding the document.
const MAX_PATHS: usize = 64;

/// The pattern uses a regular-expression feature with no OpenAPI form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Unsupported(pub String);

/// The OpenAPI paths (without the leading `/`) that `regex` matches, in the
/// order the alternatives appear: for `x?` the path without `x` comes first.
pub(crate) fn expand(regex: &str) -> Result<Vec<String>, Unsupported> {
    let mut parser = Parser {
        chars: regex.chars().collect(),
        pos: 0,
    };
    let node = parser.alternation()?;
    if let Some(c) = parser.peek() {
        return Err(Unsupported(format!("unbalanced `{c}`")));
    }
    let start = vec![Collector::default()];
    let collected = collect(&node, start)?;
    let mut out: Vec<String> = Vec::new();
    for collector in collected {
        // A path whose last step was an optional `/` is the slash-less path
        // again; the empty path (the mount itself) is root help, not API.
        if collector.slash_at == collector.text.len() {
            continue;
        }
        if !out.contains(&collector.text) {
            out.push(collector.text);
        }
    }
    Ok(out)
}

/// The parameter names in an expanded OpenAPI path, in order.
pub(crate) fn parameters(path: &str) -> Vec<&str> {
    let mut names = Vec::new();
    let mut rest = path;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        names.push(&after[..close]);
        rest = &after[close + 1..];
    }
    names
}

/// A regular expression reduced to what OpenAPI paths can express.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    /// Matches nothing visible (`^`, `$`, an empty group).
    Empty,
    /// One literal character.
    Char(char),
    /// A named capture: the parameter `{name}`.
    Param(String),
    /// One part after the other.
    Concat(Vec<Node>),
    /// One of the parts.
    Alternate(Vec<Node>),
    /// The part or nothing.
    Optional(Box<Node>),
}

impl Node {
    /// Whether the node is exactly one literal `/` (the "optional trailing
    /// slash" case), looking through groups.
    fn is_slash(&self) -> bool {
        match self {
            Node::Char('/') => true,
            Node::Concat(parts) => {
                let visible: Vec<&Node> = parts.iter().filter(|n| **n != Node::Empty).collect();
                matches!(visible.as_slice(), [only] if only.is_slash())
            }
            _ => false,
        }
    }
}

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, offset: usize) -> Option<char> {
        self.chars.get(self.pos + offset).copied()
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.pos += 1;
        Some(c)
    }

    /// `a|b|...` up to a `)` or the end.
    fn alternation(&mut self) -> Result<Node, Unsupported> {
        let mut branches = vec![self.concat()?];
        while self.peek() == Some('|') {
            self.pos += 1;
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.swap_remove(0)
        } else {
            Node::Alternate(branches)
        })
    }

    /// Atoms one after the other, up to `|`, `)` or the end.
    fn concat(&mut self) -> Result<Node, Unsupported> {
        let mut parts = Vec::new();
        while let Some(c) = self.peek() {
            if c == '|' || c == ')' {
                break;
            }
            let atom = self.atom()?;
            parts.push(self.quantified(atom)?);
        }
        Ok(Node::Concat(parts))
    }

    /// Applies a quantifier following an atom, if any.
    fn quantified(&mut self, atom: Node) -> Result<Node, Unsupported> {
        match self.peek() {
            Some('?') => {
                self.pos += 1;
                // `??` is the lazy form: the same set of paths.
                if self.peek() == Some('?') {
                    self.pos += 1;
                }
                if matches!(self.peek(), Some('?' | '*' | '+' | '{')) {
                    return Err(Unsupported("stacked quantifiers".into()));
                }
                Ok(Node::Optional(Box::new(atom)))
            }
            Some(c @ ('*' | '+' | '{')) => Err(Unsupported(format!(
                "repetition `{c}` outside a named capture"
            ))),
            _ => Ok(atom),
        }
    }

    fn atom(&mut self) -> Result<Node, Unsupported> {
        let Some(c) = self.bump() else {
            return Ok(Node::Empty);
        };
        match c {
            '^' | '$' => Ok(Node::Empty),
            '(' => self.group(),
            '\\' => self.escape(),
            '.' => Err(Unsupported("`.` outside a named capture".into())),
            '[' => Err(Unsupported(
                "a character class outside a named capture".into(),
            )),
            '*' | '+' | '?' | '{' | '}' => Err(Unsupported(format!("a stray `{c}`"))),
            other => Ok(Node::Char(other)),
        }
    }

    fn escape(&mut self) -> Result<Node, Unsupported> {
        match self.bump() {
            Some('A' | 'z' | 'b' | 'B') => Ok(Node::Empty),
            // `\{` and `\}` would read as a parameter in the OpenAPI path.
            Some(c @ ('{' | '}')) => Err(Unsupported(format!("a literal `{c}`"))),
            Some(c) if c.is_ascii_punctuation() || c == ' ' => Ok(Node::Char(c)),
            Some(c) => Err(Unsupported(format!("`\\{c}` outside a named capture"))),
            None => Err(Unsupported("a trailing `\\`".into())),
        }
    }

    /// After `(`: a plain, non-capturing or named group.
    fn group(&mut self) -> Result<Node, Unsupported> {
        if self.peek() == Some('?') {
            match (self.peek_at(1), self.peek_at(2)) {
                (Some(':'), _) => self.pos += 2,
                (Some('P'), Some('<')) => {
                    self.pos += 3;
                    return self.named();
                }
                (Some('<'), _) => {
                    self.pos += 2;
                    return self.named();
                }
                _ => return Err(Unsupported("inline flags or look-around".into())),
            }
        }
        let inner = self.alternation()?;
        match self.bump() {
            Some(')') => Ok(inner),
            _ => Err(Unsupported("an unclosed `(`".into())),
        }
    }

    /// After `(?P<`: reads the name and skips the capture's body.
    fn named(&mut self) -> Result<Node, Unsupported> {
        let mut name = String::new();
        loop {
            match self.bump() {
                Some('>') => break,
                Some(c) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                _ => return Err(Unsupported("a bad capture name".into())),
            }
        }
        if name.is_empty() {
            return Err(Unsupported("an empty capture name".into()));
        }
        self.skip_group_body()?;
        Ok(Node::Param(name))
    }

    /// Skips to just after the `)` closing the current group, minding
    /// nested groups, escapes and character classes.
    fn skip_group_body(&mut self) -> Result<(), Unsupported> {
        let mut depth = 0usize;
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                '[' => self.skip_class()?,
                '(' => depth += 1,
                ')' if depth == 0 => return Ok(()),
                ')' => depth -= 1,
                _ => {}
            }
        }
        Err(Unsupported("an unclosed named capture".into()))
    }

    /// After `[`: skips to just after the class's closing `]`.
    fn skip_class(&mut self) -> Result<(), Unsupported> {
        if self.peek() == Some('^') {
            self.pos += 1;
        }
        // A `]` first in the class is literal.
        if self.peek() == Some(']') {
            self.pos += 1;
        }
        while let Some(c) = self.bump() {
            match c {
                '\\' => {
                    self.bump();
                }
                // A nested class: `[[:alpha:]]` or `[a-z&&[^x]]`.
                '[' => self.skip_class()?,
                ']' => return Ok(()),
                _ => {}
            }
        }
        Err(Unsupported("an unclosed `[`".into()))
    }
}

/// One OpenAPI path being built, and where an optional trailing `/` ended.
#[derive(Debug, Clone, Default)]
struct Collector {
    text: String,
    /// Length of `text` right after an optional `/` was appended; the empty
    /// path starts "just after a slash", so it is dropped too.
    slash_at: usize,
}

fn collect(node: &Node, mut acc: Vec<Collector>) -> Result<Vec<Collector>, Unsupported> {
    match node {
        Node::Empty => {}
        Node::Char(c) => acc.iter_mut().for_each(|col| col.text.push(*c)),
        Node::Param(name) => acc.iter_mut().for_each(|col| {
            col.text.push('{');
            col.text.push_str(name);
            col.text.push('}');
        }),
        Node::Concat(parts) => {
            for part in parts {
                acc = collect(part, acc)?;
            }
        }
        Node::Alternate(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(collect(branch, acc.clone())?);
                check_size(all.len())?;
            }
            acc = all;
        }
        Node::Optional(inner) => {
            let mut with = collect(inner, acc.clone())?;
            if inner.is_slash() {
                with.iter_mut()
                    .for_each(|col| col.slash_at = col.text.len());
            }
            acc.extend(with);
            check_size(acc.len())?;
        }
    }
    Ok(acc)
}

fn check_size(n: usize) -> Result<(), Unsupported> {
    if n > MAX_PATHS {
        return Err(Unsupported(format!(
            "more than {MAX_PATHS} OpenAPI paths from one pattern"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::pattern::compile;

    /// (pattern as a plugin writes it, OpenAPI paths).
    const CASES: &[(&str, &[&str])] = &[
        ("ping", &["ping"]),
        ("kv/{name}", &["kv/{name}"]),
        ("files/{path*}", &["files/{path}"]),
        ("kv/?", &["kv"]),
        ("kv/?$", &["kv"]),
        ("^config$", &["config"]),
        (r"creds/(?P<role>\w+)", &["creds/{role}"]),
        (r"creds/(?<role>[a-z(]+)", &["creds/{role}"]),
        (r"roles/(?P<name>\w(([\w.-]+)?\w)?)/?", &["roles/{name}"]),
        (
            "keys/(internal|exported|kms)",
            &["keys/internal", "keys/exported", "keys/kms"],
        ),
        ("(?:a|b)/c", &["a/c", "b/c"]),
        (r"issue(/(?P<role>.+))?", &["issue", "issue/{role}"]),
        (
            r"crl(/pem|/der|/delta(/pem|/der)?)?",
            &[
                "crl",
                "crl/pem",
                "crl/der",
                "crl/delta",
                "crl/delta/pem",
                "crl/delta/der",
            ],
        ),
        (r"users/(?P<user>[^/]+)/keys/?", &["users/{user}/keys"]),
        (r"a\.b\-c/(?:/)?", &["a.b-c/"]),
        ("tidy??", &["tid", "tidy"]),
        ("", &[]),
        ("/?", &[]),
    ];

    #[test]
    fn patterns_expand_to_openapi_paths() {
        for (pattern, want) in CASES {
            let regex = compile(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"));
            let got = expand(regex.as_str());
            let want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
            assert_eq!(
                got,
                Ok(want),
                "pattern {pattern:?} (regex {})",
                regex.as_str()
            );
        }
    }

    #[test]
    fn patterns_without_an_openapi_form_are_unsupported() {
        for pattern in [
            ".*",
            "kv/.+",
            r"x/\w+",
            "x/[ab]",
            "x{2}",
            "a*",
            "(?i)case",
            r"lit\{x\}",
            "(unclosed",
        ] {
            let got = expand(pattern);
            assert!(got.is_err(), "{pattern:?} gave {got:?}");
        }
    }

    #[test]
    fn too_many_alternatives_are_refused() {
        let pattern = "(a|b)?".repeat(8);
        assert!(expand(&pattern).is_err());
        assert_eq!(expand(&"(a|b)".repeat(3)).map(|v| v.len()), Ok(8));
    }

    #[test]
    fn parameters_are_listed_in_order() {
        assert_eq!(parameters("a/{x}/b/{y_2}"), vec!["x", "y_2"]);
        assert!(parameters("a/b").is_empty());
    }
}
