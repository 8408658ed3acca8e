//! Data protection at the store: [`SealedStore`], the `Store` decorator that seals titles and
//! prompts on the way in and opens them on the way out with the core's
//! [`Keyring`](shotfarm_core::keyring::Keyring), and [`rekey`], which re-seals stored text
//! under the current master key.

mod rekey;
mod store;

pub use rekey::{rekey, RekeyReport};
pub use store::SealedStore;

#[cfg(test)]
mod store_tests;
