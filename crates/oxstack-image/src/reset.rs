//! The image store back to the cloud's first start (the control plane's
//! reset): every image users made is removed, data files included; the
//! image the cloud made itself stays.

use crate::{ImageResult, Images};

/// The setting that names the image the cloud made at its first start.
pub(crate) const BOOTSTRAP_IMAGE_SETTING: &str = "bootstrap_image";

impl Images {
    /// The id of the image the cloud made at its first start, if known.
    pub async fn bootstrap_image_id(&self) -> ImageResult<Option<String>> {
        Ok(self
            .store
            .identity()
            .get_setting(BOOTSTRAP_IMAGE_SETTING)
            .await?)
    }

    /// Removes the images of `project` (every project's if `None`), all
    /// but the cloud's own; a cloud that does not know which image that
    /// is (its data directory predates the setting) makes it again, owned
    /// by `admin_project`. Returns how many images were removed.
    pub async fn reset(&self, project: Option<&str>, admin_project: &str) -> ImageResult<usize> {
        let keep = self.bootstrap_image_id().await?;
        let removed = self.store.reset().images(project, keep.as_deref()).await?;
        for id in &removed {
            match tokio::fs::remove_file(self.data_path(id)).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e.into()),
                _ => {}
            }
        }
        if keep.is_none() && project.is_none() {
            self.bootstrap_cirros(admin_project).await?;
        }
        Ok(removed.len())
    }
}
