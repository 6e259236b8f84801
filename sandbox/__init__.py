"""sandbox: run untrusted programs in a rootless Linux sandbox.

The public API only; everything else is private to the package.
"""
from .api import CAPTURE, PASS, Sandbox, run
from .errors import ExecError, HostError, ProfileError, SandboxError, SetupError, UsageError
from .plan import Bind
from .profile import Limits, Profile, load_profile
from .result import Result, Verdict

__all__ = [
    "CAPTURE", "PASS", "Sandbox", "run", "Bind", "Limits", "Profile", "load_profile", "Result", "Verdict",
    "SandboxError", "UsageError", "ProfileError", "HostError", "SetupError", "ExecError",
]
