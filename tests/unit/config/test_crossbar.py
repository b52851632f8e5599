"""[kazoo.crossbar]: the Crossbar connection, and the old [two_way] keys it replaces."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.errors import ConfigError
from tests.conftest import run_syncd

BASE: dict[str, Any] = {"couchdb": {"url": "http://127.0.0.1:5984"}, "state": {"path": "/var/lib/syncd/s.db"}}


def test_the_new_section_gives_the_connection_without_a_notice() -> None:
    cfg = config.parse({**BASE, "kazoo": {"crossbar": {"url": "https://kazoo:8443", "api_key": "k-123"}}})
    assert cfg.kazoo.crossbar is not None and cfg.kazoo.crossbar.url == "https://kazoo:8443"
    assert cfg.deprecations == () and "k-123" in cfg.secrets()
    assert "k-123" not in repr(cfg)


def test_the_old_keys_still_work_and_say_where_they_moved() -> None:
    cfg = config.parse({**BASE, "two_way": {"crossbar_url": "https://kazoo:8443", "crossbar_api_key": "k-123"}})
    assert cfg.kazoo.crossbar is not None and cfg.kazoo.crossbar.api_key == "k-123"
    (notice,) = cfg.deprecations
    assert "[two_way] crossbar_url, crossbar_api_key" in notice and "[kazoo.crossbar] as url, api_key" in notice


def test_both_forms_at_once_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"kazoo.crossbar: the Crossbar connection is given twice"):
        config.parse(
            {
                **BASE,
                "kazoo": {"crossbar": {"url": "https://a:8443", "api_key": "k"}},
                "two_way": {"crossbar_url": "https://b:8443", "crossbar_api_key": "k"},
            }
        )


@pytest.mark.parametrize(
    ("section", "problem"),
    [
        ({"url": "https://kazoo:8443"}, "kazoo.crossbar.url: give url and api_key (or api_key_file) together"),
        ({"url": "kazoo:8443", "api_key": "k"}, "kazoo.crossbar.url: must be a URL"),
        ({"url": "https://kazoo:8443", "api_key": "k", "key": "k"}, "kazoo.crossbar.key: unknown key"),
    ],
)
def test_a_bad_section_is_refused_by_name(section: dict[str, str], problem: str) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, "kazoo": {"crossbar": section}})
    assert problem in str(err.value)


@pytest.mark.parametrize(
    "raw",
    [
        {"kazoo": {"crossbar": "https://kazoo:8443"}},
        {"kazoo": "crossbar"},
        {"two_way": ["crossbar_url"]},
    ],
)
def test_a_section_of_the_wrong_type_is_refused_once_by_name(raw: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as err:
        config.parse({**BASE, **raw})
    problems = [line for line in str(err.value).splitlines() if "must be a table" in line]
    assert len(problems) == 1, str(err.value)


def test_the_cli_logs_the_deprecation_at_start(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        f'[couchdb]\nurl = "http://127.0.0.1:9"\n\n[state]\npath = "{tmp_path}/s.db"\n\n'
        '[two_way]\ncrossbar_url = "https://kazoo:8443"\ncrossbar_api_key = "k-secret"\n'
    )
    result = run_syncd(path, "status")
    assert "WARNING" in result.stderr and "move them to [kazoo.crossbar] as url, api_key" in result.stderr
    assert "k-secret" not in result.stderr
