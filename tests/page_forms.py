"""The forms a page shows, read from its HTML, for tests that fill every form."""

from dataclasses import dataclass, field
from html.parser import HTMLParser

#: Input types a person types into (the rest are fixed by the page).
TYPED = {"text", "email", "password", "search", "tel", "url", "number", None}


@dataclass
class PageForm:
    """One <form>: where it posts, its fields with the page's values, its buttons."""

    action: str
    method: str
    #: name -> values the page gives (checkboxes: every box's value).
    fields: dict[str, list[str]] = field(default_factory=dict)
    #: Names of the fields a person types into.
    typed: list[str] = field(default_factory=list)
    #: (name, value) of each named submit button.
    buttons: list[tuple[str, str]] = field(default_factory=list)


class _FormParser(HTMLParser):
    def __init__(self, page_path: str) -> None:
        super().__init__()
        self.page_path = page_path
        self.forms: list[PageForm] = []
        self._open: PageForm | None = None

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "form":
            self._open = PageForm(
                action=attributes.get("action") or self.page_path,
                method=(attributes.get("method") or "get").upper(),
            )
            self.forms.append(self._open)
            return
        name = attributes.get("name")
        if self._open is None or not name:
            return
        kind = attributes.get("type") if tag == "input" else tag
        if tag == "button" or kind == "submit":
            self._open.buttons.append((name, attributes.get("value") or "1"))
            return
        self._open.fields.setdefault(name, []).append(attributes.get("value") or "")
        if kind in TYPED or tag == "textarea":
            self._open.typed.append(name)

    def handle_endtag(self, tag):
        if tag == "form":
            self._open = None


def forms_on(page_path: str, html: str) -> list[PageForm]:
    """Every form of the page, with relative actions resolved against its path."""
    parser = _FormParser(page_path)
    parser.feed(html)
    return parser.forms
