"""What every guardrail check reports: which checks ran, which blocked, and why.

A check that is configured but cannot run (missing model file, broken backend) is recorded with
`ran=False` and makes the decision `allowed=False`: guardrails fail closed, and the record says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class CheckResult:
    """One check on one input.

    name: the check's name, e.g. "blocklist", "classifier", "faces", "ocr".
    ran: False when the check was configured but could not run (the decision then fails closed).
    blocked: True when the check refuses the input (always True when ran is False).
    reason: why it blocked or could not run; None when it passed.
    details: JSON-serialisable extras (scores, matched terms, face counts, ...).
    """

    name: str
    ran: bool
    blocked: bool
    reason: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.ran and not self.blocked:
            raise ValueError(f"check {self.name!r} did not run, so it must block (fail closed)")
        if self.blocked and not self.reason:
            raise ValueError(f"check {self.name!r} blocked without a reason")

    @classmethod
    def failed_to_run(cls, name: str, error: BaseException | str) -> CheckResult:
        """The record of a configured check that could not run: blocks, with the error as reason."""
        return cls(name=name, ran=False, blocked=True, reason=f"check {name!r} could not run: {error}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ran": self.ran,
            "blocked": self.blocked,
            "reason": self.reason,
            "details": self.details,
        }


@dataclass(frozen=True)
class GuardDecision:
    """The outcome of a guard over all its checks: allowed only if every check ran and none blocked."""

    checks: tuple[CheckResult, ...]

    @property
    def allowed(self) -> bool:
        return bool(self.checks) and all(c.ran and not c.blocked for c in self.checks)

    @property
    def reasons(self) -> list[str]:
        """Why the input was refused, one line per blocking check ([] when allowed)."""
        if not self.checks:
            return ["no checks were configured (guardrails fail closed)"]
        return [f"{c.name}: {c.reason}" for c in self.checks if c.blocked]

    def to_dict(self) -> dict[str, Any]:
        return {
            "allowed": self.allowed,
            "reasons": self.reasons,
            "checks": [c.to_dict() for c in self.checks],
        }
