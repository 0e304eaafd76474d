//! Crash and resume, for every task state of every flow: the action is
//! accepted by a host whose work is held (everything recorded, nothing
//! run, as if the process died right after answering), the server is put
//! in each task state its flow passes through, and a fresh host on the same
//! database — a restart — must finish the flow to its documented end, with
//! no task left and the flow's action finished.

use std::collections::BTreeMap;
use std::time::Duration;

use oxstack_store::instances::{MigrationStep, Step};

use super::flow::Acceptance;
use super::rules;
use super::shelve::ShelveKind;
use super::snapshot::SnapshotRequest;
use super::{PowerAction, PowerRequest, RebuildRequest};
use crate::Compute;
use crate::model::change::{Change, Guard};
use crate::model::states::{PowerState, TaskState, VmState};
use crate::model::{MigrationStatus, MigrationType, Server};
use crate::testing::{Cloud, HOST, caller, settled};

use TaskState as T;

/// Checks that the doomed host ran nothing: the server still shows the
/// task its acceptance set.
async fn assert_held(compute: &Compute, uuid: &str) {
    tokio::time::sleep(Duration::from_millis(20)).await;
    let server = compute.load(uuid).await.expect("load").expect("exists");
    assert!(
        server.task_state.is_some(),
        "the doomed host ran the work of {uuid}"
    );
}

/// Puts the server in `task` (the flow's progress when the host died).
async fn crash_in(compute: &Compute, uuid: &str, task: TaskState) {
    assert_held(compute, uuid).await;
    let moved = compute
        .transition(uuid, &Guard::any(), &Change::task(task))
        .await
        .expect("transition");
    assert!(moved, "could not put {uuid} in {task}");
}

/// Sets the status of the server's newest migration (the hand-over
/// between the two halves of a move happens with a task change).
async fn migration_status(cloud: &Cloud, uuid: &str, status: MigrationStatus) {
    let all = [
        "accepted",
        "queued",
        "preparing",
        "running",
        "pre-migrating",
        "migrating",
        "post-migrating",
    ];
    let query = oxstack_store::migrations::MigrationQuery {
        instance_uuid: Some(uuid.to_owned()),
        ..Default::default()
    };
    let migrations = cloud.store.migrations();
    let newest = migrations.list(&query).await.expect("migrations");
    migrations
        .advance(&newest[0].uuid, &all, status.as_str(), crate::now_micros())
        .await
        .expect("migration");
}

/// Restarts: a fresh host recovers, and the server must settle with no
/// unfinished action left.
async fn restart(cloud: &Cloud, uuid: &str) -> (Compute, Server) {
    let compute = cloud.host().await;
    compute.recover().await.expect("recover");
    let server = settled(&compute, uuid).await;
    let unfinished = cloud
        .store
        .instance_actions()
        .latest_unfinished_any(uuid)
        .await
        .expect("actions");
    assert_eq!(
        unfinished.map(|a| a.action),
        None,
        "an action of {uuid} was left unfinished"
    );
    (compute, server)
}

/// Boots an ACTIVE server with a working host and brings it to `pre`.
async fn server_in(cloud: &Cloud, pre: Option<PowerAction>) -> String {
    let compute = cloud.host().await;
    let uuid = cloud.boot(&compute).await;
    assert_eq!(settled(&compute, &uuid).await.vm_state, VmState::Active);
    if let Some(action) = pre {
        compute
            .server_action(&caller(), &uuid, action, PowerRequest::default())
            .await
            .expect("pre-state");
        settled(&compute, &uuid).await;
    }
    uuid
}

#[tokio::test]
async fn an_interrupted_build_finishes_from_every_step() {
    for step in [
        T::Scheduling,
        T::Networking,
        T::BlockDeviceMapping,
        T::Spawning,
    ] {
        let cloud = Cloud::new().await;
        let doomed = cloud.doomed_host().await;
        let uuid = cloud.boot(&doomed).await;
        crash_in(&doomed, &uuid, step).await;
        let (_, server) = restart(&cloud, &uuid).await;
        assert_eq!(server.vm_state, VmState::Active, "from {step}");
        assert_eq!(server.power_state, PowerState::Running, "from {step}");
        assert!(server.launched_at.is_some());
        assert_eq!(server.host.as_deref(), Some(HOST));
    }
}

