"""Error types shared across worldfm.

Every error a user can cause (bad file, bad argument, unknown name) derives from `WorldfmError`, so
the CLI can turn it into a one-line message and a non-zero exit instead of a traceback.
"""

from __future__ import annotations


class WorldfmError(Exception):
    """Base class for errors caused by input the user can fix."""


class VideoError(WorldfmError):
    """A video file is missing, empty, corrupt, not a video, or cannot be written.

    The message always names the path and the reason.
    """

    def __init__(self, path: object, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class DatasetError(WorldfmError):
    """A dataset folder is missing, malformed, or does not hold what was asked for."""


class ConfigError(WorldfmError, ValueError):
    """A configuration value is out of range or of the wrong kind."""


class UnknownNameError(WorldfmError, KeyError):
    """A name (scenario, model, tier) is not in its registry; the message lists the known names."""

    def __init__(self, kind: str, name: str, known: list[str]) -> None:
        self.kind, self.name, self.known = kind, name, list(known)
        super().__init__(f"unknown {kind} {name!r}; expected one of: {', '.join(sorted(known))}")

    def __str__(self) -> str:  # KeyError would otherwise quote the whole message
        return str(self.args[0])


class GuardrailBlocked(WorldfmError):
    """A guardrail refused a prompt or a generated video; `decision` holds every check's record
    (a `worldfm.guardrails.decision.GuardDecision`)."""

    def __init__(self, what: str, decision: object, guardrail: str) -> None:
        self.what, self.decision, self.guardrail = what, decision, guardrail
        reasons = getattr(decision, "reasons", None) or ["blocked"]
        super().__init__(f"{what} blocked by the {guardrail} guardrail: {'; '.join(reasons)}")
