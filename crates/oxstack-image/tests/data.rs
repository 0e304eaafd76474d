//! The image data path: streamed uploads, limits, interruption, recovery.

#![allow(clippy::unwrap_used)] // tests fail loudly by design

use bytes::Bytes;
use oxstack_image::{ImageError, Images, Viewer, blank};
use oxstack_store::Store;

const OWNER: Viewer<'static> = Viewer {
    project_id: "p1",
    is_admin: false,
    is_member: true,
};
const OTHER: Viewer<'static> = Viewer {
    project_id: "p2",
    is_admin: false,
    is_member: true,
};
/// A reader of the owner's project.
const READER: Viewer<'static> = Viewer {
    project_id: "p1",
    is_admin: false,
    is_member: false,
};

async fn service(max: u64) -> (tempfile::TempDir, Images) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}/db.sqlite", dir.path().display()))
        .await
        .unwrap();
    let images = Images::open(store, &dir.path().join("images"), "node1", max)
        .await
        .unwrap();
    (dir, images)
}

fn chunks(
    parts: &[&'static [u8]],
) -> impl futures_util::Stream<Item = Result<Bytes, String>> + Unpin {
    futures_util::stream::iter(
        parts
            .iter()
            .map(|p| Ok(Bytes::from_static(p)))
            .collect::<Vec<_>>(),
    )
}

#[tokio::test]
async fn upload_hashes_and_activates_then_downloads() {
    let (_dir, images) = service(1 << 20).await;
    let image = images.create(OWNER, blank("i1".into())).await.unwrap();
    assert_eq!(
        (image.row.status.as_str(), image.row.owner.as_deref()),
        ("queued", Some("p1"))
    );
    let active = images
        .upload(OWNER, "i1", chunks(&[b"hello ", b"world"]))
        .await
        .unwrap();
    assert_eq!(active.row.status, "active");
    assert_eq!(active.row.size, Some(11));
    assert_eq!(
        active.row.checksum.as_deref(),
        Some("5eb63bbbe01eeed093cb22bb8f5acdc3")
    );
    assert_eq!(active.row.os_hash_algo.as_deref(), Some("sha512"));
    assert!(
        active
            .row
            .os_hash_value
            .as_deref()
            .unwrap()
            .starts_with("309ecc489c12d6eb4cc40f50c902f2b4")
    );
    let (_, file) = images.download(OWNER, "i1").await.unwrap();
    let mut data = Vec::new();
    tokio::io::AsyncReadExt::read_to_end(&mut file.unwrap(), &mut data)
        .await
        .unwrap();
    assert_eq!(data, b"hello world");
    assert!(matches!(
        images.upload(OWNER, "i1", chunks(&[b"again"])).await,
        Err(ImageError::Conflict(_))
    ));
}

#[tokio::test]
async fn oversized_and_interrupted_uploads_leave_nothing() {
    let (dir, images) = service(8).await;
    images.create(OWNER, blank("big".into())).await.unwrap();
    let err = images
        .upload(OWNER, "big", chunks(&[b"12345", b"67890"]))
        .await
        .unwrap_err();
    assert!(matches!(err, ImageError::TooLarge(_)), "{err}");
    assert_eq!(images.get(OWNER, "big").await.unwrap().row.status, "queued");

    let broken = futures_util::stream::iter(vec![
        Ok(Bytes::from_static(b"123")),
        Err("connection reset".to_owned()),
    ]);
    assert!(matches!(
        images.upload(OWNER, "big", broken).await,
        Err(ImageError::Interrupted(_))
    ));
    let image = images.get(OWNER, "big").await.unwrap();
    assert_eq!(
        (image.row.status.as_str(), image.row.size),
        ("queued", None)
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("images/.uploads/node1"))
        .unwrap()
        .collect();
    assert!(leftovers.is_empty(), "no partial data is kept");
    // A retry works.
    assert_eq!(
        images
            .upload(OWNER, "big", chunks(&[b"1234"]))
            .await
            .unwrap()
            .row
            .size,
        Some(4)
    );
}

#[tokio::test]
async fn restart_recovers_uploads_cut_by_a_crash() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/db.sqlite", dir.path().display());
    let store = Store::connect(&url).await.unwrap();
    let images = Images::open(store.clone(), &dir.path().join("images"), "node1", 1 << 20)
        .await
        .unwrap();
    images.create(OWNER, blank("cut".into())).await.unwrap();
    // Simulate a crash mid-upload: status `saving`, a partial file on disk.
    assert!(
        store
            .images()
            .transition("cut", "queued", "saving", 1)
            .await
            .unwrap()
    );
    let partial = dir.path().join("images/.uploads/node1/cut.0f3c.partial");
    std::fs::write(&partial, b"half").unwrap();
    // Another node of the cloud is uploading into the same directory: its
    // upload is not this node's to recover.
    images
        .create(OWNER, blank("elsewhere".into()))
        .await
        .unwrap();
    assert!(
        store
            .images()
            .transition("elsewhere", "queued", "saving", 1)
            .await
            .unwrap()
    );
    let theirs = dir.path().join("images/.uploads/node2");
    std::fs::create_dir_all(&theirs).unwrap();
    let theirs = theirs.join("elsewhere.77aa.partial");
    std::fs::write(&theirs, b"in progress").unwrap();
    // And one cut after its complete data was renamed into place, before
    // the image recorded it.
    images.create(OWNER, blank("stored".into())).await.unwrap();
    let repo = store.images();
    assert!(
        repo.transition("stored", "queued", "saving", 1)
            .await
            .unwrap()
    );
    std::fs::write(dir.path().join("images/stored"), b"whole").unwrap();

    let images = Images::open(store, &dir.path().join("images"), "node1", 1 << 20)
        .await
        .unwrap();
    assert_eq!(images.get(OWNER, "cut").await.unwrap().row.status, "queued");
    assert!(!partial.exists());
    let elsewhere = images.get(OWNER, "elsewhere").await.unwrap().row;
    assert_eq!(elsewhere.status, "saving");
    assert!(theirs.exists());
    let stored = images.get(OWNER, "stored").await.unwrap().row;
    assert_eq!(stored.status, "active");
    assert_eq!(stored.size, Some(5));
    // md5("whole")
    assert_eq!(
        stored.checksum.as_deref(),
        Some("356c9ee60e9da05301adc3bd96f6b383")
    );
}

