"""Provider webhooks: delivery statuses and customers' replies, as interactions."""
