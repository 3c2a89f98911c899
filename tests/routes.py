"""Walk the URL map: every route with sample arguments, for enumeration tests."""

from flask import Flask
from werkzeug.routing import IntegerConverter

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def routes(app: Flask):
    """Yield (endpoint, path, methods) for each rule, arguments filled with samples."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        values = {
            name: 1 if isinstance(converter, IntegerConverter) else "ABCDEFGH"
            for name, converter in rule._converters.items()
        }
        path = rule.build(values, append_unknown=False)[1]
        yield rule.endpoint, path, set(rule.methods or ()) - {"HEAD", "OPTIONS"}


def state_changing(app: Flask):
    """Routes that accept a method other than GET/HEAD/OPTIONS."""
    for endpoint, path, methods in routes(app):
        for method in sorted(methods - SAFE_METHODS):
            yield endpoint, path, method


def admin_routes(app: Flask):
    """Routes that belong to the admin area."""
    for endpoint, path, methods in routes(app):
        if path.startswith("/admin"):
            yield endpoint, path, methods


def object_routes(app: Flask):
    """Routes whose URL names an object: yield (endpoint, rule, methods)."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        if rule.arguments:
            yield rule.endpoint, rule, set(rule.methods or ()) - {"HEAD", "OPTIONS"}