#[tokio::test]
async fn visibility_ownership_and_protection() {
    let (_dir, images) = service(1 << 20).await;
    let mut private = blank("priv".into());
    private.row.visibility = "private".into();
    images.create(OWNER, private).await.unwrap();
    assert!(
        matches!(images.get(OTHER, "priv").await, Err(ImageError::NotFound(m)) if m == "No image found with ID priv")
    );
    let mut public = blank("pub".into());
    public.row.visibility = "public".into();
    assert!(
        matches!(
            images.create(OWNER, public.clone()).await,
            Err(ImageError::Forbidden(_))
        ),
        "publicize is admin-only"
    );
    images
        .create(
            Viewer {
                project_id: "p1",
                is_admin: true,
                is_member: true,
            },
            public,
        )
        .await
        .unwrap();
    assert!(images.get(OTHER, "pub").await.is_ok());
    assert!(matches!(
        images.delete(OTHER, "pub").await,
        Err(ImageError::Forbidden(_))
    ));
    images
        .update(OWNER, "priv", |i| {
            i.row.protected = true;
            Ok(())
        })
        .await
        .unwrap();
    assert!(
        matches!(images.delete(OWNER, "priv").await, Err(ImageError::Forbidden(m)) if m == "Image priv is protected and cannot be deleted.")
    );
    images
        .update(OWNER, "priv", |i| {
            i.row.protected = false;
            Ok(())
        })
        .await
        .unwrap();
    images.delete(OWNER, "priv").await.unwrap();
    assert!(matches!(
        images.get(OWNER, "priv").await,
        Err(ImageError::NotFound(_))
    ));
    assert!(matches!(
        images.create(OWNER, blank("pub".into())).await,
        Err(ImageError::Conflict(_))
    ));
}

#[tokio::test]
async fn cirros_is_bootstrapped_once() {
    let (_dir, images) = service(1 << 30).await;
    images.bootstrap_cirros("admin-project").await.unwrap();
    images.bootstrap_cirros("admin-project").await.unwrap();
    let all = images
        .list(&oxstack_image::Query {
            scope: OTHER.scope(),
            visibility: None,
            name: Some("cirros".into()),
            status: None,
            owner: None,
            disk_format: None,
            container_format: None,
            tags: vec![],
            protected: None,
            os_hidden: None,
            size_min: None,
            size_max: None,
            properties: Default::default(),
            id: None,
            times: vec![],
            sort: vec![],
            limit: None,
            marker: None,
        })
        .await
        .unwrap();
    assert_eq!(all.len(), 1);
    let cirros = &all[0].row;
    assert_eq!(
        (
            cirros.status.as_str(),
            cirros.visibility.as_str(),
            cirros.disk_format.as_deref()
        ),
        ("active", "public", Some("qcow2"))
    );
    assert_eq!(cirros.virtual_size, Some(112 * 1024 * 1024));
}

#[tokio::test]
async fn a_projects_readers_see_its_images_but_change_nothing() {
    let (_dir, images) = service(1 << 20).await;
    let image = images.create(OWNER, blank("r1".into())).await.unwrap();
    let id = image.row.id.clone();
    assert_eq!(images.get(READER, &id).await.unwrap().row.id, id);
    let refused = |e: ImageError, action: &str| {
        assert!(
            matches!(&e, ImageError::Forbidden(m) if m == &format!("You are not authorized to complete {action} action.")),
            "{e:?}"
        );
    };
    refused(
        images.create(READER, blank("r2".into())).await.unwrap_err(),
        "add_image",
    );
    refused(
        images
            .update(READER, &id, |i| {
                i.row.name = Some("renamed".into());
                Ok(())
            })
            .await
            .unwrap_err(),
        "modify_image",
    );
    refused(
        images.delete(READER, &id).await.unwrap_err(),
        "delete_image",
    );
    assert_eq!(images.get(OWNER, &id).await.unwrap().row.name, None);
}
