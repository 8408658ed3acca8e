//! Key rotation: every video's sealed text re-sealed under the current master key, online (each
//! field is compare-and-set by [`Store::rewrite_text`], so servers keep writing meanwhile).

use crate::ports::{Store, StoreError, VideoQuery};
use shotfarm_core::ids::VideoId;
use shotfarm_core::keyring::{looks_sealed, Keyring};

/// Videos listed per page while walking the store.
const PAGE: usize = 200;

/// What a rekey pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RekeyReport {
    /// Videos visited (every video, finished ones too).
    pub videos: usize,
    /// Videos with at least one field re-sealed.
    pub videos_resealed: usize,
    /// Fields (titles, prompts) re-sealed under the current key, or sealed for the first time
    /// when they were stored before sealing existed.
    pub fields_resealed: usize,
    /// Fields already sealed under the current key.
    pub fields_current: usize,
    /// Videos whose text did not open under any configured key, with why (left as they are).
    pub failed: Vec<(VideoId, String)>,
}

/// Re-seals every video's title and prompts in `store` (a bare adapter: it holds sealed text)
/// under `keys`' current master key. Idempotent: a second pass re-seals nothing.
pub async fn rekey(store: &dyn Store, keys: &Keyring) -> Result<RekeyReport, StoreError> {
    let mut report = RekeyReport::default();
    let mut cursor = None;
    loop {
        let page = store
            .list_videos(VideoQuery {
                owner: None,
                state: None,
                limit: PAGE,
                cursor,
            })
            .await?;
        for video in page.videos {
            report.videos += 1;
            let owner = video.owner.clone();
            let map = move |text: &str| {
                if !looks_sealed(text) {
                    return Ok(Some(keys.seal(&owner, text)));
                }
                keys.reseal(&owner, text).map_err(|e| e.to_string())
            };
            match store.rewrite_text(&video.id, &map).await {
                Ok(done) => {
                    report.videos_resealed += usize::from(done.rewritten > 0);
                    report.fields_resealed += done.rewritten;
                    report.fields_current += done.unchanged;
                }
                Err(StoreError::Unreadable { video, reason }) => {
                    report.failed.push((video, reason));
                }
                // Deleted meanwhile: nothing left to re-seal.
                Err(StoreError::NoSuchVideo(_)) => {}
                Err(e) => return Err(e),
            }
        }
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(report),
        }
    }
}
