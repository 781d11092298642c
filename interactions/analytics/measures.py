"""What each survey figure means: pure functions of how many answers gave each score. README's "Experience
measures" says the same in words; `tests/interactions/analytics` computes each by hand."""

from __future__ import annotations

from collections.abc import Sequence
from operator import mul
from typing import Any

from interactions.catalogue.currencies import from_units
from interactions.catalogue.schemas import SURVEY_RANGES

# The two best and the two worst scores of each scale. CES is read as CES 2.0 asks it ("the company made it
# easy to handle my issue", 1 strongly disagree to 7 strongly agree): 7 is the least effort.
TOP_2 = {"csat": (4, 5), "ces": (6, 7), "nps": (9, 10)}
BOTTOM_2 = {"csat": (1, 2), "ces": (1, 2), "nps": (0, 1)}
# Net Promoter Score: promoters answer 9-10, passives 7-8, detractors 0-6.
PROMOTERS, PASSIVES, DETRACTORS = range(9, 11), range(7, 9), range(0, 7)


def survey_summary(metric: str, counts: dict[int, int]) -> dict[str, Any]:
    """The figures of `counts` (score -> answers) for a metric: answers, the distribution over every score of
    the scale, the mean, the top-2 and bottom-2 box rates (shares of answers, 0 to 1), and for NPS the shares
    of promoters, passives and detractors and the score (percentage points of promoters minus detractors)."""
    return survey_figures(metric, [counts.get(score, 0) for score in range(0, 11)])


def survey_figures(metric: str, scores: Sequence[int]) -> dict[str, Any]:
    """survey_summary's figures of `scores` (answers per score, indexed by the score, 0 to 10): what a read of
    thousands of buckets calls, with the scale's labels and boxes (slices of `scores`) worked out once per
    metric."""
    low, high, labels, points, boxes = _SCALES[metric]
    given = scores[low:high]
    answers = sum(given)
    if not answers:
        return {"metric": metric, "answers": 0, "distribution": dict(zip(labels, given, strict=True)),
                **_NO_FIGURES[metric]}  # fmt: skip
    summary: dict[str, Any] = {
        "metric": metric,
        "answers": answers,
        "distribution": dict(zip(labels, given, strict=True)),
        "mean": round(sum(map(mul, points, given)) / answers, 4),
        "top2_rate": round(sum(scores[boxes[0]]) / answers, 4),
        "bottom2_rate": round(sum(scores[boxes[1]]) / answers, 4),
    }
    if metric == "nps":
        promoters, passives, detractors = sum(scores[boxes[2]]), sum(scores[boxes[3]]), sum(scores[boxes[4]])
        summary["promoters_rate"] = round(promoters / answers, 4)
        summary["passives_rate"] = round(passives / answers, 4)
        summary["detractors_rate"] = round(detractors / answers, 4)
        summary["nps"] = round(100 * (promoters - detractors) / answers, 2)
    return summary


def _csat(s1, s2, s3, s4, s5):
    """CSAT's figures of its answers per score: (answers, mean, top2_rate, bottom2_rate), the last three null
    when there is no answer. _ces and _nps are the same for their scales; survey_figures defines them."""
    answers = s1 + s2 + s3 + s4 + s5
    if not answers:
        return 0, None, None, None
    return (
        answers,
        round((s1 + 2 * s2 + 3 * s3 + 4 * s4 + 5 * s5) / answers, 4),
        round((s4 + s5) / answers, 4),
        round((s1 + s2) / answers, 4),
    )


def _ces(s1, s2, s3, s4, s5, s6, s7):
    answers = s1 + s2 + s3 + s4 + s5 + s6 + s7
    if not answers:
        return 0, None, None, None
    return (
        answers,
        round((s1 + 2 * s2 + 3 * s3 + 4 * s4 + 5 * s5 + 6 * s6 + 7 * s7) / answers, 4),
        round((s6 + s7) / answers, 4),
        round((s1 + s2) / answers, 4),
    )


