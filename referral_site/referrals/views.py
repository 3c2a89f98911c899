"""The referral blueprint: link capture, signup, the user's page, the admin report."""

from functools import wraps

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required, login_user

from referral_site.referrals import capture, reward_queries, services
from referral_site.referrals.forms import SignupForm
from referral_site.referrals.models import CaptureSource, utcnow

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
    if request.method != "GET":
        return  # HEAD and other probes are not clicks
    referrer = services.find_referrer(raw_code)
    if referrer is None:
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


@bp.route("/r/<path:code>")
def follow(code: str):
    """A shared referral link: count the click, then send the visitor to sign up."""
    _capture(code, CaptureSource.LINK)
    return redirect(url_for(current_app.config["REFERRALS_LANDING_ENDPOINT"]))


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    """Create an account, attributed to the referrer whose code was captured."""
    if current_user.is_authenticated:
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
            )
        except services.EmailTaken as error:
            form.email.errors.append(str(error))
        except services.UnknownCode as error:
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
    """The evidence for the code on the form: the cookie's, or typed by hand."""
    if not typed:
        return None
    if captured is not None and captured.code == typed.upper():
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
    )


@bp.route("/admin")
@admin_required
def admin_report():
    """Program totals and the top referrers."""
    return render_template(
        "referrals/admin.html",
        totals=services.program_totals(),
        leaders=services.top_referrers(),
    )


@bp.app_template_filter("mask_email")
def mask_email(email: str) -> str:
    """Show enough of an address to recognise it, not enough to use it."""
    local, _, domain = email.partition("@")
    name, dot, tld = domain.rpartition(".")
    return f"{local[:1]}***@{name[:1]}***{dot}{tld}" if name else f"{local[:1]}***"
