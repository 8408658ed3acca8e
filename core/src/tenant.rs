//! Tenants: the organisation a caller belongs to (a token's `org` claim), which dedicated pools
//! are reserved for. A name is short and plain (`[a-z0-9_-]`, 1 to [`MAX_TENANT_LEN`] bytes) so
//! it can sit in a config list, a node's hello, a queue view and a log line as it is.

/// The longest tenant name.
pub const MAX_TENANT_LEN: usize = 32;

/// Why `name` is not a valid tenant name (the message names `what`, the key or claim it came
/// from), if it is not.
pub fn check_tenant(what: &str, name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err(format!(
            "{what} must not be empty (a tenant name, e.g. \"acme\")"
        ));
    }
    if name.len() > MAX_TENANT_LEN {
        return Err(format!(
            "{what} must be at most {MAX_TENANT_LEN} characters, got {}",
            name.len()
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_'))
    {
        return Err(format!(
            "{what} may hold only a-z, 0-9, '-' and '_', got {c:?} in {name:?}"
        ));
    }
    Ok(())
}

/// Why `tenants` is not a valid `reserved_for` list (named `key`), if it is not: every name
/// valid, none twice. An empty list reserves nothing (the node is shared).
pub fn check_reserved_for(key: &str, tenants: &[String]) -> Result<(), String> {
    for (i, t) in tenants.iter().enumerate() {
        check_tenant(&format!("{key}[{i}]"), t)?;
        if tenants[..i].contains(t) {
            return Err(format!("{key} names tenant {t:?} twice"));
        }
    }
    Ok(())
}

/// Whether a node reserved for `reserved_for` (empty: shared) may run work of `tenant`
/// (`None`: work of no tenant): a shared node runs anyone's, a reserved one only its tenants'.
pub fn serves(reserved_for: &[String], tenant: Option<&str>) -> bool {
    reserved_for.is_empty() || tenant.is_some_and(|t| reserved_for.iter().any(|r| r == t))
}

/// Whether two reservations name the same tenants (in any order): the autoscaler counts a
/// node as its pool's capacity only when it is reserved as the nodes it launches there are
/// (`[autoscaler.pools.P] reserved_for`; both empty for a shared pool), since a node reserved
/// otherwise runs other demand than the pool's.
pub fn same_reservation(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().all(|t| b.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_short_and_plain() {
        assert!(check_tenant("org", "acme-2_b").is_ok());
        let e = check_tenant("org", "").unwrap_err();
        assert!(e.starts_with("org must not be empty"), "{e}");
        let e = check_tenant("org", "Acme").unwrap_err();
        assert!(e.contains("'A'") && e.starts_with("org "), "{e}");
        let e = check_tenant("org", &"a".repeat(33)).unwrap_err();
        assert!(e.contains("at most 32"), "{e}");
        assert!(check_tenant("org", &"a".repeat(32)).is_ok());
    }

    #[test]
    fn reserved_lists_refuse_blanks_and_duplicates() {
        let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(check_reserved_for("k", &list(&["acme", "beta"])).is_ok());
        assert!(check_reserved_for("k", &[]).is_ok());
        let e =
            check_reserved_for("node_groups[0].reserved_for", &list(&["acme", ""])).unwrap_err();
        assert!(
            e.starts_with("node_groups[0].reserved_for[1] must not be empty"),
            "{e}"
        );
        let e = check_reserved_for("k", &list(&["acme", "acme"])).unwrap_err();
        assert_eq!(e, "k names tenant \"acme\" twice");
    }

    #[test]
    fn shared_nodes_serve_everyone_reserved_ones_their_tenants() {
        let acme = vec!["acme".to_string()];
        assert!(serves(&[], None));
        assert!(serves(&[], Some("beta")));
        assert!(serves(&acme, Some("acme")));
        assert!(!serves(&acme, Some("beta")));
        assert!(!serves(&acme, None));
    }

    #[test]
    fn reservations_are_the_same_whatever_their_order() {
        let list = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(same_reservation(&[], &[]));
        assert!(same_reservation(&list(&["a", "b"]), &list(&["b", "a"])));
        assert!(!same_reservation(&list(&["a"]), &[]));
        assert!(!same_reservation(&[], &list(&["a"])));
        assert!(!same_reservation(&list(&["a", "b"]), &list(&["a", "c"])));
    }
}
