"""How sure a share is: the exact 95% interval of k right out of n, and the words for shares and intervals. Plain, for
the verdict, the general knowledge check and the exported model's check."""

import math

LEVEL = 0.95


def _log_binomial(k: int, n: int, p: float) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1) + k * math.log(p) + (n - k) * math.log1p(-p)


def _at_most(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if p <= 0:
        return 1.0
    if p >= 1:
        return 1.0 if k >= n else 0.0
    return min(1.0, sum(math.exp(_log_binomial(i, n, p)) for i in range(k + 1)))


def _solve(goal, low: float = 0.0, high: float = 1.0) -> float:
    """The p in [low, high] where the decreasing function `goal` crosses zero, by bisection."""
    for _ in range(60):
        middle = (low + high) / 2
        low, high = (middle, high) if goal(middle) > 0 else (low, middle)
    return (low + high) / 2


def share_interval(k: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """The exact (Clopper-Pearson) interval of a share k/n: it holds the true share in `level` of samples, however few
    there are, so a handful of questions gives a wide interval rather than a confident figure."""
    if n <= 0:
        return 0.0, 1.0
    tail = (1 - level) / 2
    low = 0.0 if k == 0 else _solve(lambda p: tail - (1 - _at_most(k - 1, n, p)))
    high = 1.0 if k == n else _solve(lambda p: _at_most(k, n, p) - tail)
    return low, high


def percent(share: float) -> str:
    return f"{share:.0%}"


def interval_words(low: float, high: float) -> str:
    return f"95% interval {low:.0%}\u2013{high:.0%}"
