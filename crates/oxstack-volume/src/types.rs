//! Volume types: the cloud's `__DEFAULT__` (Cinder's default type, which
//! every volume without a type gets and nobody can delete) and those an
//! admin makes, with their extra specs.

use std::collections::BTreeMap;

use oxstack_store::StoreError;
use oxstack_store::volumes::VolumeTypeRow;

use crate::{
    BlockStorage, Caller, VolumeError, VolumeResult, map_text, new_id, now_micros, string_map,
};

/// The name of the default type.
pub const DEFAULT_TYPE: &str = "__DEFAULT__";

/// Its id, the same in every oxstack cloud.
pub(crate) const DEFAULT_TYPE_ID: &str = "f3e1c4a2-0d6b-4c53-9a8e-5f2b7d1e0c01";

/// A volume type as the API shows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VolumeType {
    pub row: VolumeTypeRow,
    pub extra_specs: BTreeMap<String, String>,
}

impl From<VolumeTypeRow> for VolumeType {
    fn from(row: VolumeTypeRow) -> Self {
        let extra_specs = string_map(&row.extra_specs);
        Self { row, extra_specs }
    }
}

/// A new type, or the fields an update changes (`None`: kept).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VolumeTypeSpec {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_public: Option<bool>,
    pub extra_specs: BTreeMap<String, String>,
}

impl BlockStorage {
    pub(crate) async fn ensure_default_type(&self) -> VolumeResult<()> {
        let now = now_micros();
        self.store()
            .volumes()
            .ensure_type(&VolumeTypeRow {
                id: DEFAULT_TYPE_ID.into(),
                name: DEFAULT_TYPE.into(),
                description: Some("Default Volume Type".into()),
                is_public: true,
                extra_specs: "{}".into(),
                created_at: now,
                updated_at: now,
            })
            .await?;
        Ok(())
    }

    /// The types the caller sees: public ones, and every one for admins.
    pub async fn volume_types(&self, caller: &Caller) -> VolumeResult<Vec<VolumeType>> {
        let rows = self.store().volumes().volume_types().await?;
        Ok(rows
            .into_iter()
            .filter(|t| t.is_public || caller.is_admin)
            .map(VolumeType::from)
            .collect())
    }

    /// A type by id or name (as Cinder's API finds them).
    pub async fn volume_type(&self, caller: &Caller, id_or_name: &str) -> VolumeResult<VolumeType> {
        let repo = self.store().volumes();
        let row = match repo.volume_type(id_or_name).await? {
            Some(row) => Some(row),
            None => repo.volume_type_named(id_or_name).await?,
        };
        row.filter(|t| t.is_public || caller.is_admin)
            .map(VolumeType::from)
            .ok_or_else(|| VolumeError::type_not_found(id_or_name))
    }

    /// The default type.
    pub async fn default_volume_type(&self) -> VolumeResult<VolumeType> {
        self.store()
            .volumes()
            .volume_type(DEFAULT_TYPE_ID)
            .await?
            .map(VolumeType::from)
            .ok_or_else(|| VolumeError::type_not_found(DEFAULT_TYPE))
    }

    pub async fn create_volume_type(
        &self,
        caller: &Caller,
        spec: VolumeTypeSpec,
    ) -> VolumeResult<VolumeType> {
        if !caller.is_admin {
            return Err(VolumeError::policy("volume_extension:types_manage"));
        }
        let name = spec.name.unwrap_or_default();
        let now = now_micros();
        let row = VolumeTypeRow {
            id: new_id(),
            name: name.clone(),
            description: spec.description,
            is_public: spec.is_public.unwrap_or(true),
            extra_specs: map_text(&spec.extra_specs),
            created_at: now,
            updated_at: now,
        };
        match self.store().volumes().insert_type(&row).await {
            Ok(()) => Ok(VolumeType::from(row)),
            Err(StoreError::Conflict) => Err(VolumeError::Conflict(format!(
                "Volume Type {name} already exists."
            ))),
            Err(e) => Err(e.into()),
        }
    }

    /// Changes a type's name, description or visibility.
    pub async fn update_volume_type(
        &self,
        caller: &Caller,
        id: &str,
        spec: VolumeTypeSpec,
    ) -> VolumeResult<VolumeType> {
        self.change_type(caller, id, |t| {
            if let Some(name) = spec.name {
                if t.row.id == DEFAULT_TYPE_ID && name != DEFAULT_TYPE {
                    return Err(VolumeError::Invalid(
                        "The default volume type cannot be renamed.".into(),
                    ));
                }
                t.row.name = name;
            }
            if spec.description.is_some() {
                t.row.description = spec.description;
            }
            if let Some(public) = spec.is_public {
                t.row.is_public = public;
            }
            Ok(())
        })
        .await
    }

    /// Adds or replaces extra specs of a type.
    pub async fn set_extra_specs(
        &self,
        caller: &Caller,
        id: &str,
        specs: BTreeMap<String, String>,
    ) -> VolumeResult<VolumeType> {
        self.change_type(caller, id, |t| {
            t.extra_specs.extend(specs);
            Ok(())
        })
        .await
    }

    /// Removes one extra spec of a type.
    pub async fn delete_extra_spec(
        &self,
        caller: &Caller,
        id: &str,
        key: &str,
    ) -> VolumeResult<()> {
        self.change_type(caller, id, |t| {
            t.extra_specs.remove(key).map(drop).ok_or_else(|| {
                VolumeError::NotFound(format!(
                    "Volume Type {id} has no extra specs with key {key}."
                ))
            })
        })
        .await
        .map(drop)
    }

    async fn change_type(
        &self,
        caller: &Caller,
        id: &str,
        change: impl FnOnce(&mut VolumeType) -> VolumeResult<()>,
    ) -> VolumeResult<VolumeType> {
        if !caller.is_admin {
            return Err(VolumeError::policy("volume_extension:types_manage"));
        }
        let mut t = self.volume_type(caller, id).await?;
        change(&mut t)?;
        t.row.extra_specs = map_text(&t.extra_specs);
        t.row.updated_at = now_micros();
        match self.store().volumes().update_type(&t.row).await {
            Ok(()) => Ok(t),
            Err(StoreError::Conflict) => Err(VolumeError::Conflict(format!(
                "Volume Type {} already exists.",
                t.row.name
            ))),
            Err(StoreError::NotFound) => Err(VolumeError::type_not_found(id)),
            Err(e) => Err(e.into()),
        }
    }

    pub async fn delete_volume_type(&self, caller: &Caller, id: &str) -> VolumeResult<()> {
        if !caller.is_admin {
            return Err(VolumeError::policy("volume_extension:types_manage"));
        }
        let t = self.volume_type(caller, id).await?;
        if t.row.id == DEFAULT_TYPE_ID {
            return Err(VolumeError::Invalid(
                "Default volume type can not be deleted.".into(),
            ));
        }
        match self.store().volumes().delete_type(&t.row.id).await {
            Ok(()) => Ok(()),
            Err(StoreError::Conflict) => Err(VolumeError::Invalid(format!(
                "Target volume type is still in use. Volume Type {} deletion is not allowed with volumes present with the type.",
                t.row.id
            ))),
            Err(StoreError::NotFound) => Err(VolumeError::type_not_found(id)),
            Err(e) => Err(e.into()),
        }
    }
}
