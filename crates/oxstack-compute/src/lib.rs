//! The compute domain of oxstack. It decides what may happen to flavors,
//! quotas and (later) instances; it knows nothing of HTTP, JSON field names
//! or microversions. Error messages are Nova's (`nova/exception.py`), since
//! users and clients read them.

mod error;
pub mod flavors;
pub mod quotas;

use oxstack_store::Store;

pub use error::{ComputeError, ComputeResult};

/// The compute service: one per process, cheap to share.
#[derive(Clone, Debug)]
pub struct Compute {
    store: Store,
    quota_defaults: quotas::QuotaDefaults,
}

impl Compute {
    pub fn new(store: Store, quota_defaults: quotas::QuotaDefaults) -> Self {
        Self {
            store,
            quota_defaults,
        }
    }
}

/// Now, in microseconds since the epoch (the store's time unit).
pub(crate) fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
