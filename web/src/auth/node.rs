//! What a node token binds its node to: the pool it serves and, where the token says, whether
//! it is a spot instance. Enrollment copies both from the enrollment token, so a pod of one pool
//! cannot announce itself as a node of another (and be sent that pool's prompts); the agent
//! connection refuses a hello that disagrees with the token (close 1008).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{now_unix, AuthError, Claims, HasSub, Role, TokenIssuer};

/// The claims of a node token: [`Claims`] plus the optional binding (`pool`, `spot`). A token
/// without them (minted by `shotfarm token --node ID` without `--pool`) binds nothing, and its
/// node announces its own pool as before.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeClaims {
    pub sub: String,
    pub exp: u64,
    #[serde(default)]
    pub iat: u64,
    pub role: Role,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spot: Option<bool>,
}

impl HasSub for NodeClaims {
    fn sub(&self) -> &str {
        &self.sub
    }
}

impl NodeClaims {
    /// The expiry as a timestamp (the same rule as [`Claims::expires_at`]).
    pub fn expires_at(&self) -> chrono::DateTime<chrono::Utc> {
        self.as_claims().expires_at()
    }

    fn as_claims(&self) -> Claims {
        Claims {
            sub: self.sub.clone(),
            exp: self.exp,
            iat: self.iat,
            role: self.role,
            plan: None,
            org: None,
        }
    }

    /// What the token binds its node to.
    pub fn binding(&self) -> NodeBinding {
        NodeBinding {
            pool: self.pool.clone(),
            spot: self.spot,
        }
    }
}

/// The pool and spot-ness a node token allows its hello to announce (`None`: any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeBinding {
    pub pool: Option<String>,
    pub spot: Option<bool>,
}

impl NodeBinding {
    /// Why a hello announcing `pool` and `spot` is not this token's node, if it is not.
    pub fn refuses(&self, pool: &str, spot: bool) -> Option<String> {
        if let Some(bound) = self.pool.as_deref().filter(|b| *b != pool) {
            return Some(format!(
                "it announces pool {pool} but the node token is for pool {bound}"
            ));
        }
        match self.spot {
            Some(bound) if bound != spot => Some(format!(
                "it announces a {} node but the node token is for a {} node",
                kind(spot),
                kind(bound)
            )),
            _ => None,
        }
    }
}

fn kind(spot: bool) -> &'static str {
    if spot {
        "spot"
    } else {
        "on-demand"
    }
}

impl TokenIssuer {
    /// A node token for `node`, bound to `pool` and `spot` where given, valid for `ttl`.
    pub fn mint_node(
        &self,
        node: &str,
        binding: &NodeBinding,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let iat = now_unix();
        self.mint_node_claims(&NodeClaims {
            sub: node.to_owned(),
            exp: iat.saturating_add(ttl.as_secs()),
            iat,
            role: Role::Node,
            pool: binding.pool.clone(),
            spot: binding.spot,
        })
    }

    /// The token of exactly `claims`.
    pub fn mint_node_claims(&self, claims: &NodeClaims) -> Result<String, AuthError> {
        self.mint_claims(claims)
    }

    /// Checks signature, algorithm and expiry, and reads the claims with the node binding (the
    /// role is the caller's to judge).
    pub fn verify_node(&self, token: &str) -> Result<NodeClaims, AuthError> {
        self.decode::<NodeClaims>(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_binding_refuses_another_pool_or_kind_by_name() {
        let open = NodeBinding::default();
        assert_eq!(open.refuses("llm", true), None, "an unbound token");
        let video = NodeBinding {
            pool: Some("video".into()),
            spot: None,
        };
        assert_eq!(video.refuses("video", true), None);
        let why = video.refuses("llm", false).expect("another pool");
        assert!(why.contains("llm") && why.contains("video"), "{why}");
        let spot = NodeBinding {
            pool: Some("video".into()),
            spot: Some(true),
        };
        assert_eq!(spot.refuses("video", true), None);
        let why = spot.refuses("video", false).expect("on demand");
        assert!(why.contains("on-demand") && why.contains("spot"), "{why}");
    }

    #[test]
    fn node_tokens_carry_their_binding_and_older_ones_bind_nothing() {
        let issuer = TokenIssuer::new("a-test-secret-of-some-length");
        let bound = NodeBinding {
            pool: Some("video".into()),
            spot: Some(false),
        };
        let token = issuer
            .mint_node("n1", &bound, Duration::from_secs(60))
            .expect("mint");
        let claims = issuer.verify_node(&token).expect("verify");
        assert_eq!((claims.sub.as_str(), claims.role), ("n1", Role::Node));
        assert_eq!(claims.binding(), bound);
        let plain = issuer
            .mint("n2", Role::Node, Duration::from_secs(60))
            .expect("mint");
        let claims = issuer.verify_node(&plain).expect("verify");
        assert_eq!(claims.binding(), NodeBinding::default());
    }
}
