"""Outgoing email: every message is a row first (kept, listed, retried), then sent by an RQ job."""
