-- The in-app inbox: an IN_APP delivery is the notification itself, visible to its recipient once
-- the notifier has delivered it. Whether it was read is the recipient's own state, not an event
-- (as a resend is not): set by `POST /notifications/{id}/read` and `/notifications/read-all`.
ALTER TABLE notification_deliveries ADD COLUMN read_at timestamptz;

-- A recipient's inbox: their delivered in-app notifications, unread first, then newest first; and
-- their unread count (the leading `read_at IS NOT NULL` = false range).
CREATE INDEX notification_deliveries_inbox
    ON notification_deliveries (recipient, (read_at IS NOT NULL), delivered_at DESC, id DESC)
    WHERE channel = 'IN_APP' AND state = 'DELIVERED';
