"""Consumers of the outbox: register a handler and it gets every event, at least once.

A consumer is a name and a function taking an :class:`Event`::

    from referral_site.referrals.outbox import consumers

    def send_emails(event: consumers.Event) -> None:
        if event.type == "reward.status_changed": ...

    consumers.register("emails", send_emails, types={"reward.status_changed"})

The contract:

- ``handler(event)`` runs in a background job (``outbox.dispatch.dispatch``),
  inside the app's context, with no database transaction open: a handler that
  writes opens its own (``write_transaction``).
- Every event written after the consumer was registered is handed to it at
  least once, in roughly the order written. Progress is kept per (event,
  consumer) in ``referrals_outbox_progress``: a handler that returns marks the
  event done for that consumer; one that raises is run again later (backoff up to
  an hour, REFERRALS_OUTBOX_MAX_ATTEMPTS tries in all); a worker that dies in the
  middle leaves the event due again once its lease (REFERRALS_OUTBOX_LEASE_SECONDS)
  runs out. A consumer's failures never hold back another consumer.
- At least once means sometimes twice: deduplicate on ``event.id`` where a
  second run would show (an email sent twice, say).
- ``types`` limits the events a consumer is handed (None: every type).
- Registration is per process and global to the apps in it; register at import
  time or in the host's factory, before the worker starts.
"""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from referral_site.referrals.outbox.events import envelope


@dataclass(frozen=True)
class Event:
    """An outbox event as a consumer receives it (a plain value, not a row)."""

    #: "evt_" + 24 hex digits; unique, the same on every run for this event.
    id: str
    #: One of ``outbox.events.TYPES``, e.g. "reward.created".
    type: str
    #: The event's data, JSON values (see ``outbox.events``).
    payload: dict
    created_at: datetime

    def envelope(self) -> dict:
        """The versioned envelope a delivery carries."""
        return envelope(self.id, self.type, self.payload, self.created_at)


Handler = Callable[[Event], None]


@dataclass(frozen=True)
class Consumer:
    """A registered consumer: its name, handler and the event types it wants."""

    name: str
    handler: Handler
    types: frozenset[str] | None

    def wants(self, type_: str) -> bool:
        return self.types is None or type_ in self.types


_registry: dict[str, Consumer] = {}


def register(
    name: str, handler: Handler, *, types: Iterable[str] | None = None
) -> Handler:
    """Hand every event (of ``types``, or all) to ``handler`` from now on.

    ``name`` (at most 40 characters) keys the consumer's progress in the
    database: keep it stable across releases. Registering a name again replaces
    its handler. Returns the handler, so this can be used as a decorator's body.
    """
    if not name or len(name) > 40:
        raise ValueError("A consumer's name is 1 to 40 characters.")
    _registry[name] = Consumer(name, handler, frozenset(types) if types else None)
    return handler


#: What a host imports: ``from referral_site.referrals import register_consumer``.
register_consumer = register


def unregister(name: str) -> None:
    """Stop handing events to a consumer (its unfinished progress stays put)."""
    _registry.pop(name, None)


def registered() -> dict[str, Consumer]:
    """The consumers registered in this process, by name."""
    return dict(_registry)
