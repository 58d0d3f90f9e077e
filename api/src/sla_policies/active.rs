//! The active SLA policies a ticket command matches among, kept in memory: they change rarely,
//! and reading them for every ticket opened cost creation a sixth of its rate. The copy is read
//! again when the `sla_policies` read model announces a new checkpoint (a policy changed), so a
//! policy an admin's request has just shown is in it for the next ticket of this process, and of
//! the others as soon as the announcement reaches them.

use std::sync::{Arc, Mutex};

use support_domain::sla::SlaPolicyBook;
use support_projections::sla::policies::{active_policies, READ_MODEL};

use crate::problem::ApiError;
use crate::startup::ApiContext;

/// The active policies as of a checkpoint of their read model.
#[derive(Clone, Default)]
pub struct ActivePolicies(Arc<Mutex<Option<PoliciesAt>>>);

/// The policies read, and the read model's checkpoint they were read at.
type PoliciesAt = (i64, Arc<SlaPolicyBook>);

impl ActivePolicies {
    pub async fn get(&self, ctx: &ApiContext) -> Result<Arc<SlaPolicyBook>, ApiError> {
        // Read before the policies: a change that lands meanwhile raises it past the copy.
        let checkpoint = ctx.checkpoints.announced(READ_MODEL);
        if let Some((seen, book)) = self.0.lock().expect("no panic holds it").as_ref() {
            if Some(*seen) == checkpoint {
                return Ok(book.clone());
            }
        }
        let book = Arc::new(active_policies(&ctx.pool).await?);
        if let Some(checkpoint) = checkpoint {
            *self.0.lock().expect("no panic holds it") = Some((checkpoint, book.clone()));
        }
        Ok(book)
    }
}
