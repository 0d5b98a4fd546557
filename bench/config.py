"""What one bench run does: the scenario and the load, as given on the command line."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

# Scenario -> (the locust scenario it runs, the system it loads).
SCENARIOS: dict[str, tuple[str, str]] = {
    "stk": ("stk", "switch"),
    "retry_storm": ("retry_storm", "switch"),
    "mixed": ("mixed", "switch"),
    "ceiling": ("stk", "ceiling"),
    "daraja": ("daraja", "daraja"),
    "hub": ("hub", "switch"),  # transfers among four hub participants (bench/hub.py)
}


MAX_FUND = 250_000  # one M-Pesa STK collection at most
DEFAULT_MIXED_FUND = 200_000


@dataclass(frozen=True)
class RunConfig:
    scenario: str = "stk"
    users: int = 50
    merchants: int = 8  # switch scenarios: merchants sharing the load, users round-robin over them
    duration: float = 60.0  # seconds of load
    rate: float | None = None  # total requests/s, open loop; None: closed loop
    shards: int | None = None  # SWITCH_SHARDS; None: the switch's default
    workers: int | None = None  # serve --workers; None: not passed
    callback_delay: float = 1.0  # seconds the simulated customer takes to answer the prompt
    sim_latency: float = 0.0  # seconds added to each simulator answer
    out: Path = Path("bench/results")
    spawn_rate: float | None = None  # users started per second; None: all within ~1 s
    max_inflight: int = 100  # open loop: per-user cap on requests in flight
    storm_copies: int = 10
    drain_timeout: float = 60.0  # seconds to wait for completions after the load stops
    keep_logs: bool = False
    baselines: tuple[Path, ...] = ()  # earlier result files to compare with in the summary
    fund: int | None = None  # KES collected per merchant before the load; None: the scenario's
    cost: bool = False  # count what a payment costs (bench/cost.py); switch scenarios only
    ray_nodes: int = 1  # 1: the switch's own local Ray; N > 1: a cluster of N (bench/raycluster.py)

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario must be one of {sorted(SCENARIOS)}")
        if self.users < 1:
            raise ValueError("users must be >= 1")
        if self.merchants < 1:
            raise ValueError("merchants must be >= 1")
        if self.duration <= 0:
            raise ValueError("duration must be > 0")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0")
        if self.fund is not None and not 0 <= self.fund <= MAX_FUND:
            raise ValueError(f"fund must be within 0..{MAX_FUND} shillings (one STK collection)")
        if not 1 <= self.ray_nodes <= 8:
            raise ValueError("ray-nodes must be within 1..8")
        if self.ray_nodes > 1 and self.target != "switch":
            raise ValueError("--ray-nodes starts a Ray cluster for the switch: a switch scenario")
        if self.cost and (self.target != "switch" or self.scenario == "hub"):
            raise ValueError("--cost counts a payment's costs: a payment switch scenario only")

    @property
    def fund_shillings(self) -> int:
        """What each merchant is funded with before the load: ``mixed`` pays out, so by default
        its merchants start with KES 200,000 each; the other scenarios only collect."""
        if self.fund is not None:
            return self.fund
        return DEFAULT_MIXED_FUND if self.scenario == "mixed" else 0

    @property
    def locust_scenario(self) -> str:
        return SCENARIOS[self.scenario][0]

    @property
    def target(self) -> str:
        return SCENARIOS[self.scenario][1]

    @property
    def checks_payments(self) -> bool:
        """Whether completions, losses and duplicates mean anything for this target."""
        return self.target != "ceiling"

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["out"] = str(self.out)
        out["baselines"] = [str(p) for p in self.baselines]
        return out


def parse_duration(text: str) -> float:
    """``30``, ``30s``, ``2m``, ``1h`` -> seconds."""
    units = {"s": 1.0, "m": 60.0, "h": 3600.0}
    text = text.strip().lower()
    if text and text[-1] in units:
        return float(text[:-1]) * units[text[-1]]
    return float(text)
