"""Walk the URL map: every route with sample arguments, for enumeration tests."""

import re
from urllib.parse import quote

from flask import Flask
from werkzeug.routing import IntegerConverter, Rule

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


def route_rules(app: Flask):
    """Yield (endpoint, rule, methods) of every route but static files."""
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.endswith(".static"):
            continue
        yield rule.endpoint, rule, set(rule.methods or ()) - {"HEAD", "OPTIONS"}


def integer_arguments(rule: Rule) -> set[str]:
    """The rule's arguments that are integers (ids)."""
    return {
        name
        for name, converter in rule._converters.items()
        if isinstance(converter, IntegerConverter)
    }


_ARGUMENT = re.compile(r"<(?:[^:>]+:)?([^>]+)>")


def fill_path(rule: Rule, values: dict) -> str:
    """The rule's path with these values, percent-encoded, whether or not its
    converters accept them (url_for refuses what they refuse, tests must not)."""
    return _ARGUMENT.sub(lambda m: quote(str(values[m[1]]), safe=""), rule.rule)


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