def _nps(s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10):
    """NPS's figures: CSAT's, then promoters_rate, passives_rate, detractors_rate and nps."""
    answers = s0 + s1 + s2 + s3 + s4 + s5 + s6 + s7 + s8 + s9 + s10
    if not answers:
        return 0, None, None, None, None, None, None, None
    promoters, detractors = s9 + s10, s0 + s1 + s2 + s3 + s4 + s5 + s6
    weighted = s1 + 2 * s2 + 3 * s3 + 4 * s4 + 5 * s5 + 6 * s6 + 7 * s7 + 8 * s8 + 9 * s9 + 10 * s10
    return (
        answers,
        round(weighted / answers, 4),
        round(promoters / answers, 4),
        round((s0 + s1) / answers, 4),
        round(promoters / answers, 4),
        round((s7 + s8) / answers, 4),
        round(detractors / answers, 4),
        round(100 * (promoters - detractors) / answers, 2),
    )


def _csat_line(bucket, group, s0, s1, s2, s3, s4, s5, *_):
    answers, mean, top2, bottom2 = _csat(s1, s2, s3, s4, s5)
    return {
        "bucket": bucket,
        "group": group,
        "metric": "csat",
        "answers": answers,
        "distribution": {"1": s1, "2": s2, "3": s3, "4": s4, "5": s5},
        "mean": mean,
        "top2_rate": top2,
        "bottom2_rate": bottom2,
    }


def _ces_line(bucket, group, s0, s1, s2, s3, s4, s5, s6, s7, *_):
    answers, mean, top2, bottom2 = _ces(s1, s2, s3, s4, s5, s6, s7)
    return {
        "bucket": bucket,
        "group": group,
        "metric": "ces",
        "answers": answers,
        "distribution": {"1": s1, "2": s2, "3": s3, "4": s4, "5": s5, "6": s6, "7": s7},
        "mean": mean,
        "top2_rate": top2,
        "bottom2_rate": bottom2,
    }


def _nps_line(bucket, group, s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10):
    answers, mean, top2, bottom2, promoters, passives, detractors, nps = _nps(
        s0, s1, s2, s3, s4, s5, s6, s7, s8, s9, s10
    )
    return {
        "bucket": bucket,
        "group": group,
        "metric": "nps",
        "answers": answers,
        "distribution": {
            "0": s0,
            "1": s1,
            "2": s2,
            "3": s3,
            "4": s4,
            "5": s5,
            "6": s6,
            "7": s7,
            "8": s8,
            "9": s9,
            "10": s10,
        },
        "mean": mean,
        "top2_rate": top2,
        "bottom2_rate": bottom2,
        "promoters_rate": promoters,
        "passives_rate": passives,
        "detractors_rate": detractors,
        "nps": nps,
    }


# A line of a survey read, by metric: function(bucket, group, score_0, ..., score_10) -> its bucket and group,
# then survey_figures(metric, scores), with the scale's scores and boxes written out. A read by day and agent
# over months has 10,000 lines, and these take about half the time of survey_figures' slices and sums.
# `tests/interactions/analytics/test_surveys.py` checks that each gives survey_figures' figures, in its key
# order, for any answers.
SURVEY_LINES = {"csat": _csat_line, "ces": _ces_line, "nps": _nps_line}
# A metric's figures as a tuple, from its answers per score over its scale (score_low to score_high): the
# figures of its line in their order, which SURVEY_COLUMNS name (NPS adds NPS_COLUMNS).
SURVEY_FIGURES = {"csat": _csat, "ces": _ces, "nps": _nps}
SURVEY_COLUMNS = ["metric", "answers", "mean", "top2_rate", "bottom2_rate"]
NPS_COLUMNS = ["promoters_rate", "passives_rate", "detractors_rate", "nps"]


