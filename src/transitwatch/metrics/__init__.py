"""Metrics over routing state: upstreams (and later dependence, resilience)."""
