"""Versioned policy data: offense levels, enforcement priorities, protections, retention."""
