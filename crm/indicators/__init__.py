"""Aggregations and rates: the only place that computes a rate (see STYLE.md)."""
