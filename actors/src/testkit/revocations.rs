//! The conformance suite of the revocations port: a revocation covers tokens issued at or before
//! it and none after; it only moves forward; nodes are apart; and what one server (`a`)
//! revokes, another (`b`) on the same backend sees (for the in-memory adapter, `a` and `b` are
//! one).

use std::sync::Arc;

use shotfarm_core::ids::NodeId;

use crate::ports::Revocations;

/// Runs the suite with `a` and `b` as two servers' views of one backend.
pub async fn conformance(a: Arc<dyn Revocations>, b: Arc<dyn Revocations>) {
    let (n1, n2) = (NodeId::from("gpu-box-1"), NodeId::from("gpu-box-2"));
    assert_eq!(a.revoked_at(&n1).await.expect("read"), None);
    assert!(
        !a.is_revoked(&n1, 0).await.expect("read"),
        "nothing revoked yet"
    );

    a.revoke(&n1, 1_000).await.expect("revoke");
    for (iat, revoked) in [(0, true), (999, true), (1_000, true), (1_001, false)] {
        assert_eq!(
            a.is_revoked(&n1, iat).await.expect("read"),
            revoked,
            "iat {iat}"
        );
        assert_eq!(
            b.is_revoked(&n1, iat).await.expect("read"),
            revoked,
            "b, iat {iat}"
        );
    }
    assert!(!b.is_revoked(&n2, 0).await.expect("read"), "another node");

    // Only forward: an older revocation (another server's clock behind) changes nothing.
    b.revoke(&n1, 900).await.expect("revoke");
    assert_eq!(a.revoked_at(&n1).await.expect("read"), Some(1_000));
    b.revoke(&n1, 2_000).await.expect("revoke");
    assert_eq!(a.revoked_at(&n1).await.expect("read"), Some(2_000));
    assert!(a.is_revoked(&n1, 1_001).await.expect("read"));
}
