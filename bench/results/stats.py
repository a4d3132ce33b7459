"""Small statistics for comparing timings: geometric means and a bootstrap of a median ratio."""
import math

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def geomean(values):
    """Geometric mean of positive numbers (the right mean for ratios: 2x and 0.5x average to 1x)."""
    values = [v for v in values if v and v > 0]
    if not values:
        return None
    return math.exp(sum(math.log(v) for v in values) / len(values))


def spread(values):
    """(min, max) of positive numbers, or None."""
    values = [v for v in values if v and v > 0]
    return (min(values), max(values)) if values else None


def median_ratio_ci(base, new, level=0.95, resamples=BOOTSTRAP_RESAMPLES, seed=BOOTSTRAP_SEED):
    """Confidence interval of median(new) / median(base) by a seeded percentile bootstrap.

    Each run's samples are resampled with replacement, independently (the two runs are
    separate measurements), and the ratio of the resampled medians collected."""
    rng = np.random.default_rng(seed)
    base, new = np.asarray(base, dtype=float), np.asarray(new, dtype=float)
    base_medians = np.median(rng.choice(base, size=(resamples, base.size)), axis=1)
    new_medians = np.median(rng.choice(new, size=(resamples, new.size)), axis=1)
    ratios = new_medians / base_medians
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return float(low), float(high)
