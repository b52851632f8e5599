"""[media] and [[media.library]]: what an operator may ask, and a clear refusal for everything else."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from syncd import config
from syncd.config.media import _LIBRARY_KEYS
from syncd.errors import ConfigError

ACCOUNT = "0123456789abcdef0123456789abcdef"
BASE: dict[str, Any] = {
    "couchdb": {"url": "http://127.0.0.1:5984"},
    "state": {"path": "/var/lib/syncd/s.db"},
    "backends": {"archive": {"type": "local", "path": "/srv/archive"}},
}


def libraries(*tables: dict[str, Any], **more: Any) -> config.Config:
    return config.parse({**BASE, **more, "media": {"library": list(tables)}})


def library(**changes: Any) -> dict[str, Any]:
    return {"account": ACCOUNT, "backend": "archive", "folder": "media/acme", **changes}


def test_a_bare_library_has_safe_defaults() -> None:
    (lib,) = libraries(library()).media.libraries
    assert (lib.name, lib.folder, lib.language, lib.settle) == ("archive:media/acme", "media/acme", "en-us", 5.0)
    assert lib.export_kazoo_media and not lib.owner_media and not lib.shuffle
    assert (lib.normalize, lib.sample_rate, lib.loudness) == (None, 16000, None)
    assert lib.max_bytes == 50 * 1024 * 1024 and lib.target == "media:archive:media/acme"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"account": "not-an-id"}, "account: missing or not a 32-character"),
        ({"backend": "nowhere"}, "names no [backends.nowhere] table"),
        ({"folder": "../up"}, "must be a folder path inside the backend"),
        ({"language": "en us!"}, "must be a language tag"),
        ({"sample_rate": 44100}, "must be one of 8000, 16000, 32000, 48000"),
        ({"normalize": "flac"}, "must be one of: wav, mp3"),
        ({"loudness": float("nan")}, "loudness: must be a number from -70 to -5"),
        ({"loudness": 0}, "loudness: must be a number from -70 to -5"),
        ({"max_size_mb": float("inf")}, "max_size_mb: must be a number"),
        ({"max_seconds": 0}, "max_seconds: must be a number from 1 to 86400"),
        ({"shuffle": "yes"}, "shuffle: must be true or false"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_every_bad_library_setting_is_refused_by_name(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        libraries(library(**changes))
    assert message in str(err.value)


def test_two_libraries_with_one_name_or_one_folder_are_refused() -> None:
    with pytest.raises(ConfigError, match="two libraries are named 'x'"):
        libraries(library(name="x"), library(name="x", folder="media/other"))
    with pytest.raises(ConfigError, match="writes or reads where"):
        libraries(library(name="a"), library(name="b", folder="media/acme/inner"))


def test_a_library_inside_a_fax_outbox_is_refused() -> None:
    outbox = {"account": ACCOUNT, "backend": "archive", "folder": "media/acme/fax", "from_number": "+14155550199"}
    with pytest.raises(ConfigError, match="files of one would become media of the other"):
        libraries(library(), fax={"outbox": [outbox]})


def test_the_example_config_documents_every_library_key_and_its_library_parses() -> None:
    text = (Path(__file__).resolve().parents[3] / "config.example.toml").read_text()
    block = text[text.index("# [[media.library]]") :].split("\n\n")[0]
    for key in _LIBRARY_KEYS:
        assert f"# {key} = " in block, key
    lines = [line.removeprefix("# ") for line in block.splitlines()[1:] if line.startswith("# ")]
    (lib,) = libraries(tomllib.loads("\n".join(lines))).media.libraries
    assert lib.name == "acme-media" and lib.account_id == ACCOUNT