def _slice(box: Sequence[int]) -> slice:
    """A box (scores in a row) as the slice of a list of answers per score."""
    low, high = min(box), max(box)
    assert list(box) == list(range(low, high + 1)), f"{box} is not scores in a row"
    return slice(low, high + 1)


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
# metric -> (its lowest score, one past its highest, the scores as distribution keys, the scores, its boxes)
_SCALES = {
    metric: (
        low,
        high + 1,
        [str(score) for score in range(low, high + 1)],
        list(range(low, high + 1)),
        [_slice(box) for box in _SHARES[metric].values()],  # top2, bottom2[, promoters, passives, detractors]
    )
    for metric, (low, high) in SURVEY_RANGES.items()
}
assert set(SURVEY_LINES) == set(SURVEY_FIGURES) == set(SURVEY_RANGES), "a survey metric without its line"
_NO_FIGURES = {
    metric: dict.fromkeys(
        ["mean", "top2_rate", "bottom2_rate"]
        + (["promoters_rate", "passives_rate", "detractors_rate", "nps"] if metric == "nps" else [])
    )
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
        "first_contact_resolutions": sums["fcr"],
        "fcr_rate": round(sums["fcr"] / sums["resolutions"], 4) if sums["resolutions"] else None,
        "repeat_contacts": sums["repeat_contacts"],
    }


def callback_attempt_summary(attempt: int, sums: dict[str, int]) -> dict[str, Any]:
    """A callback attempt's figures: the calls agents reported for it, by outcome, and the share that
    reached the customer (completed)."""
    calls = sum(sums.values())
    return {
        "attempt": attempt,
        "calls": calls,
        **sums,
        "success_rate": round(sums["completed"] / calls, 4) if calls else None,
    }


# The effort index of a thread, 0 (none) to 100: points for what the customer had to do, fixed here so that
# two readings of the same log agree. A repeat is a contact after the first; a switch a contact on another
# channel than their previous one; a transfer a call handed on; the wait for a first answer counts a point
# per 12 minutes, at most 25.
EFFORT_POINTS = {"repeat": 15, "switch": 15, "transfer": 10}
WAIT_SECONDS_PER_POINT, WAIT_POINTS_MAX = 720, 25


