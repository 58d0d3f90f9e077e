//! The active policies a ticket command matches among (SLA policies, escalation policies), kept
//! in memory: they change rarely, and reading them for every ticket opened cost creation a sixth
//! of its rate. A copy is read again when its read model announces a new checkpoint (a policy
//! changed), so a policy an admin's request has just shown is in it for the next ticket of this
//! process, and of the others as soon as the announcement reaches them.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use sqlx::PgPool;
use support_domain::escalation::EscalationBook;
use support_domain::sla::SlaPolicyBook;
use support_projections::{escalation, sla};

use crate::problem::ApiError;
use crate::startup::ApiContext;

/// Policies as a command matches among them, read from their read model.
#[async_trait]
pub trait PolicyBook: Send + Sync + Sized + 'static {
    /// The read model whose checkpoint says the copy is stale.
    const READ_MODEL: &'static str;

    async fn read(pool: &PgPool) -> Result<Self, sqlx::Error>;
}

#[async_trait]
impl PolicyBook for SlaPolicyBook {
    const READ_MODEL: &'static str = sla::policies::READ_MODEL;

    async fn read(pool: &PgPool) -> Result<Self, sqlx::Error> {
        sla::policies::active_policies(pool).await
    }
}

#[async_trait]
impl PolicyBook for EscalationBook {
    const READ_MODEL: &'static str = escalation::READ_MODEL;

    async fn read(pool: &PgPool) -> Result<Self, sqlx::Error> {
        escalation::active_policies(pool).await
    }
}

/// The active policies of one kind as of a checkpoint of their read model.
pub struct ActivePolicies<B>(Arc<Mutex<Option<PoliciesAt<B>>>>);

/// The policies read, and the read model's checkpoint they were read at.
type PoliciesAt<B> = (i64, Arc<B>);

impl<B> Clone for ActivePolicies<B> {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl<B> Default for ActivePolicies<B> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<B: PolicyBook> ActivePolicies<B> {
    pub async fn get(&self, ctx: &ApiContext) -> Result<Arc<B>, ApiError> {
        // Read before the policies: a change that lands meanwhile raises it past the copy.
        let checkpoint = ctx.checkpoints.announced(B::READ_MODEL);
        if let Some((seen, book)) = self.0.lock().expect("no panic holds it").as_ref() {
            if Some(*seen) == checkpoint {
                return Ok(book.clone());
            }
        }
        let book = Arc::new(B::read(&ctx.pool).await?);
        if let Some(checkpoint) = checkpoint {
            *self.0.lock().expect("no panic holds it") = Some((checkpoint, book.clone()));
        }
        Ok(book)
    }
}
