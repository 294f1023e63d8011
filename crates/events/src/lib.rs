//! Event queries over the host: `SELECT * FROM __InstanceCreationEvent WITHIN 5 WHERE
//! TargetInstance ISA 'Win32_LogonSession'`, delivered as soon as the change is seen.
//!
//! * [`Subscription`] is pure: a compiled event query that takes the instances of its
//!   classes scan after scan and turns their differences
//!   ([`linmgmt_providers::diff`]) into `__InstanceCreationEvent`,
//!   `__InstanceDeletionEvent` and `__InstanceModificationEvent` instances, or groups them
//!   into `__AggregateEvent`s (`GROUP WITHIN … BY … HAVING`).
//! * [`Hub`] is the edge: a thread that scans the host when the kernel (process events),
//!   utmp/wtmp or logind say something changed, and at least every `WITHIN`, and feeds
//!   every subscription; the CLI's `watch` and the server's `/events` share it.

mod hub;
mod subscription;

pub use hub::{DEFAULT_CAPACITY, EventStream, HostFactory, Hub, HubSettings};
pub use subscription::{MIN_WITHIN, Subscription};
