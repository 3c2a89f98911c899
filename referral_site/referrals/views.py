"""The referral blueprint: link capture, signup and the user's page.

The admin report lives in reports/views.py, on the same blueprint.
"""

from functools import wraps

from flask import (
    Blueprint,
    Response,
    abort,
    current_app,
    flash,
    g,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user

from referral_site.extensions import limiter
from referral_site.referrals.account import qr
from referral_site.referrals.attribution import services
from referral_site.referrals.capture import bots
from referral_site.referrals.capture import cookies as capture
from referral_site.referrals.forms import SignupForm
from referral_site.referrals.rewards import queries as reward_queries
from referral_site.referrals.rewards.money import format_money
from referral_site.referrals.storage.models import CaptureSource, utcnow

bp = Blueprint(
    "referrals",
    __name__,
    template_folder="templates",
    static_folder="static",
    # Distinct from the host's /static, so it is reachable without a url_prefix.
    static_url_path="/_referrals/static",
)


def admin_required(view):
    """Anonymous users go to the login page; signed-in non-admins get 403."""

    @wraps(view)
    @login_required
    def wrapped(*args, **kwargs):
        if not getattr(current_user, "is_admin", False):
            abort(403)
        return view(*args, **kwargs)

    return wrapped


def _capture(raw_code: object, source: CaptureSource) -> None:
    """Record a visit for a valid code and remember the code in a cookie."""
    if bots.is_bot_or_prefetch(request):
        return  # HEAD, prefetches, crawlers and unfurlers are not clicks
    referrer = services.find_referrer(raw_code)
    if referrer is None:
        g.referrals_code_miss = True  # counted against the code-guessing limit
        return
    if current_user.is_authenticated and current_user.id == referrer.id:
        return  # people checking their own link are not clicks
    visit_id = services.record_visit(
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


def _config_limit(key: str):
    """A rate limit read from REFERRALS_RATELIMIT_<KEY> when the request comes."""
    return lambda: current_app.config["REFERRALS_RATELIMIT_" + key]


#: Counts unknown codes per client; checked only on a miss, so that valid links,
#: the hot path, never pay for the limiter.
_code_misses = limiter.limit(_config_limit("CODE_MISSES"))


@limiter.request_filter
def _valid_link_followed() -> bool:
    """Skip the limiter's per-request work on /r/<code> until a code misses.

    ``limiter.exempt`` alone still resolves every limit on each click; the miss
    check below then runs with this filter off, so guessing is still counted.
    """
    return request.endpoint == "referrals.follow" and "referrals_code_miss" not in g


@bp.route("/r/<path:code>")
@limiter.exempt
def follow(code: str):
    """A shared referral link: count the click, then send the visitor to sign up."""
    _capture(code, CaptureSource.LINK)
    if "referrals_code_miss" in g:
        with _code_misses:  # raises RateLimitExceeded (429) past the limit
            pass
    return redirect(url_for(current_app.config["REFERRALS_LANDING_ENDPOINT"]))


@bp.route("/signup", methods=["GET", "POST"])
@limiter.limit(_config_limit("SIGNUP"), methods=["POST"])
def signup():
    """Create an account, attributed to the referrer whose code was captured."""
    if current_user.is_authenticated:
        if request.method == "POST":
            flash(
                "You are already signed in: you cannot create another account or "
                "use a referral code for yourself.",
                "error",
            )
        return redirect(url_for("referrals.mine"))
    captured = capture.read_captured_code()
    form = SignupForm()
    if request.method == "GET" and captured is not None:
        form.referral_code.data = captured.code
    if form.validate_on_submit():
        try:
            user = services.sign_up(
                name=form.name.data,
                email=form.email.data,
                password=form.password.data,
                capture=_signup_capture(form.referral_code.data, captured),
                ip=request.remote_addr,
                visitor_id=capture.visitor_id(),
            )
        except services.EmailTaken as error:
            form.email.errors.append(str(error))
        except (services.UnknownCode, services.ReferralLoop) as error:
            form.referral_code.errors.append(str(error))
        else:
            capture.forget()
            login_user(user)
            flash("Welcome! Your account is ready.", "success")
            return redirect(url_for("referrals.mine"))
    return render_template("referrals/signup.html", form=form), (
        400 if form.errors else 200
    )


def _signup_capture(typed: str | None, captured) -> services.Capture | None:
    """The evidence for the code on the form: the cookie's, or typed by hand.

    When the typed code differs from the cookie's, REFERRALS_TYPED_CODE_WINS decides;
    a cleared field always means no referral.
    """
    if not typed:
        return None
    cookie_wins = not current_app.config["REFERRALS_TYPED_CODE_WINS"]
    if captured is not None and (captured.code == typed.upper() or cookie_wins):
        return services.Capture(
            code=captured.code,
            source=captured.source,
            captured_at=captured.captured_at,
            visit_id=captured.visit_id,
        )
    return services.Capture(code=typed, source=CaptureSource.TYPED)


@bp.route("/referrals")
@login_required
def mine():
    """The signed-in user's link, figures and referred people."""
    from referral_site.referrals.account import (
        views as account_views,  # imports this module
    )

    page = request.args.get("page", 1, type=int)
    return render_template(
        "referrals/mine.html",
        link=url_for(
            "referrals.follow", code=current_user.referral_code, _external=True
        ),
        summary=services.referrer_summary(current_user.id),
        referred=services.referred_users_page(
            current_user.id, page, current_app.config["REFERRALS_PAGE_SIZE"]
        ),
        my_rewards=reward_queries.my_rewards(current_user.id),
        **account_views.my_account_context(),
    )


@bp.route("/referrals/qr.svg")
@login_required
def qr_code():
    """The signed-in user's link as a QR code (SVG), shown inline or downloaded."""
    link = url_for("referrals.follow", code=current_user.referral_code, _external=True)
    response = Response(qr.qr_svg(link), mimetype="image/svg+xml")
    if request.args.get("download"):
        name = f"referral-qr-{current_user.referral_code}.svg"
        response.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response


@bp.app_template_filter("mask_email")
def mask_email(email: str) -> str:
    """Show enough of an address to recognise it, not enough to use it."""
    local, _, domain = email.partition("@")
    name, dot, tld = domain.rpartition(".")
    return f"{local[:1]}***@{name[:1]}***{dot}{tld}" if name else f"{local[:1]}***"


@bp.app_template_filter("money")
def money(amount_minor: int, currency: str) -> str:
    """Integer minor units as money: {{ 1000|money("USD") }} -> "$10.00"."""
    return format_money(amount_minor, currency)


@bp.app_template_filter("percent")
def percent(rate: float | None) -> str:
    """A ratio as a percentage with one decimal, or a dash when undefined."""
    return "–" if rate is None else f"{rate * 100:.1f}%"


@bp.app_template_global("qr_code_svg")
def qr_code_svg(text: str, title: str = "QR code"):
    """Inline SVG QR code of text, for templates."""
    return qr.qr_inline(text, title=title)
