"""What each survey figure means: pure functions of how many answers gave each score. README's "Experience
measures" says the same in words; `tests/interactions/analytics` computes each by hand."""

from __future__ import annotations

from typing import Any

from interactions.catalogue.schemas import SURVEY_RANGES

# The two best and the two worst scores of each scale. CES is read as CES 2.0 asks it ("the company made it
# easy to handle my issue", 1 strongly disagree to 7 strongly agree): 7 is the least effort.
TOP_2 = {"csat": (4, 5), "ces": (6, 7), "nps": (9, 10)}
BOTTOM_2 = {"csat": (1, 2), "ces": (1, 2), "nps": (0, 1)}
# Net Promoter Score: promoters answer 9-10, passives 7-8, detractors 0-6.
PROMOTERS, PASSIVES, DETRACTORS = range(9, 11), range(7, 9), range(0, 7)


def _rate(part: int, whole: int) -> float:
    return round(part / whole, 4)


def survey_summary(metric: str, counts: dict[int, int]) -> dict[str, Any]:
    """The figures of `counts` (score -> answers) for a metric: answers, the distribution over every score of
    the scale, the mean, the top-2 and bottom-2 box rates (shares of answers, 0 to 1), and for NPS the shares
    of promoters, passives and detractors and the score (percentage points of promoters minus detractors)."""
    low, high = SURVEY_RANGES[metric]
    answers = sum(counts.values())
    summary: dict[str, Any] = {
        "metric": metric,
        "answers": answers,
        "distribution": {str(score): counts.get(score, 0) for score in range(low, high + 1)},
        "mean": None,
        "top2_rate": None,
        "bottom2_rate": None,
    }
    if metric == "nps":
        summary.update(promoters_rate=None, passives_rate=None, detractors_rate=None, nps=None)
    if not answers:
        return summary
    share = {name: sum(counts.get(s, 0) for s in scores) for name, scores in _SHARES[metric].items()}
    summary.update(
        mean=round(sum(score * n for score, n in counts.items()) / answers, 4),
        top2_rate=_rate(share["top2"], answers),
        bottom2_rate=_rate(share["bottom2"], answers),
    )
    if metric == "nps":
        summary.update(
            promoters_rate=_rate(share["promoters"], answers),
            passives_rate=_rate(share["passives"], answers),
            detractors_rate=_rate(share["detractors"], answers),
            nps=round(100 * (share["promoters"] - share["detractors"]) / answers, 2),
        )
    return summary


_SHARES = {
    metric: {
        "top2": TOP_2[metric],
        "bottom2": BOTTOM_2[metric],
        **(
            {"promoters": PROMOTERS, "passives": PASSIVES, "detractors": DETRACTORS}
            if metric == "nps"
            else {}
        ),
    }
    for metric in SURVEY_RANGES
}


def _mean(total: int, count: int) -> float | None:
    return round(total / count, 1) if count else None


def handling_summary(sums: dict[str, int]) -> dict[str, Any]:
    """The handling figures of summed counts: how many of each step, and the mean seconds of each timed one
    (null when there was none)."""
    return {
        "calls": sums["calls"],
        "voice_handling_seconds": _mean(sums["call_seconds"], sums["calls"]),
        "transfers": sums["transfers"],
        "first_responses": sums["first_responses"],
        "first_response_seconds": _mean(sums["first_response_seconds"], sums["first_responses"]),
        "resolutions": sums["resolutions"],
        "resolution_seconds": _mean(sums["resolution_seconds"], sums["resolutions"]),
        "digital_handled": sums["handled"],
        "digital_handling_seconds": _mean(sums["handle_seconds"], sums["handled"]),
        "reopens": sums["reopens"],
    }