def effort_index(*, contacts: int, switches: int, transfers: int, wait_seconds: int) -> int:
    repeats = max(0, contacts - 1)
    points = (
        EFFORT_POINTS["repeat"] * repeats
        + EFFORT_POINTS["switch"] * switches
        + EFFORT_POINTS["transfer"] * transfers
        + min(WAIT_POINTS_MAX, wait_seconds // WAIT_SECONDS_PER_POINT)
    )
    return min(100, points)


def _pearson(n: int, sx: int, sy: int, sxx: int, syy: int, sxy: int) -> float | None:
    spread = (n * sxx - sx * sx) * (n * syy - sy * sy)
    if n < 2 or spread <= 0:
        return None
    return round((n * sxy - sx * sy) / spread**0.5, 3)


def effort_summary(sums: dict[str, int]) -> dict[str, Any]:
    """The effort figures of summed counts: per thread first resolved, the mean contacts, channel switches,
    transfers, repeats and effort index; and over the threads whose customer also answered a CES, the mean
    index beside the mean CES, and how well they agree (Pearson's r between the index and 8 - CES, so that
    1 is "they say the same": more effort, a worse CES)."""
    threads, pairs = sums["threads"], sums["pairs"]
    mean = lambda total: round(total / threads, 2) if threads else None  # noqa: E731
    return {
        "threads": threads,
        "contacts": mean(sums["contacts"]),
        "switches": mean(sums["switches"]),
        "transfers": mean(sums["transfers"]),
        "repeats": mean(sums["repeats"]),
        "effort_index": mean(sums["index_sum"]),
        "with_ces": pairs,
        "effort_index_with_ces": round(sums["pair_index_sum"] / pairs, 2) if pairs else None,
        "ces_mean": round(8 - sums["pair_ces_sum"] / pairs, 2) if pairs else None,
        "agreement": _pearson(
            pairs,
            sums["pair_index_sum"],
            sums["pair_ces_sum"],
            sums["sum_xx"],
            sums["sum_yy"],
            sums["sum_xy"],
        ),
    }


def step_summary(step: str, sums: dict[str, int]) -> dict[str, Any]:
    """A journey step's figures: visits to it, the answers waited for there and their mean wait, transfers,
    the dead-ends reached there by kind and in all, and for a self-service step the visits that bounced to
    an assisted contact and their share of its visits."""
    dead_ends = sums["unanswered"] + sums["abandoned"] + sums["idled"]
    self_service = step.endswith(":self-service")
    return {
        "step": step,
        "entries": sums["entries"],
        "waits": sums["waits"],
        "mean_wait_seconds": _mean(sums["wait_seconds"], sums["waits"]),
        "transfers": sums["transfers"],
        "unanswered": sums["unanswered"],
        "abandoned": sums["abandoned"],
        "idled": sums["idled"],
        "dead_ends": dead_ends,
        "bounced": sums["bounced"] if self_service else None,
        "bounce_rate": round(sums["bounced"] / sums["entries"], 4)
        if self_service and sums["entries"]
        else None,
    }


def median_of_bins(counts: list[int], bounds: list[int]) -> float | None:
    """The median of values counted in bins (bin n holds values from bounds[n - 1], or 0, up to bounds[n];
    the last is open): the grouped median, linear within the bin the middle value falls in, so exact to the
    bin. In the open bin it is the bin's lower bound (at least that)."""
    total = sum(counts)
    if not total:
        return None
    middle, before = total / 2, 0
    for n, count in enumerate(counts):
        if count and before + count >= middle:
            low = bounds[n - 1] if n else 0
            if n == len(bounds):
                return float(low)
            return round(low + (middle - before) / count * (bounds[n] - low), 1)
        before += count
    return None  # not reached: the counts sum to total


def transition_summary(sums: dict[str, int], bounds: list[int]) -> dict[str, Any]:
    """A transition's figures: how many, the mean seconds between the two steps and their median (from the
    bins); both null for a journey's first step, which follows none."""
    bins = [sums[f"gap_{n}"] for n in range(len(bounds) + 1)]
    return {
        "transitions": sums["transitions"],
        "mean_seconds": _mean(sums["gap_seconds"], sum(bins)),  # null from `start`: nothing is timed
        "median_seconds": median_of_bins(bins, bounds),
    }


# New business is what sales and upgrades brought; net new business takes off what refunds gave back and
# cancellations ended. A retention keeps business the customer already had: it is shown on its own, in
# neither (counting it as new would reward losing a customer and winning them back).
NEW_BUSINESS = ("sale", "upgrade")
LOST_BUSINESS = ("refund", "cancellation")
_PLURAL = {"sale": "sales", "upgrade": "upgrades", "retention": "retentions",
           "cancellation": "cancellations", "refund": "refunds"}  # fmt: skip


def outcome_summary(currency: str, sums: dict[str, int]) -> dict[str, Any]:
    """The outcome figures of summed counts in one currency: how many of each kind and their value, new
    business (sales + upgrades) and net new business (sales + upgrades - refunds - cancellations). Values
    are decimal strings with 4 decimals, summed exactly (as integers of ten-thousandths)."""
    new = sum(sums[f"{kind}_value"] for kind in NEW_BUSINESS)
    lost = sum(sums[f"{kind}_value"] for kind in LOST_BUSINESS)
    figures: dict[str, Any] = {"currency": currency}
    for kind, plural in _PLURAL.items():
        figures[plural] = sums[plural]
        figures[f"{kind}_value"] = from_units(sums[f"{kind}_value"])
    figures.update(new_business=from_units(new), net_new_business=from_units(new - lost))
    return figures
