"""Percentiles and medians in SQL, the same numbers on SQLite and PostgreSQL (and numpy).

The method is linear interpolation between the closest ranks: for ``n`` sorted values
``x[0] <= ... <= x[n-1]`` the ``p``-quantile is ``x[i] + f * (x[i+1] - x[i])`` with ``h = (n - 1) p``,
``i = floor(h)``, ``f = h - i`` (Hyndman & Fan 1996, Am Stat 50:361, definition 7: numpy's default
``method="linear"``, PostgreSQL's ``percentile_cont``, Excel's ``PERCENTILE.INC``).  SQLite has
no percentile function, so both databases run the same portable SQL: ``row_number()`` and
``count()`` over the group (window functions, SQLite >= 3.25) rank the values, and the group's
aggregate picks the two values at ranks ``i + 1`` and ``i + 2``.  ``i`` and ``f`` come from integer
arithmetic (``p`` is a whole number of quarters), so no rounding differs between the databases;
the interpolation is written as numpy's ``_lerp`` writes it (``b - (b - a)(1 - f)`` when
``f >= 0.5``), so the results are numpy's to the last bit.
"""

from __future__ import annotations

import sqlalchemy as sa

# The quantiles qa reports, as quarters: the median (2/4) and the 75th percentile (3/4).
MEDIAN_QUARTERS, P75_QUARTERS = 2, 3


def ranked(selectable: sa.Subquery, partition: list[str], value: str = "v") -> sa.Subquery:
    """``selectable`` with each row's rank ``rn`` (1-based, by ``value``) and its group's size ``n``
    (the rows whose ``partition`` columns are equal; NULL keys form one group)."""
    cols = [selectable.c[name] for name in partition]
    return sa.select(
        selectable,
        sa.func.row_number().over(partition_by=cols, order_by=selectable.c[value]).label("rn"),
        sa.func.count().over(partition_by=cols).label("n"),
    ).subquery()


def _rank_of(n, quarters: int, offset: int):
    """The 1-based rank of the lower (``offset`` 0) or upper (1) value a quantile interpolates."""
    return (n - 1) * quarters // 4 + 1 + offset


def pick(rows: sa.Subquery, quarters: int, offset: int, *, over: list | None = None, value: str = "v"):
    """The value at the quantile's lower/upper rank of each group of ``ranked`` rows: an aggregate
    (``GROUP BY`` the partition), or with ``over`` (the partition's columns) a window aggregate
    that gives it on every row."""
    expression = sa.func.max(sa.case((rows.c.rn == _rank_of(rows.c.n, quarters, offset), rows.c[value])))
    return expression.over(partition_by=over) if over is not None else expression


def interpolate(n, low, high, quarters: int):
    """The quantile from the two picked values (numpy's ``_lerp``; ``high`` is NULL when ``low`` is
    the last value, and then the fraction is 0)."""
    fraction = ((n - 1) * quarters % 4) * 0.25
    return sa.case(
        (fraction == 0, low),
        (fraction >= 0.5, high - (high - low) * (1 - fraction)),
        else_=low + (high - low) * fraction,
    )


def distribution(long: sa.Subquery, partition: list[str], *, limit=None, value: str = "v") -> sa.Subquery:
    """Per group of ``long`` (``GROUP BY partition``): ``n``, ``mean``, ``median``, ``p75``, ``max``
    of ``value``, and with ``limit`` (an expression over the partition columns, NULL for none)
    ``n_above``: how many values exceed it."""
    rows = ranked(long, partition, value)
    parts = [rows.c[name] for name in partition]
    extra = []
    if limit is not None:
        bound = limit(rows.c)
        extra.append(sa.func.sum(sa.case((rows.c[value] > bound, 1), else_=0)).label("n_above"))
    picked = sa.select(
        *parts,
        sa.func.max(rows.c.n).label("n"),
        sa.func.avg(rows.c[value]).label("mean"),
        sa.func.max(rows.c[value]).label("max"),
        pick(rows, MEDIAN_QUARTERS, 0, value=value).label("median_low"),
        pick(rows, MEDIAN_QUARTERS, 1, value=value).label("median_high"),
        pick(rows, P75_QUARTERS, 0, value=value).label("p75_low"),
        pick(rows, P75_QUARTERS, 1, value=value).label("p75_high"),
        *extra,
    ).group_by(*parts).subquery()
    c = picked.c
    return sa.select(
        *[c[name] for name in partition], c.n, c.mean, c.max,
        interpolate(c.n, c.median_low, c.median_high, MEDIAN_QUARTERS).label("median"),
        interpolate(c.n, c.p75_low, c.p75_high, P75_QUARTERS).label("p75"),
        *([c.n_above] if limit is not None else []),
    ).subquery()
