"""A small shop with accounts of its own, with referrals added by the README's recipe.

Run it from this folder (the repository's `make install` or `pip install -e ../..`
first)::

    flask --app shop db init                                # the migrations/ folder
    flask --app shop db migrate -m customers --rev-id shop_0001
    flask --app shop db merge heads -m "add referrals"      # joins the plugin's branch
    flask --app shop db upgrade
    flask --app shop run
"""

import os
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Flask, flash, redirect, render_template, url_for
from flask_login import (
    LoginManager,
    UserMixin,
    current_user,
    login_required,
    login_user,
    logout_user,
)
from flask_migrate import Migrate
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length, Optional

from referral_site.referrals import (
    BrowserForm,
    ReferralError,
    Referrals,
    attribute_signup,
    captured_code,
    rate_limited,
    skip_referrals_tables,
    with_referrals_migrations,
)

db = SQLAlchemy()
# The plugin's tables come from its own Alembic branch; the shop's autogenerate
# leaves them alone.
migrate = Migrate(include_object=skip_referrals_tables)
migrate.configure(with_referrals_migrations)
login_manager = LoginManager()
referrals = Referrals()


class Customer(UserMixin, db.Model):
    """The shop's own accounts: the plugin adds no column to this table."""

    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(40), unique=True)
    email: Mapped[str] = mapped_column(sa.String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255))
    is_admin: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(
        sa.DateTime(timezone=True), default=lambda: datetime.now(UTC)
    )


class RegisterForm(BrowserForm):
    """BrowserForm: every field refuses control characters (NUL...) first."""

    username = StringField("Username", validators=[DataRequired(), Length(max=40)])
    email = EmailField("Email", validators=[DataRequired(), Email()])
    password = PasswordField("Password", validators=[DataRequired(), Length(min=8)])
    referral_code = StringField("Referral code", validators=[Optional()])


class LogoutForm(BrowserForm):
    """Signing out is a POST with the form's own CSRF token."""


class LoginForm(BrowserForm):
    username = StringField("Username", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def create_app(config: dict | None = None) -> Flask:
    """The shop: its database, accounts and pages, plus the referral plugin."""
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=os.environ.get("SHOP_SECRET_KEY", "change-me-in-production"),
        SQLALCHEMY_DATABASE_URI=os.environ.get(
            "SHOP_DATABASE_URL", f"sqlite:///{os.path.abspath('shop.db')}"
        ),
        # The recipe: the shop has its own signup, layout and URL space.
        REFERRALS_AUTH_VIEWS=False,
        REFERRALS_LANDING_ENDPOINT="register",
        REFERRALS_LAYOUT="base.html",
        REFERRALS_URL_PREFIX="/rewards",
        # The plugin's first revision runs after the one creating customers.
        REFERRALS_MIGRATIONS_DEPENDS_ON="shop_0001",
    )
    app.config.update(config or {})
    db.init_app(app)
    migrate.init_app(app, db)
    login_manager.init_app(app)
    login_manager.login_view = "login"
    referrals.init_app(app, db=db, user_model=Customer)
    _register_views(app)
    return app


@login_manager.user_loader
def load_customer(customer_id: str) -> Customer | None:
    return db.session.get(Customer, int(customer_id))


def _register_views(app: Flask) -> None:
    @app.route("/")
    def index():
        return render_template("index.html")

    @app.route("/register", methods=["GET", "POST"])
    @rate_limited("SIGNUP")
    def register():
        form = RegisterForm()
        if not form.is_submitted():
            form.referral_code.data = captured_code()
        if form.validate_on_submit():
            customer = Customer(
                username=form.username.data,
                email=form.email.data.lower(),
                password_hash=generate_password_hash(form.password.data),
            )
            db.session.add(customer)
            try:
                db.session.flush()  # a taken username or email stops here
                attribute_signup(customer, typed_code=form.referral_code.data or "")
            except ReferralError as error:
                db.session.rollback()
                form.referral_code.errors.append(str(error))
            except sa.exc.IntegrityError:
                db.session.rollback()
                form.username.errors.append("That username or email is taken.")
            else:
                db.session.commit()
                login_user(customer)
                flash("Welcome to the shop!")
                return redirect(url_for("referrals.mine"))
        return render_template("register.html", form=form)

    @app.route("/login", methods=["GET", "POST"])
    def login():
        form = LoginForm()
        if form.validate_on_submit():
            customer = db.session.scalar(
                sa.select(Customer).where(Customer.username == form.username.data)
            )
            if customer and check_password_hash(
                customer.password_hash, form.password.data
            ):
                login_user(customer)
                return redirect(url_for("index"))
            flash("Wrong username or password.")
        return render_template("login.html", form=form)

    @app.post("/logout")
    @login_required
    def logout():
        if LogoutForm().validate_on_submit():
            logout_user()
        return redirect(url_for("index"))

    @app.context_processor
    def shop_user():
        return {"customer": current_user, "logout_form": LogoutForm()}
