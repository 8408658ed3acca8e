//! The artifact store's conformance suite on a directory, in memory, and on a real
//! S3-compatible server (s3s-fs), plus what only an object store adds: presigned URLs, and a
//! store that is down answering `Unavailable` within the timeout.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;

use super::*;
use crate::testkit::S3Server;
use shotfarm_actors::testkit::artifacts::run_all;
use shotfarm_core::settings::ArtifactSettings;

fn settings(url: String) -> ArtifactSettings {
    ArtifactSettings {
        url: Some(url),
        timeout: Duration::from_secs(5),
        ..ArtifactSettings::default()
    }
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("shotfarm-objects-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[actix_rt::test]
async fn a_directory_conforms() {
    let dir = temp_dir("file");
    let store = open(&settings(format!("file://{}", dir.display())), &dir).expect("open");
    assert!(store
        .presign(Access::Get, "clips/x.gif", Duration::from_secs(60))
        .await
        .expect("presign")
        .is_none());
    run_all(Arc::new(store), "file").await;
    // Files land under the directory by key.
    assert!(dir.join("clips/shot_file_2-a2.mp4").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_rt::test]
async fn unset_is_a_directory_on_the_data_dir() {
    let dir = temp_dir("default");
    let store = open(&ArtifactSettings::default(), &dir).expect("open");
    assert!(
        store.describe().starts_with("file:///"),
        "{}",
        store.describe()
    );
    store
        .put(
            "clips/shot_d_0-a1.gif",
            "image/gif",
            Bytes::from_static(b"GIF89a"),
        )
        .await
        .expect("put");
    assert!(dir.join("clips/shot_d_0-a1.gif").exists());
    let _ = std::fs::remove_dir_all(dir);
}

#[actix_rt::test]
async fn memory_conforms() {
    let store = open(&settings("memory:///".into()), std::path::Path::new("data")).expect("open");
    run_all(Arc::new(store), "inmem").await;
}

#[actix_rt::test]
async fn an_s3_compatible_server_conforms_and_presigns() {
    let s3 = S3Server::start();
    let store = open(
        &ArtifactSettings {
            options: s3.options(),
            ..settings(s3.url("farm-a"))
        },
        std::path::Path::new("data"),
    )
    .expect("open");
    let store = Arc::new(store);
    run_all(store.clone(), "s3").await;

    // A presigned URL reads the object with no credentials, Range included...
    let key = "clips/shot_s3_0-a1.gif";
    let client = reqwest::Client::new();
    let url = store
        .presign(Access::Get, key, Duration::from_secs(60))
        .await
        .expect("presign")
        .expect("s3 presigns");
    let body: Vec<u8> = (0..=255u8).cycle().take(1000).collect();
    let got = client
        .get(&url)
        .header("range", "bytes=10-19")
        .send()
        .await
        .expect("get");
    assert_eq!(got.status().as_u16(), 206);
    assert_eq!(
        got.bytes().await.expect("body").to_vec(),
        body[10..20].to_vec()
    );
    // ...and a presigned PUT writes one, with its content type.
    let put = store
        .presign(
            Access::Put,
            "videos/vid_s3/poster.png",
            Duration::from_secs(60),
        )
        .await
        .expect("presign")
        .expect("s3 presigns");
    let sent = client
        .put(&put)
        .header("content-type", "image/png")
        .body("PNG!")
        .send()
        .await
        .expect("put");
    assert!(sent.status().is_success(), "{}", sent.status());
    let got = store
        .get("videos/vid_s3/poster.png", None)
        .await
        .expect("get")
        .expect("uploaded");
    assert_eq!(got.content_type, "image/png");
    assert_eq!(&got.bytes().await.expect("body")[..], b"PNG!");
}

#[actix_rt::test]
async fn a_store_that_is_down_is_unavailable_not_a_hang() {
    let mut s3 = S3Server::start();
    let store = open(
        &ArtifactSettings {
            options: s3.options(),
            timeout: Duration::from_secs(2),
            ..settings(s3.url("down"))
        },
        std::path::Path::new("data"),
    )
    .expect("open");
    s3.stop();
    let err = store
        .put(
            "checkpoints/shot_x_0/000001.latent",
            "application/octet-stream",
            Bytes::from_static(b"x"),
        )
        .await
        .expect_err("down");
    assert!(matches!(err, ArtifactError::Unavailable(_)), "{err}");
    assert!(matches!(
        store.get("clips/shot_x_0-a1.gif", None).await,
        Err(ArtifactError::Unavailable(_))
    ));
}
