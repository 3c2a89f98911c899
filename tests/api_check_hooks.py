"""Schemathesis hooks of tests/api_check.py: sign most generated Stripe events.

Loaded through SCHEMATHESIS_HOOKS. Schemathesis sends JSON bodies with requests'
``json=``, i.e. ``json.dumps(body, allow_nan=False)``; the signature is computed
over exactly those bytes, so the webhook's handlers see the generated events
(three in four; the rest keep a generated signature and must be refused).
"""

import json
import random

import schemathesis

from tests.stripe_events import sign

#: The secret tests/api_check.py gives the server.
SECRET = "whsec_schemathesis_0123456789"


@schemathesis.hook
def before_call(context, case, kwargs):
    if case.operation.path != "/api/billing/stripe" or case.headers is None:
        return
    if "Stripe-Signature" not in case.headers or random.random() < 0.25:  # noqa: S311
        return
    try:
        raw = json.dumps(case.body, allow_nan=False).encode()
    except (TypeError, ValueError):
        return
    case.headers["Stripe-Signature"] = sign(raw, SECRET)
