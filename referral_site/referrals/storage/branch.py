"""The plugin's Alembic branch ("referrals"), for hosts that migrate with Flask-Migrate.

The revisions live in ``referral_site/referrals/migrations/``. A host adds them to
its own with one line, ``migrate.configure(with_referrals_migrations)``: Alembic then
finds both folders, and ``flask db upgrade`` creates and upgrades the plugin's tables
beside the host's.
"""

import os
from pathlib import Path

#: Where the plugin's revisions are (shipped as package data).
MIGRATIONS_FOLDER = Path(__file__).resolve().parent.parent / "migrations"


def with_referrals_migrations(config):
    """Flask-Migrate configure callback: the host's revisions and the plugin's.

    Keeps any version_locations the host set (or its ``versions/`` folder) and
    adds the plugin's, separated by the OS path separator.
    """
    own = config.get_main_option("version_locations") or str(
        Path(config.get_main_option("script_location")) / "versions"
    )
    if str(MIGRATIONS_FOLDER) not in own:
        option = _separator_option()
        if config.get_main_option(option) not in (None, "os"):
            raise RuntimeError(
                f"with_referrals_migrations needs {option} = os (or unset) in "
                "alembic.ini"
            )
        config.set_main_option(option, "os")
        config.set_main_option(
            "version_locations", os.pathsep.join((own, str(MIGRATIONS_FOLDER)))
        )
    return config


def _separator_option() -> str:
    """Alembic 1.16 renamed version_path_separator to path_separator."""
    from alembic import __version__

    major, minor = (int(part) for part in __version__.split(".")[:2])
    return "path_separator" if (major, minor) >= (1, 16) else "version_path_separator"


def skip_referrals_tables(object_, name, type_, reflected, compare_to) -> bool:
    """Alembic ``include_object`` hook: leave the plugin's tables to its branch.

    With it, the host's ``flask db migrate`` writes only the host's own tables,
    even before the plugin's branch has been upgraded.
    """
    from referral_site.referrals.storage.db import Base

    table = (
        name
        if type_ == "table"
        else getattr(getattr(object_, "table", None), "name", None)
    )
    return table not in Base.metadata.tables