#[tokio::test]
async fn interrupted_power_actions_finish_from_every_step() {
    use PowerAction as P;
    let cases = [
        (P::Stop, None, VmState::Stopped, PowerState::Shutdown),
        (
            P::Start,
            Some(P::Stop),
            VmState::Active,
            PowerState::Running,
        ),
        (P::SoftReboot, None, VmState::Active, PowerState::Running),
        (P::HardReboot, None, VmState::Active, PowerState::Running),
        (P::Pause, None, VmState::Paused, PowerState::Paused),
        (
            P::Unpause,
            Some(P::Pause),
            VmState::Active,
            PowerState::Running,
        ),
        (P::Suspend, None, VmState::Suspended, PowerState::Suspended),
        (
            P::Resume,
            Some(P::Suspend),
            VmState::Active,
            PowerState::Running,
        ),
        (P::Rescue, None, VmState::Rescued, PowerState::Running),
        (
            P::Unrescue,
            Some(P::Rescue),
            VmState::Active,
            PowerState::Running,
        ),
    ];
    for (action, pre, vm, power) in cases {
        for step in action.steps() {
            let cloud = Cloud::new().await;
            let uuid = server_in(&cloud, pre).await;
            let doomed = cloud.doomed_host().await;
            doomed
                .server_action(&caller(), &uuid, action, PowerRequest::default())
                .await
                .expect("accepted");
            crash_in(&doomed, &uuid, *step).await;
            let (_, server) = restart(&cloud, &uuid).await;
            assert_eq!(server.vm_state, vm, "{action:?} from {step}");
            assert_eq!(server.power_state, power, "{action:?} from {step}");
        }
    }
}

#[tokio::test]
async fn an_interrupted_password_change_ends_in_a_fault_not_a_stuck_task() {
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    let request = PowerRequest {
        password: Some("s3cret!".into()),
        ..PowerRequest::default()
    };
    doomed
        .server_action(&caller(), &uuid, PowerAction::ChangePassword, request)
        .await
        .expect("accepted");
    assert_held(&doomed, &uuid).await;
    let (_, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::Active);
    let fault = server.fault.expect("a fault says why");
    assert!(fault.message.contains("interrupted"), "{}", fault.message);
}

#[tokio::test]
async fn interrupted_deletes_finish() {
    // A delete.
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    doomed
        .delete_server(&caller(), &uuid)
        .await
        .expect("delete");
    assert_held(&doomed, &uuid).await;
    let (_, server) = restart(&cloud, &uuid).await;
    assert!(server.deleted);
    assert_eq!(server.vm_state, VmState::Deleted);

    // A soft delete, then a restore.
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    let server = doomed.load(&uuid).await.expect("load").expect("exists");
    assert!(doomed.soft_delete(&caller(), &server).await.expect("soft"));
    assert_held(&doomed, &uuid).await;
    let (_, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::SoftDeleted);
    let doomed = cloud.doomed_host().await;
    doomed
        .restore_server(&caller(), &uuid)
        .await
        .expect("restore");
    assert_held(&doomed, &uuid).await;
    let (_, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::Active);
    assert_eq!(server.deleted_at, None);
}

#[tokio::test]
async fn an_interrupted_resize_reaches_verify_resize_from_every_step() {
    let steps = [
        T::ResizePrep,
        T::ResizeMigrating,
        T::ResizeMigrated,
        T::ResizeFinish,
    ];
    for (at, step) in steps.into_iter().enumerate() {
        let cloud = Cloud::new().await;
        let uuid = server_in(&cloud, None).await;
        let doomed = cloud.doomed_host().await;
        doomed
            .resize_server(&caller(), &uuid, "2", None)
            .await
            .expect("accepted");
        crash_in(&doomed, &uuid, step).await;
        let actions = cloud.store.instance_actions();
        let action = actions.latest_named(&uuid, &["resize"]).await.unwrap();
        let action_id = action.expect("the resize is recorded").id;
        if at >= 1 {
            // Past the steps recorded at once: their events are closed, so
            // until `compute_finish_resize` starts nothing is open (the
            // action looks finished; the task says it is not).
            for event in ["compute_prep_resize", "compute_resize_instance"] {
                actions
                    .start_event(action_id, event, HOST, 1)
                    .await
                    .unwrap();
                actions.finish(action_id, event, None, 2).await.unwrap();
            }
        }
        if at >= 2 {
            // Past the hand-over, which moves the migration on with it.
            migration_status(&cloud, &uuid, MigrationStatus::PostMigrating).await;
        }
        let (compute, server) = restart(&cloud, &uuid).await;
        let events = actions.events(action_id).await.unwrap();
        let finish = events.iter().find(|e| e.event == "compute_finish_resize");
        assert!(
            finish.is_some_and(|e| e.finish_time.is_some()),
            "the resumed resize records its last event, from {step}: {events:?}"
        );
        assert_eq!(server.vm_state, VmState::Resized, "from {step}");
        assert_eq!(server.flavor.id, "2", "from {step}");
        assert_eq!(server.old_flavor.map(|f| f.id).as_deref(), Some("1"));
        let m = compute
            .current_migration(&uuid, &[MigrationStatus::Finished])
            .await
            .expect("migrations");
        assert!(m.is_some(), "the migration finished, from {step}");
        // The usage counted the new size from the acceptance on.
        let usage = cloud.store.instances().usage("p1").await.expect("usage");
        assert_eq!(usage.ram, server.flavor.memory_mb, "from {step}");
    }
}

