//! One Unix user's view of the host: the server's role `user` (design.md §6) sees only
//! the sessions of the Unix user of the same name, as Windows shows non-administrators
//! only their own sessions.

use crate::HostProvider;
use linmgmt_cim::{ClassDef, Instance, Name};
use linmgmt_engine::{Ask, Provider, Warning};
use std::sync::Arc;

/// A [`HostProvider`] restricted to one Unix user ([`HostProvider::instances_for`] with a
/// viewer). It shares the host's snapshot: no scan of its own.
pub struct UserView {
    host: Arc<HostProvider>,
    user: String,
}

impl UserView {
    /// `host`, as `user` may see it.
    pub fn new(host: Arc<HostProvider>, user: impl Into<String>) -> Self {
        UserView {
            host,
            user: user.into(),
        }
    }
}

impl Provider for UserView {
    fn serves(&self, namespace: &str, class: &Name) -> bool {
        self.host.serves(namespace, class)
    }

    fn instances(
        &self,
        class: &Arc<ClassDef>,
        ask: Ask<'_>,
        out: &mut Vec<Instance>,
        warnings: &mut Vec<Warning>,
    ) {
        self.host
            .instances_asked(class, ask, Some(&self.user), out, warnings);
    }
}
