//! Command-line arguments a plugin accepts. OpenBao passes no environment
//! of the operator's choosing to plugins, only arguments
//! (`bao plugin register -args=--log-level=debug ...`), so settings an
//! operator may need live here.

use std::str::FromStr;

use tracing_subscriber::filter::LevelFilter;

/// Which socket the plugin listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Network {
    /// A unix socket in a temporary folder, falling back to TCP (default).
    #[default]
    Unix,
    /// TCP on 127.0.0.1 in the host's port range.
    Tcp,
}

/// The parsed arguments.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Args {
    /// `--version`: print the version and exit.
    pub print_version: bool,
    /// `--check[=<plugin directory>]`: print what would stop the plugin
    /// from starting here (from that directory, default its own), and exit.
    pub check: bool,
    /// The directory `--check=<dir>` names.
    pub check_dir: Option<std::path::PathBuf>,
    /// `--log-level=<trace|debug|info|warn|error|off>`.
    pub log_level: Option<LevelFilter>,
    /// `--network=<unix|tcp>`.
    pub network: Network,
}

/// The usage text shown for a bad argument.
pub const USAGE: &str = "arguments: --version | --check[=<plugin directory>] | \
     --log-level=<trace|debug|info|warn|error|off> | --network=<unix|tcp>";

impl Args {
    /// Parses `args` (without the program name).
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Self, String> {
        let mut out = Self::default();
        for arg in args {
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (arg.as_str(), None),
            };
            match (name, value) {
                ("--version" | "-version", None) => out.print_version = true,
                ("--check" | "-check", None) => out.check = true,
                ("--check" | "-check", Some(dir)) => {
                    out.check = true;
                    out.check_dir = Some(dir.into());
                }
                ("--log-level" | "-log-level", Some(v)) => {
                    out.log_level = Some(
                        LevelFilter::from_str(v.trim())
                            .map_err(|_| format!("unknown log level {v:?}; {USAGE}"))?,
                    );
                }
                ("--network" | "-network", Some("unix")) => out.network = Network::Unix,
                ("--network" | "-network", Some("tcp")) => out.network = Network::Tcp,
                _ => return Err(format!("unknown argument {arg:?}; {USAGE}")),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, String> {
        Args::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn table() {
        assert_eq!(parse(&[]), Ok(Args::default()));
        assert!(parse(&["--version"]).unwrap().print_version);
        assert!(parse(&["--check"]).unwrap().check);
        let with_dir = parse(&["--check=/var/lib/plugins"]).unwrap();
        assert!(with_dir.check);
        assert_eq!(
            with_dir.check_dir.as_deref(),
            Some(std::path::Path::new("/var/lib/plugins"))
        );
        assert_eq!(
            parse(&["--log-level=debug"]).unwrap().log_level,
            Some(LevelFilter::DEBUG)
        );
        assert_eq!(
            parse(&["-log-level=TRACE"]).unwrap().log_level,
            Some(LevelFilter::TRACE)
        );
        assert_eq!(parse(&["--network=tcp"]).unwrap().network, Network::Tcp);
        let err = parse(&["--log-level=loud"]).unwrap_err();
        assert!(err.contains("loud") && err.contains("--log-level"), "{err}");
        let err = parse(&["--frobnicate"]).unwrap_err();
        assert!(
            err.contains("--frobnicate") && err.contains("--network"),
            "{err}"
        );
        assert!(parse(&["--network=udp"]).is_err());
    }
}
