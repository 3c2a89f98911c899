"""The memory baseline: bare Flask + Flask-SQLAlchemy, one model, one query a request.

Reads the benchmark's own database (DATABASE_URL, the same one the site serves) with
nothing else loaded: no login, forms, limiter, migrations or password hashing.
``GET /users/<id>`` loads one user by primary key and answers their name.
"""

import os

import sqlalchemy as sa
from flask import Flask, abort
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    """Declarative base of the one model."""


db = SQLAlchemy(model_class=Base)


class User(db.Model):
    """The site's users table, as much of it as the query reads."""

    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))


def _database_url() -> str:
    """DATABASE_URL, a plain postgresql:// one pointed at psycopg 3 like the site's."""
    url = os.environ["DATABASE_URL"]
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


app = Flask(__name__)
app.config["SQLALCHEMY_DATABASE_URI"] = _database_url()
db.init_app(app)


@app.get("/users/<int:user_id>")
def user_name(user_id: int):
    """One query: the user with this id, by primary key."""
    user = db.session.get(User, user_id)
    if user is None:
        abort(404)
    return user.name
