//! The hypervisor driver of each compute host this process runs: the
//! simulated one, or QEMU reading images from this node's image store.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Context as _;
use oxstack_image::{Images, Viewer};
use oxstack_virt::qemu::{ImageSource, QemuDriver};
use oxstack_virt::{Driver, DriverError, fake::FakeDriver};

use crate::config::Config;

/// The driver of compute host `host`.
pub async fn driver_for(
    config: &Config,
    host: &str,
    images: &Images,
) -> anyhow::Result<Arc<dyn Driver>> {
    Ok(match config.driver.as_str() {
        "qemu" => Arc::new(
            QemuDriver::open(
                host.to_owned(),
                config.qemu.clone(),
                Arc::new(ImageData(images.clone())),
            )
            .await
            .map_err(|e| anyhow::anyhow!(e.message))
            .context("starting the qemu driver")?,
        ),
        _ => Arc::new(FakeDriver::new(host.to_owned(), config.fake_driver.clone())),
    })
}

/// Image data as the qemu driver reads it: any image, as the cloud's own
/// service would (the API checked the caller may boot it).
#[derive(Debug)]
struct ImageData(Images);

#[async_trait::async_trait]
impl ImageSource for ImageData {
    async fn open(&self, image_id: &str) -> Result<(tokio::fs::File, String), DriverError> {
        let (image, file) = self
            .0
            .download(SERVICE, image_id)
            .await
            .map_err(|e| failed(image_id, e))?;
        let file = file.ok_or_else(|| failed(image_id, "it has no data"))?;
        let format = image.row.disk_format.unwrap_or_else(|| "raw".into());
        Ok((file, format))
    }

    async fn properties(&self, image_id: &str) -> Result<BTreeMap<String, String>, DriverError> {
        let image = self
            .0
            .get(SERVICE, image_id)
            .await
            .map_err(|e| failed(image_id, e))?;
        Ok(image.properties.into_iter().collect())
    }
}

/// The cloud's own service reading an image.
const SERVICE: Viewer<'static> = Viewer {
    project_id: "",
    is_admin: true,
    is_member: false,
};

fn failed(image_id: &str, e: impl std::fmt::Display) -> DriverError {
    DriverError {
        message: format!("reading image {image_id}: {e}"),
    }
}
