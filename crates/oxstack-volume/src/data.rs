//! Volume and snapshot data: one file per volume (`<id>`) and per
//! snapshot (`snapshot-<id>`) in the data folder. A blank volume is a
//! sparse raw file of its size; a volume made from an image holds the
//! image's bytes in the image's format (raw or qcow2); a copy is written
//! beside its target and renamed into place, so a crash never leaves a
//! half-written file under a volume's name.

use std::path::{Path, PathBuf};

use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

/// Bytes in a GiB, the unit of volume sizes.
pub const GIB: u64 = 1 << 30;

/// How much of a volume's data a copy reads at once.
const CHUNK: usize = 1 << 20;

#[derive(Debug)]
pub(crate) struct DataDir {
    dir: PathBuf,
}

impl DataDir {
    pub async fn open(dir: &Path) -> std::io::Result<Self> {
        tokio::fs::create_dir_all(dir).await?;
        Ok(Self {
            dir: dir.to_owned(),
        })
    }

    /// Where a volume's data is.
    pub fn volume(&self, id: &str) -> PathBuf {
        self.dir.join(id)
    }

    /// Where a snapshot's data is.
    pub fn snapshot(&self, id: &str) -> PathBuf {
        self.dir.join(format!("snapshot-{id}"))
    }

    /// A file of its own beside `target` to write it in (two nodes
    /// finishing the same interrupted work never write one file).
    fn partial(&self, target: &Path) -> PathBuf {
        let mut name = target.as_os_str().to_owned();
        name.push(format!(".{}.partial", uuid::Uuid::new_v4().simple()));
        PathBuf::from(name)
    }

    /// A blank raw volume of `size_gb` GiB (sparse).
    pub async fn create_blank(&self, id: &str, size_gb: i64) -> std::io::Result<()> {
        let target = self.volume(id);
        let partial = self.partial(&target);
        let file = tokio::fs::File::create(&partial).await?;
        file.set_len(gib(size_gb)).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, &target).await
    }

    /// Writes `target` from a reader, sparsely (runs of zeros stay holes:
    /// a copy of a mostly empty volume takes no room); a raw result is then
    /// grown to `size_gb` GiB (a qcow2 one keeps its own virtual size).
    pub async fn fill<R>(
        &self,
        target: &Path,
        mut source: R,
        raw_size_gb: Option<i64>,
    ) -> std::io::Result<()>
    where
        R: tokio::io::AsyncRead + Unpin,
    {
        let partial = self.partial(target);
        let mut file = tokio::fs::File::create(&partial).await?;
        let mut buffer = vec![0u8; CHUNK];
        let zeros = vec![0u8; CHUNK];
        let mut length: u64 = 0;
        loop {
            let n = source.read(&mut buffer).await?;
            if n == 0 {
                break;
            }
            // Slice equality is a memcmp: cheap against the read itself.
            if buffer[..n] == zeros[..n] {
                file.seek(std::io::SeekFrom::Current(n as i64)).await?;
            } else {
                file.write_all(&buffer[..n]).await?;
            }
            length += n as u64;
        }
        file.flush().await?;
        let wanted = raw_size_gb.map(gib).unwrap_or(0).max(length);
        file.set_len(wanted).await?;
        file.sync_all().await?;
        tokio::fs::rename(&partial, target).await
    }

    /// Copies one data file to another target (a volume from a volume or
    /// snapshot, a snapshot of a volume).
    pub async fn copy(
        &self,
        from: &Path,
        to: &Path,
        raw_size_gb: Option<i64>,
    ) -> std::io::Result<()> {
        let source = tokio::fs::File::open(from).await?;
        self.fill(to, source, raw_size_gb).await
    }

    /// Grows a raw volume to `size_gb` GiB.
    pub async fn grow(&self, id: &str, size_gb: i64) -> std::io::Result<()> {
        let file = tokio::fs::OpenOptions::new()
            .write(true)
            .open(self.volume(id))
            .await?;
        if file.metadata().await?.len() < gib(size_gb) {
            file.set_len(gib(size_gb)).await?;
        }
        file.sync_all().await
    }

    /// Removes a volume's data (gone already is fine).
    pub async fn remove(&self, id: &str) -> std::io::Result<()> {
        remove_if_there(&self.volume(id)).await
    }

    /// Removes a snapshot's data (gone already is fine).
    pub async fn remove_snapshot(&self, id: &str) -> std::io::Result<()> {
        remove_if_there(&self.snapshot(id)).await
    }
}

fn gib(size_gb: i64) -> u64 {
    u64::try_from(size_gb).unwrap_or(0) * GIB
}

async fn remove_if_there(path: &Path) -> std::io::Result<()> {
    match tokio::fs::remove_file(path).await {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn blank_volumes_are_sparse_files_of_their_size_and_grow() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(dir.path()).await.expect("open");
        data.create_blank("v1", 2).await.expect("blank");
        let len = tokio::fs::metadata(data.volume("v1"))
            .await
            .expect("meta")
            .len();
        assert_eq!(len, 2 * GIB);
        data.grow("v1", 3).await.expect("grow");
        let len = tokio::fs::metadata(data.volume("v1"))
            .await
            .expect("meta")
            .len();
        assert_eq!(len, 3 * GIB);
        data.remove("v1").await.expect("remove");
        data.remove("v1").await.expect("removing twice is fine");
        assert!(!data.volume("v1").exists());
    }

    #[tokio::test]
    async fn a_copy_keeps_holes_and_the_bytes_between_them() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(dir.path()).await.expect("open");
        {
            use std::io::{Seek, Write};
            let mut f = std::fs::File::create(data.volume("src")).expect("create");
            f.set_len(8 * CHUNK as u64).expect("size");
            f.seek(std::io::SeekFrom::Start(5 * CHUNK as u64 + 7))
                .expect("seek");
            f.write_all(b"middle").expect("write");
        }
        data.copy(&data.volume("src"), &data.volume("dst"), None)
            .await
            .expect("copy");
        let copied = std::fs::read(data.volume("dst")).expect("read");
        assert_eq!(copied.len(), 8 * CHUNK, "trailing holes are kept as length");
        assert_eq!(&copied[5 * CHUNK + 7..5 * CHUNK + 13], b"middle");
        let blocks = std::fs::metadata(data.volume("dst"))
            .expect("meta")
            .blocks();
        assert!(
            blocks * 512 < 16 * CHUNK as u64,
            "the copy is sparse: {blocks} blocks"
        );
    }

    #[tokio::test]
    async fn a_copy_carries_the_bytes_and_leaves_no_partial_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = DataDir::open(dir.path()).await.expect("open");
        data.fill(&data.volume("src"), &b"guest bytes"[..], None)
            .await
            .expect("fill");
        data.copy(&data.volume("src"), &data.snapshot("s1"), None)
            .await
            .expect("copy");
        let copied = tokio::fs::read(data.snapshot("s1")).await.expect("read");
        assert_eq!(copied, b"guest bytes");
        let names: Vec<String> = std::fs::read_dir(dir.path())
            .expect("list")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.ends_with(".partial")), "{names:?}");
    }
}