#[tokio::test]
async fn an_interrupted_live_migration_ends_where_its_record_says() {
    // Accepted but not started: with no other host it fails, and the
    // server stays where it is.
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    doomed
        .live_migrate_server(&caller(), &uuid, None)
        .await
        .expect("accepted");
    assert_held(&doomed, &uuid).await;
    let (compute, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::Active);
    assert_eq!(server.host.as_deref(), Some(HOST));
    let failed = compute
        .current_migration(&uuid, &[MigrationStatus::Error])
        .await
        .expect("migrations");
    assert!(failed.is_some());

    // Handed over to the destination: it completes there.
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    doomed
        .live_migrate_server(&caller(), &uuid, None)
        .await
        .expect("accepted");
    migration_status(&cloud, &uuid, MigrationStatus::PostMigrating).await;
    let (compute, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::Active);
    assert_eq!(server.power_state, PowerState::Running);
    let done = compute
        .current_migration(&uuid, &[MigrationStatus::Completed])
        .await
        .expect("migrations");
    assert!(done.is_some());
}

#[tokio::test]
async fn an_interrupted_evacuation_rebuilds_the_server_on_its_new_host() {
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    let server = doomed.load(&uuid).await.expect("load").expect("exists");
    // Accepted as `evacuate` accepts it (one host cannot be down and up at
    // once, so the acceptance is made here).
    let migration = doomed.new_migration(
        &server,
        &caller(),
        MigrationType::Evacuation,
        MigrationStatus::Accepted,
        (None, None),
        Some((HOST.into(), HOST.into())),
    );
    let acceptance = Acceptance {
        migration: Some(MigrationStep::Insert(&migration)),
        ..Acceptance::default()
    };
    doomed
        .accept(&caller(), &server, &rules::EVACUATE, acceptance)
        .await
        .expect("accepted");
    assert_held(&doomed, &uuid).await;
    let (compute, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::Active);
    let done = compute
        .current_migration(&uuid, &[MigrationStatus::Done])
        .await
        .expect("migrations");
    assert!(done.is_some());
}

#[tokio::test]
async fn an_interrupted_rebuild_finishes_from_every_step() {
    for step in [
        T::Rebuilding,
        T::RebuildBlockDeviceMapping,
        T::RebuildSpawning,
    ] {
        let cloud = Cloud::new().await;
        let uuid = server_in(&cloud, Some(PowerAction::Stop)).await;
        let doomed = cloud.doomed_host().await;
        let request = RebuildRequest {
            image: Some(cloud.image.clone()),
            name: Some("rebuilt".into()),
            ..RebuildRequest::default()
        };
        doomed
            .rebuild_server(&caller(), &uuid, request)
            .await
            .expect("accepted");
        crash_in(&doomed, &uuid, step).await;
        let (_, server) = restart(&cloud, &uuid).await;
        // A stopped server is rebuilt stopped.
        assert_eq!(server.vm_state, VmState::Stopped, "from {step}");
        assert_eq!(server.name, "rebuilt");
    }
}

#[tokio::test]
async fn interrupted_snapshots_and_backups_upload_their_image() {
    let snapshot = [
        T::ImageSnapshotPending,
        T::ImageSnapshot,
        T::ImagePendingUpload,
        T::ImageUploading,
    ];
    let backup = [T::ImageBackup, T::ImagePendingUpload, T::ImageUploading];
    let cases = [
        (None, &snapshot[..]),
        (Some(("daily".to_owned(), 2)), &backup[..]),
    ];
    for (backup, steps) in cases {
        for step in steps {
            let cloud = Cloud::new().await;
            let uuid = server_in(&cloud, None).await;
            let doomed = cloud.doomed_host().await;
            let request = SnapshotRequest {
                name: "snap".into(),
                metadata: BTreeMap::new(),
                backup: backup.clone(),
            };
            let image_id = doomed
                .snapshot_server(&caller(), &uuid, request)
                .await
                .expect("accepted");
            crash_in(&doomed, &uuid, *step).await;
            let (_, server) = restart(&cloud, &uuid).await;
            assert_eq!(server.vm_state, VmState::Active, "from {step}");
            let viewer = oxstack_image::Viewer {
                project_id: "p1",
                is_admin: false,
                is_member: true,
            };
            let image = cloud.images.get(viewer, &image_id).await.expect("image");
            assert_eq!(image.row.status, "active", "from {step}");
        }
    }
}

