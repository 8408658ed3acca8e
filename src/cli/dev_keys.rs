//! `serve`'s guard against the shipped development keys off this machine: with the `auth.secret`
//! and `security.master_key` of `config/default.toml` (public in the repository), anyone can mint
//! an operator token and open every sealed prompt, so a server holding them listens on loopback
//! only, unless started with `--insecure-dev-keys`.

use std::net::{SocketAddr, ToSocketAddrs};

use shotfarm_core::settings::DEFAULT_TOML;

use crate::config::Config;

/// The keys of `config` that are the shipped development ones, by their config names.
pub fn shipped_keys(config: &Config) -> Vec<&'static str> {
    // The embedded default is where the shipped values live; a parse failure would mean a
    // binary whose own default does not load, which start-up catches first.
    let Ok(shipped) = Config::from_toml_str(DEFAULT_TOML) else {
        return Vec::new();
    };
    let mut keys = Vec::new();
    if config.web.auth.secret == shipped.web.auth.secret {
        keys.push("auth.secret");
    }
    let current = &config.farm.security;
    if current.master_key.trim() == shipped.farm.security.master_key.trim() {
        keys.push("security.master_key");
    }
    keys
}

/// Refuses to serve on `bind` when it reaches beyond loopback while `config` holds shipped keys,
/// unless `insecure` (`--insecure-dev-keys`). `Ok(true)` when it serves with them anyway.
pub fn check(config: &Config, bind: &str, insecure: bool) -> anyhow::Result<bool> {
    let keys = shipped_keys(config);
    if keys.is_empty() || loopback_only(bind) {
        return Ok(false);
    }
    if insecure {
        return Ok(true);
    }
    let names = keys.join(" and ");
    anyhow::bail!(
        "refusing to listen on {bind} with the shipped development {} {names} \
         (config/default.toml, public): anyone reaching this address could mint an operator \
         token{}. Set your own (SHOTFARM_AUTH__SECRET, and SHOTFARM_SECURITY__MASTER_KEY from \
         `openssl rand -hex 32`), listen on 127.0.0.1, or pass --insecure-dev-keys to serve \
         anyway",
        if keys.len() == 1 { "key" } else { "keys" },
        if keys.contains(&"security.master_key") {
            " and open every sealed prompt"
        } else {
            ""
        }
    )
}

/// Whether every address `bind` resolves to is a loopback one (a name that does not resolve
/// counts as not: binding will fail on it anyway).
fn loopback_only(bind: &str) -> bool {
    let addrs: Vec<SocketAddr> = bind
        .to_socket_addrs()
        .map(Iterator::collect)
        .unwrap_or_default();
    !addrs.is_empty() && addrs.iter().all(|a| a.ip().is_loopback())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> Config {
        Config::from_toml_str(DEFAULT_TOML).expect("default")
    }

    #[test]
    fn shipped_keys_are_refused_off_loopback_and_named() {
        let config = shipped();
        for bind in ["127.0.0.1:8080", "[::1]:0", "localhost:0"] {
            assert!(!check(&config, bind, false).expect(bind), "{bind}");
        }
        let err = check(&config, "0.0.0.0:8080", false).expect_err("off loopback");
        let text = err.to_string();
        assert!(
            text.contains("auth.secret and security.master_key"),
            "{text}"
        );
        assert!(text.contains("--insecure-dev-keys"), "{text}");
        assert!(check(&config, "0.0.0.0:8080", true).expect("insecure"));
    }

    #[test]
    fn own_keys_serve_anywhere_and_one_shipped_key_is_named_alone() {
        let mut config = shipped();
        config.web.auth.secret = "a-secret-of-this-deployment".into();
        let err = check(&config, "0.0.0.0:0", false).expect_err("master key shipped");
        assert!(!err.to_string().contains("auth.secret"), "{err}");
        assert!(err.to_string().contains("security.master_key"), "{err}");
        config.farm.security.master_key = "11".repeat(32);
        assert!(!check(&config, "0.0.0.0:0", false).expect("own keys"));
    }
}
