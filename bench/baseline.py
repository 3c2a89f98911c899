"""The baselines: a bare Flask app under the same gunicorn settings as the site.

``GET /r/<code>`` answers a 302 with a cookie and nothing else (the floor of any
redirecting endpoint); ``POST /hash`` only hashes a password with argon2id at the
site's parameters (the floor of a signup).
"""

import os

from argon2 import PasswordHasher
from flask import Flask, redirect, request

app = Flask(__name__)
_hasher = PasswordHasher(
    time_cost=int(os.environ.get("PASSWORD_HASH_TIME_COST", 2)),
    memory_cost=int(os.environ.get("PASSWORD_HASH_MEMORY_KIB", 19 * 1024)),
    parallelism=int(os.environ.get("PASSWORD_HASH_PARALLELISM", 1)),
)


@app.get("/r/<code>")
def follow(code: str):
    """Redirect with a cookie, like a referral link without any bookkeeping."""
    response = redirect("/signup")
    response.set_cookie("ref", code, httponly=True, samesite="Lax")
    return response


@app.post("/hash")
def hash_only():
    """Hash the posted password, the one real cost of a signup."""
    _hasher.hash(request.form.get("password", "correct horse battery"))
    return "", 204
