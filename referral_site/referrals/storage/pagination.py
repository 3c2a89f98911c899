"""Pagination of row queries (db.paginate only yields the first column's objects)."""

import math
from dataclasses import dataclass

import sqlalchemy as sa

from referral_site.referrals.storage.db import db


def page_count(total: int, per_page: int) -> int:
    """How many pages `total` rows make (at least one, empty as it may be)."""
    return max(1, math.ceil(total / per_page))


def page_within(page: int, total: int, per_page: int) -> int:
    """The requested page, or the first or last one when it lies outside.

    A huge ?page= must not reach the OFFSET, which the databases refuse beyond
    64 bits.
    """
    return min(max(1, page), page_count(total, per_page))


@dataclass(frozen=True)
class Page:
    """One page of rows plus what a pager needs; same attributes as db.paginate's."""

    items: list
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return page_count(self.total, self.per_page)

    @property
    def has_prev(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def prev_num(self) -> int | None:
        return self.page - 1 if self.has_prev else None

    @property
    def next_num(self) -> int | None:
        return self.page + 1 if self.has_next else None


def paginate_rows(
    query: sa.Select, page: int, per_page: int, *, count: sa.Select | None = None
) -> Page:
    """Run one page of a row query and a count of all its rows (two queries).

    `count` replaces the default count (of the whole query's rows) with a cheaper
    query giving the same number, e.g. one that skips joins that never drop a row.
    """
    if count is None:
        count = sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
    total = db.session.scalar(count)
    page = page_within(page, total, per_page)
    rows = db.session.execute(query.limit(per_page).offset((page - 1) * per_page))
    return Page(items=list(rows), page=page, per_page=per_page, total=total)
