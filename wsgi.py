"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from referral_site import create_app

app = create_app()
