//! The `--server` URL an agent is given, taken apart: what `shotfarm agent` dials and where
//! enrollment asks, in the clear (`http://`, `ws://`) or over TLS (`https://`, `wss://`).

use anyhow::bail;

/// A server URL: whether it speaks TLS, its host (and port) and its path (without the leading
/// `/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerUrl {
    pub tls: bool,
    pub host: String,
    pub path: String,
}

impl ServerUrl {
    /// Parses `http://`, `https://`, `ws://` or `wss://` URLs; anything else names what it
    /// wants.
    pub fn parse(server: &str) -> anyhow::Result<Self> {
        let s = server.trim().trim_end_matches('/');
        let (tls, rest) = match s.split_once("://") {
            Some(("http" | "ws", rest)) => (false, rest),
            Some(("https" | "wss", rest)) => (true, rest),
            _ => bail!(
                "--server must be an http:// or https:// URL, e.g. https://farm.example.com or \
                 http://farm.internal:8080"
            ),
        };
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        if host.is_empty() {
            bail!("--server {server:?} names no host");
        }
        Ok(Self {
            tls,
            host: host.to_owned(),
            path: path.to_owned(),
        })
    }

    /// The websocket URL of `path` (which starts with `/`) on this server.
    pub fn ws(&self, path: &str) -> String {
        let scheme = if self.tls { "wss" } else { "ws" };
        format!("{scheme}://{}{path}", self.host)
    }

    /// The HTTP URL of `path` (which starts with `/`) on this server.
    pub fn http(&self, path: &str) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.host)
    }

    /// Whether the host is this machine: the one place plaintext is not worth a warning.
    pub fn is_loopback(&self) -> bool {
        let name = match self.host.rsplit_once(':') {
            // `[::1]:8080` and `host:8080`; a bare `::1` has no brackets and no port to strip.
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => self.host.as_str(),
        };
        let name = name.trim_start_matches('[').trim_end_matches(']');
        name.eq_ignore_ascii_case("localhost")
            || name
                .parse::<std::net::IpAddr>()
                .is_ok_and(|ip| ip.is_loopback())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_say_whether_the_server_speaks_tls() {
        let plain = ServerUrl::parse("http://farm.internal:8080/").unwrap();
        assert!(!plain.tls);
        assert_eq!(plain.ws("/x"), "ws://farm.internal:8080/x");
        assert_eq!(plain.http("/x"), "http://farm.internal:8080/x");
        let tls = ServerUrl::parse("wss://farm.example.com/api/v1/agents/connect").unwrap();
        assert!(tls.tls);
        assert_eq!(tls.path, "api/v1/agents/connect");
        assert_eq!(tls.http("/x"), "https://farm.example.com/x");
        assert!(ServerUrl::parse("https://").is_err());
        let no_scheme = ServerUrl::parse("farm:8080").unwrap_err().to_string();
        assert!(no_scheme.contains("https://"), "{no_scheme}");
    }

    #[test]
    fn only_this_machine_is_loopback() {
        for host in [
            "http://127.0.0.1:8080",
            "http://localhost",
            "http://[::1]:80",
        ] {
            assert!(ServerUrl::parse(host).unwrap().is_loopback(), "{host}");
        }
        for host in ["http://10.0.0.5:80", "http://farm.internal:8080"] {
            assert!(!ServerUrl::parse(host).unwrap().is_loopback(), "{host}");
        }
    }
}
