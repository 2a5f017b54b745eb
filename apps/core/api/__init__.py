"""Shared REST plumbing: one base viewset, one error shape, authentication, permissions, throttles, pagination."""
