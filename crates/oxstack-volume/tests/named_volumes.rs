//! A volume made under an id its maker chose (Nova's build making a
//! server's volumes): asking again answers the same volume, and one whose
//! creation a crash cut is finished, never made twice.

use oxstack_image::Images;
use oxstack_store::Store;
use oxstack_volume::{BlockStorage, Caller, Settings, Source, VolumeSpec};

const ID: &str = "6f1c9a52-8e0b-5d1c-9a0e-3f4b2c1d0e9f";

fn owner() -> Caller {
    Caller {
        project_id: "p1".into(),
        user_id: "u1".into(),
        is_admin: false,
        can_write: true,
    }
}

fn blank(size: i64) -> VolumeSpec {
    VolumeSpec {
        id: Some(ID.into()),
        size: Some(size),
        source: Source::Blank,
        ..VolumeSpec::default()
    }
}

#[tokio::test]
async fn a_named_volume_is_made_once_and_finished_after_a_cut() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("ox.db").display()))
        .await
        .unwrap();
    let images = Images::open(store.clone(), &dir.path().join("images"), "h1", 1 << 20)
        .await
        .unwrap();
    let data = dir.path().join("volumes");
    let volumes = BlockStorage::open(store.clone(), images, &data, Settings::default())
        .await
        .unwrap();

    let first = volumes.create_volume_now(&owner(), blank(2)).await.unwrap();
    assert_eq!(first.row.id, ID);
    assert_eq!(first.row.status, "available");

    // Asked again (a resumed build): the same volume, counted once; the
    // size asked the second time does not matter.
    let again = volumes.create_volume_now(&owner(), blank(3)).await.unwrap();
    assert_eq!((again.row.id.as_str(), again.row.size), (ID, 2));
    assert_eq!(volumes.volumes(&owner(), false).await.unwrap().len(), 1);
    let usage = store.volumes().usage("p1").await.unwrap();
    assert_eq!((usage["volumes"], usage["gigabytes"]), (1, 2));

    // A crash cut its creation: still `creating`, its data gone.
    assert!(
        store
            .volumes()
            .transition(ID, &["available"], "creating", 0)
            .await
            .unwrap()
    );
    std::fs::remove_file(data.join(ID)).unwrap();
    let finished = volumes.create_volume_now(&owner(), blank(2)).await.unwrap();
    assert_eq!(finished.row.status, "available");
    assert_eq!(std::fs::metadata(data.join(ID)).unwrap().len(), 2 << 30);
    let usage = store.volumes().usage("p1").await.unwrap();
    assert_eq!((usage["volumes"], usage["gigabytes"]), (1, 2));
}
