"""Notifications: events derived from each unit of work, a transactional outbox, and its delivery."""
