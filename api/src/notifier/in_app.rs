//! The in-app channel: the delivery row is the notification, so sending it is only making it
//! visible. The worker delivers it at its due time (after the recipient's working hours began,
//! when the planner held it), and from then on it is in the recipient's inbox
//! (`GET /api/v1/support/notifications`), worded from its event when it is read.

use async_trait::async_trait;
use support_domain::notification::NotificationChannel;

use super::channel::{Channel, Notification, Outcome};

pub struct InAppChannel;

#[async_trait]
impl Channel for InAppChannel {
    fn channel(&self) -> NotificationChannel {
        NotificationChannel::InApp
    }

    async fn send(&self, _notification: &Notification) -> Outcome {
        Outcome::Delivered { status: None }
    }
}
