//! The conformance suite of the holds port: a hold is kept with who, why and when; holding a
//! held target changes nothing and answers the hold in place; a release lifts it once; pools and
//! users are apart; and what one server (`a`) holds, another (`b`) on the same backend sees (for
//! the in-memory adapter, `a` and `b` are one).

use std::sync::Arc;

use shotfarm_core::holds::{Hold, HoldTarget};
use shotfarm_core::ids::OwnerId;

use crate::ports::holds::HoldStore;

/// Runs the suite with `a` and `b` as two servers' views of one backend.
pub async fn conformance(a: Arc<dyn HoldStore>, b: Arc<dyn HoldStore>) {
    let pool = HoldTarget::Pool("video".into());
    // A user named like the pool: the two kinds never mix.
    let user = HoldTarget::User(OwnerId::from("video"));
    assert!(a.holds().await.expect("read").pools.is_empty());

    let first = Hold::new("ops-1", "driver upgrade").expect("valid");
    assert_eq!(a.hold(&pool, &first).await.expect("hold"), None);
    let seen = b.holds().await.expect("read");
    assert_eq!(seen.pools.get("video"), Some(&first), "b sees a's hold");
    assert!(seen.users.is_empty(), "a pool hold holds no user");

    // Held already: the first hold stays, and is answered.
    let second = Hold::new("ops-2", "another reason").expect("valid");
    assert_eq!(
        b.hold(&pool, &second).await.expect("hold"),
        Some(first.clone())
    );
    assert_eq!(
        a.holds().await.expect("read").pools.get("video"),
        Some(&first)
    );

    assert_eq!(b.hold(&user, &second).await.expect("hold"), None);
    let seen = a.holds().await.expect("read");
    assert_eq!(seen.users.get(&OwnerId::from("video")), Some(&second));
    assert_eq!(seen.pools.len(), 1);

    // A release lifts it once.
    assert_eq!(b.release(&pool).await.expect("release"), Some(first));
    assert_eq!(a.release(&pool).await.expect("release"), None);
    let seen = a.holds().await.expect("read");
    assert!(seen.pools.is_empty(), "released");
    assert_eq!(seen.users.len(), 1, "the user's hold is another's");
    assert_eq!(a.release(&user).await.expect("release"), Some(second));
    assert_eq!(b.holds().await.expect("read"), Default::default());
}
