"""The code-step sandbox: untrusted Python and JavaScript in a bubblewrap sandbox (see docs/security.md)."""

from .launcher import Limits, Outcome, SandboxConfig, SandboxError, pool, run

__all__ = ["Limits", "Outcome", "SandboxConfig", "SandboxError", "pool", "run"]
