//! pachd addresses in Pachyderm's own forms, as `pachctl` reads them
//! (`grpcutil.ParsePachdAddress`): `host:port`, `grpc://host:port`,
//! `grpcs://host:port` (TLS), and the aliases `http://` and `https://`. The
//! port defaults to 30650, pachd's NodePort. Unix sockets (`unix://`) are
//! refused: the plugin reaches pachd over TCP.

use std::fmt;
use std::net::IpAddr;

/// pachd's default port (its Kubernetes NodePort).
pub const DEFAULT_PORT: u16 = 30650;

/// A parsed pachd address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PachdAddress {
    /// Whether the connection uses TLS (`grpcs://`, `https://`).
    pub tls: bool,
    /// The host name or IP address (IPv6 without brackets).
    pub host: String,
    /// The TCP port.
    pub port: u16,
}

impl PachdAddress {
    /// Parses an address as `pachctl` does. The error says what is wrong
    /// without repeating the text (it could hold a pasted credential).
    pub fn parse(text: &str) -> Result<PachdAddress, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err(
                "pachd_address is empty; e.g. 127.0.0.1:30650 or grpcs://pachd.example.com".into(),
            );
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((scheme, rest)) => (scheme.to_ascii_lowercase(), rest),
            None => ("grpc".to_owned(), text),
        };
        let tls = match scheme.as_str() {
            "grpc" | "http" => false,
            "grpcs" | "https" => true,
            "unix" => {
                return Err(
                    "pachd_address: unix sockets are not supported; give pachd's TCP address"
                        .into(),
                );
            }
            _ => {
                return Err(
                    "pachd_address has an unknown scheme; use host:port, grpc:// or grpcs://"
                        .into(),
                );
            }
        };
        let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(end);
        match tail.chars().next() {
            None => {}
            Some('/') if tail == "/" => {}
            Some('/') => return Err("pachd_address should not include a path".into()),
            Some('?') => return Err("pachd_address should not include a query string".into()),
            Some(_) => return Err("pachd_address should not include a fragment".into()),
        }
        if authority.contains('@') {
            return Err("pachd_address should not include login credentials".into());
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(0) | Err(_) => {
                    return Err("pachd_address has an invalid port (1 to 65535)".into());
                }
                Ok(port) => port,
            },
        };
        if host.is_empty() {
            return Err("pachd_address has no host".into());
        }
        let valid_name = host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !valid_name && host.parse::<IpAddr>().is_err() {
            return Err("pachd_address has an invalid host name".into());
        }
        Ok(PachdAddress {
            tls,
            host: host.to_owned(),
            port,
        })
    }

    /// The host as a URI authority needs it (IPv6 in brackets).
    pub fn uri_host(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        }
    }
}

/// `host[:port]` or `[v6][:port]`.
fn split_host_port(authority: &str) -> Result<(&str, Option<&str>), String> {
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or("pachd_address has an unclosed '[' around an IPv6 address")?;
        return match after {
            "" => Ok((host, None)),
            _ => match after.strip_prefix(':') {
                Some(port) => Ok((host, Some(port))),
                None => Err("pachd_address: expected :port after the IPv6 address".into()),
            },
        };
    }
    match authority.split_once(':') {
        Some((_, port)) if port.contains(':') => {
            Err("pachd_address: write an IPv6 address in brackets, e.g. [::1]:30650".into())
        }
        Some((host, port)) => Ok((host, Some(port))),
        None => Ok((authority, None)),
    }
}

/// The fully qualified form, as `pachctl` prints it: `grpc://host:port` or
/// `grpcs://host:port`.
impl fmt::Display for PachdAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "grpcs" } else { "grpc" };
        write!(f, "{scheme}://{}:{}", self.uri_host(), self.port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn address_table() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("127.0.0.1:30650", Ok("grpc://127.0.0.1:30650")),
            ("pachd", Ok("grpc://pachd:30650")),
            ("  pachd.local:650 ", Ok("grpc://pachd.local:650")),
            ("grpc://pachd:1", Ok("grpc://pachd:1")),
            (
                "GRPCS://pachd.example.com",
                Ok("grpcs://pachd.example.com:30650"),
            ),
            ("http://pachd:80/", Ok("grpc://pachd:80")),
            ("https://pachd", Ok("grpcs://pachd:30650")),
            ("[::1]:30651", Ok("grpc://[::1]:30651")),
            ("grpcs://[fe80::1]", Ok("grpcs://[fe80::1]:30650")),
            ("", Err("empty")),
            ("unix:///run/pachd.sock", Err("unix sockets")),
            ("ftp://pachd", Err("unknown scheme")),
            ("grpc://pachd/api", Err("path")),
            ("pachd:30650?x=1", Err("query")),
            ("pachd#frag", Err("fragment")),
            ("grpc://root:s3cret@pachd", Err("credentials")),
            ("pachd:0", Err("invalid port")),
            ("pachd:70000", Err("invalid port")),
            ("pachd:http", Err("invalid port")),
            (":30650", Err("no host")),
            ("pa chd", Err("invalid host")),
            ("::1", Err("brackets")),
            ("[::1", Err("unclosed")),
            ("[::1]x", Err("expected :port")),
        ];
        for (input, want) in cases {
            match (PachdAddress::parse(input), want) {
                (Ok(got), Ok(want)) => assert_eq!(got.to_string(), *want, "{input}"),
                (Err(got), Err(fragment)) => {
                    assert!(got.contains(fragment), "{input}: {got}");
                    assert!(!got.contains("s3cret"), "{got}");
                }
                (got, want) => panic!("{input}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn parts_are_kept_for_dialing() {
        let address = PachdAddress::parse("grpcs://[::1]:443").unwrap();
        assert!(address.tls);
        assert_eq!(address.host, "::1");
        assert_eq!(address.uri_host(), "[::1]");
        assert_eq!(address.port, 443);
    }
}
