"""Deployment and usage of the services (offers) in each structure: statuses, eligibility, usage figures."""
