//! The compute domain's types: servers with their states, flavors as
//! servers keep them, migrations, instance actions and compute services.
//! They are what the rest of the crate and the API work with; the store's
//! rows are translated at the boundary ([`records`]).

mod action;
pub(crate) mod change;
mod migration;
pub(crate) mod records;
mod server;
mod service;
pub mod states;

pub use action::{ActionEvent, InstanceAction};
pub use migration::{Migration, MigrationStatus, MigrationType};
/// What a hypervisor measures of a guest, as drivers report it.
pub use oxstack_virt::Diagnostics;
pub(crate) use server::canonical_ips;
pub use server::{Fault, FixedIp, FlavorSnapshot, FloatingAddress, LockedBy, Server, ServerImage};
pub use service::{ComputeService, ServiceUpdate};
