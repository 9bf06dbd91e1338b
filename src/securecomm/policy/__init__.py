"""Versioned policy data: offense levels, enforcement priorities, protections, state limits, retention.

The data lives in ``policy/data/``; code here only evaluates it. See docs/policy.md.
"""

from securecomm.policy.model import (LEVELS, Policy, PolicyError, Priority, StateLimit, load_policy, load_scheme,
                                     policy_for, policy_versions, state_limit_for)
from securecomm.policy.retention import RetentionPolicy, load_retention, retention_policy_for

__all__ = [
    "LEVELS", "Policy", "PolicyError", "Priority", "StateLimit", "load_policy",
    "load_scheme", "policy_for", "policy_versions", "state_limit_for", "RetentionPolicy", "load_retention",
    "retention_policy_for",
]