#[tokio::test]
async fn a_snapshot_cut_after_its_upload_was_recorded_keeps_its_image() {
    // The crash came between the upload's record (the image is active)
    // and the end of the task: the resumed flow finds the image done.
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let doomed = cloud.doomed_host().await;
    let request = SnapshotRequest {
        name: "snap".into(),
        metadata: BTreeMap::new(),
        backup: None,
    };
    let image_id = doomed
        .snapshot_server(&caller(), &uuid, request)
        .await
        .expect("accepted");
    crash_in(&doomed, &uuid, T::ImageUploading).await;
    let viewer = oxstack_image::Viewer {
        project_id: "p1",
        is_admin: false,
        is_member: true,
    };
    let bytes = futures_util::stream::iter([Ok::<_, std::io::Error>(bytes::Bytes::from_static(
        b"uploaded before the crash",
    ))]);
    let uploaded = cloud
        .images
        .upload(viewer, &image_id, bytes)
        .await
        .expect("upload");
    let (_, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::Active);
    let image = cloud.images.get(viewer, &image_id).await.expect("image");
    assert_eq!(image.row.status, "active");
    assert_eq!(
        image.row.checksum, uploaded.row.checksum,
        "not uploaded again"
    );
}

#[tokio::test]
async fn interrupted_shelving_finishes_from_every_step() {
    let steps = [
        T::Shelving,
        T::ShelvingImagePendingUpload,
        T::ShelvingImageUploading,
        T::ShelvingOffloading,
    ];
    for step in steps {
        let cloud = Cloud::new().await;
        let uuid = server_in(&cloud, None).await;
        let doomed = cloud.doomed_host().await;
        doomed
            .shelve_action(&caller(), &uuid, ShelveKind::Shelve, None)
            .await
            .expect("accepted");
        crash_in(&doomed, &uuid, step).await;
        let (_, server) = restart(&cloud, &uuid).await;
        assert_eq!(server.vm_state, VmState::ShelvedOffloaded, "from {step}");
        assert_eq!(server.host, None, "from {step}");
        assert!(server.shelved_image_id.is_some());

        // And back: unshelve, interrupted in each of its steps.
        for step in [T::Unshelving, T::Spawning] {
            let doomed = cloud.doomed_host().await;
            doomed
                .shelve_action(&caller(), &uuid, ShelveKind::Unshelve, None)
                .await
                .expect("accepted");
            crash_in(&doomed, &uuid, step).await;
            if step == T::Spawning {
                // Placed on its host with the step before.
                let placed = Change {
                    host: Some(Some(HOST.into())),
                    ..Change::default()
                };
                doomed
                    .transition(&uuid, &Guard::any(), &placed)
                    .await
                    .expect("placed");
            }
            let (compute, server) = restart(&cloud, &uuid).await;
            assert_eq!(server.vm_state, VmState::Active, "unshelve from {step}");
            compute
                .shelve_action(&caller(), &uuid, ShelveKind::Shelve, None)
                .await
                .expect("shelve again");
            settled(&compute, &uuid).await;
        }
    }
}

#[tokio::test]
async fn an_interrupted_offload_finishes() {
    let cloud = Cloud::new().await;
    let uuid = server_in(&cloud, None).await;
    let compute = cloud.host().await;
    // A server shelved but kept on its host (a positive offload time).
    let shelved = Change::settle(VmState::Shelved, PowerState::Shutdown);
    let step = Step {
        change: (&shelved).into(),
        ..Step::default()
    };
    compute
        .store
        .instances()
        .apply(
            &uuid,
            &Step {
                guard: (&Guard::any()).into(),
                ..step
            },
            crate::now_micros(),
        )
        .await
        .expect("shelved");
    let doomed = cloud.doomed_host().await;
    doomed
        .shelve_action(&caller(), &uuid, ShelveKind::Offload, None)
        .await
        .expect("accepted");
    assert_held(&doomed, &uuid).await;
    let (_, server) = restart(&cloud, &uuid).await;
    assert_eq!(server.vm_state, VmState::ShelvedOffloaded);
}
