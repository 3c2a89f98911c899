"""Following referral links: /r/<code> and ?ref=<code> on any page capture a code.

Unknown codes count against one code-guessing limit, whichever way they come; a
client past it gets 429 for every code, valid or not, until the limit resets.
"""

from flask import current_app, g, redirect, request, url_for
from flask_login import current_user

from referral_site.referrals import limits
from referral_site.referrals.attribution import services
from referral_site.referrals.blueprint import bp
from referral_site.referrals.capture import bots, visits
from referral_site.referrals.capture import cookies as capture
from referral_site.referrals.storage.models import CaptureSource, utcnow
from referral_site.referrals.users import current_user_id


def _capture(raw_code: object, source: CaptureSource) -> None:
    """Record a visit for a valid code and remember the code in a cookie."""
    if bots.is_bot_or_prefetch(request):
        return  # HEAD, prefetches, crawlers and unfurlers are not clicks
    limits.refuse_known_guesser()  # 429 past the limit, valid code or not
    referrer = services.find_referrer(raw_code)
    if referrer is None:
        # Unknown codes are counted per client, from links and ?ref= alike; valid
        # links, the hot path, never pay for the limiter (see limits.init_app).
        g.referrals_code_miss = True
        limits.count_code_miss()  # raises RateLimitExceeded (429) past the limit
        return
    if current_user.is_authenticated and current_user_id() == referrer.id:
        return  # people checking their own link are not clicks
    visit_id = visits.record_visit(
        referrer,
        visitor_id=capture.visitor_id(),
        landing_path=request.path,
        source=source,
        ip=request.remote_addr,
    )
    if capture.should_replace(capture.read_captured_code()):
        capture.remember(
            capture.CapturedCode(
                code=referrer.code,
                source=source,
                captured_at=utcnow(),
                visit_id=visit_id,
            )
        )


@bp.before_app_request
def capture_query_parameter():
    """Any page opened with ?ref=<code> captures the code."""
    raw = request.args.get(current_app.config["REFERRALS_QUERY_PARAM"])
    if raw and request.endpoint != "referrals.follow":
        _capture(raw, CaptureSource.QUERY)


@bp.after_app_request
def set_capture_cookies(response):
    return capture.write_cookies(response)


def valid_link_followed() -> bool:
    """Skip the limiter's per-request work on /r/<code> until a code misses.

    ``limiter.exempt`` alone still resolves every limit on each click; the miss
    check below then runs with this filter off, so guessing is still counted.
    """
    return request.endpoint == "referrals.follow" and "referrals_code_miss" not in g


@bp.route("/r/<path:code>")
def follow(code: str):
    """A shared referral link: count the click, then send the visitor to sign up."""
    _capture(code, CaptureSource.LINK)
    return redirect(url_for(current_app.config["REFERRALS_LANDING_ENDPOINT"]))
