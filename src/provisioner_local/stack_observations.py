"""What a LocalStack lets a caller watch and steer while it runs: the events put on its buses, the faults it
injects (in the functions' AWS calls and in the Labellerr stand-in), and the AWS calls the functions made."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from provisioner_local.eventbridge import EventLog
from provisioner_local.faults import FaultInjector
from provisioner_local.labellerr_standin import LabellerrStandIn, split_faults
from provisioner_local.stack_common import LocalStackError
from provisioner_local.stack_labellerr import LabellerrHandoff


class StackObservations:
    """LocalStack's events and faults (a base class of LocalStack, which sets these attributes)."""

    _event_log: EventLog
    _faults: FaultInjector
    _labellerr: LabellerrHandoff

    @property
    def labellerr(self) -> LabellerrStandIn | None:
        """The Labellerr stand-in while it runs (labellerr=True and a template with the hand-off)."""
        return self._labellerr.standin

    @property
    def labellerr_enabled(self) -> bool:
        return self._labellerr.enabled

    def events(
        self, bus_name: str | None = None, detail_type: str | None = None, source: str | None = None
    ) -> list[dict[str, Any]]:
        """Every event put on any bus since this stack started, oldest first, optionally filtered.

        Each is a dict with `id`, `bus` (name), `source`, `detail-type`, `detail` (parsed JSON), `time`
        (ISO 8601), `resources`, `account` and `region`. Events put through any running stack's server count
        (they share moto); calls made under `mock_aws` in this process do not.
        """
        return self._event_log.select(bus_name=bus_name, detail_type=detail_type, source=source)

    def wait_for_event(
        self,
        detail_type: str | None = None,
        *,
        bus_name: str | None = None,
        source: str | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
        timeout: float = 10.0,
    ) -> dict[str, Any]:
        """The first logged event, already there or yet to come, that matches; LocalStackError on timeout."""

        def matches(event: dict[str, Any]) -> bool:
            return (
                (bus_name is None or event["bus"] == bus_name)
                and (detail_type is None or event["detail-type"] == detail_type)
                and (source is None or event["source"] == source)
                and (where is None or where(event))
            )

        event = self._event_log.wait_for(matches, timeout)
        if event is None:
            raise LocalStackError(
                f"no event (detail-type {detail_type!r}, bus {bus_name!r}, source {source!r}) "
                f"within {timeout:g} s"
            )
        return event

    def clear_events(self) -> None:
        self._event_log.clear()

    @property
    def injected_faults(self) -> list[str]:
        """`service:Operation` (`labellerr:operation` for the stand-in) of every call failed by a fault since
        the faults were last set."""
        fired = list(self._faults.fired)
        return fired + (self.labellerr.injected_faults if self.labellerr is not None else [])

    @property
    def faults(self) -> tuple[str, ...]:
        aws = tuple(str(rule) for rule in self._faults.rules)
        return aws + (self.labellerr.faults if self.labellerr is not None else tuple(self._labellerr.faults))

    def set_faults(self, faults: Sequence[str]) -> None:
        aws_faults, labellerr_faults = self._split_faults(faults)
        if self.labellerr is not None:
            self.labellerr.set_faults(labellerr_faults)
        self._labellerr.faults = labellerr_faults
        self._faults.set(aws_faults)

    def _split_faults(self, faults: Sequence[str]) -> tuple[list[str], list[str]]:
        aws_faults, labellerr_faults = split_faults(faults)
        if labellerr_faults and not self.labellerr_enabled:
            raise LocalStackError(
                f"{', '.join(labellerr_faults)}: Labellerr faults need the stand-in (labellerr=True; the CLI "
                "starts it unless --no-labellerr)"
            )
        return aws_faults, labellerr_faults

    @property
    def function_calls(self) -> list[tuple[str | None, str, str]]:
        """(function, service, operation) of each AWS call the functions made since faults were last set."""
        return self._faults.calls

    @property
    def answered_calls(self) -> set[tuple[str | None, str, str]]:
        """The function calls among those that AWS answered with success (what a lost reply needs)."""
        return self._faults.answered
