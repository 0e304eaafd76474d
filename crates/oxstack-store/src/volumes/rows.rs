//! The stored forms of block storage resources.

use crate::db::{Columns, DecodeError, Record};

/// A row struct whose fields are its columns, by the same names, and its
/// [`Record`] decoder.
macro_rules! row {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident : $ty:ty),* $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct $name {
            $($(#[$fmeta])* pub $field: $ty),*
        }

        impl Record for $name {
            fn decode(row: &impl Columns) -> Result<Self, DecodeError> {
                Ok(Self { $($field: row.column(stringify!($field))?),* })
            }
        }
    };
}

row! {
    /// A volume type; `extra_specs` is a JSON object.
    VolumeTypeRow {
        id: String,
        name: String,
        description: Option<String>,
        is_public: bool,
        extra_specs: String,
        created_at: i64,
        updated_at: i64,
    }
}

row! {
    /// One volume; `image_metadata` and `metadata` are JSON objects.
    VolumeRow {
        id: String,
        project_id: String,
        user_id: String,
        name: Option<String>,
        description: Option<String>,
        /// GiB.
        size: i64,
        status: String,
        availability_zone: String,
        volume_type_id: String,
        bootable: bool,
        multiattach: bool,
        readonly: bool,
        source_volid: Option<String>,
        snapshot_id: Option<String>,
        image_metadata: String,
        metadata: String,
        /// The format of its data file (`raw`, `qcow2`).
        disk_format: String,
        created_at: i64,
        updated_at: i64,
    }
}

row! {
    /// A volume's attachment (Cinder's), with Nova's block device mapping
    /// of it when a server holds it.
    AttachmentRow {
        id: String,
        volume_id: String,
        project_id: String,
        instance_uuid: Option<String>,
        /// `reserved`, `attaching`, `attached`, `detaching`.
        attach_status: String,
        /// `rw` or `ro`.
        attach_mode: String,
        attached_host: Option<String>,
        /// The guest's device (`/dev/vdb`).
        mountpoint: Option<String>,
        /// The attaching host's connector (JSON).
        connector: Option<String>,
        bdm_uuid: Option<String>,
        boot_index: Option<i64>,
        tag: Option<String>,
        delete_on_termination: bool,
        attach_time: Option<i64>,
        created_at: i64,
        updated_at: i64,
    }
}

row! {
    /// A snapshot of a volume; `metadata` is a JSON object.
    SnapshotRow {
        id: String,
        project_id: String,
        user_id: String,
        volume_id: String,
        name: Option<String>,
        description: Option<String>,
        size: i64,
        status: String,
        metadata: String,
        created_at: i64,
        updated_at: i64,
    }
}
