"""A bad account beside a good one, run through the real CLI (in process) against
pouchdb-server and moto: what the bad input does, and proof the good account's
voicemail still arrived in the same run."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from syncd import cli
from syncd.kazoo.couch import CouchClient
from syncd.kazoo.naming import object_name
from tests.conftest import s3_client, write_config
from tests.support import kazoo_data as kd
from tests.support.servers import CouchServer, S3Server

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_STATE = 0, 1, 2, 4


@dataclass
class Outcome:
    code: int
    log: str
    problems: dict[str, str]
    good_arrived: bool
    bad_account: str
    bad_modb: str
    config: Path

    def problem(self, prefix: str) -> str:
        """The one standing problem whose scope starts with prefix."""
        found = [text for scope, text in self.problems.items() if scope.startswith(prefix)]
        assert len(found) == 1, (prefix, self.problems)
        return found[0]


@dataclass
class Scene:
    tmp_path: Path
    couch: CouchClient
    couch_server: CouchServer
    s3_server: S3Server
    bucket: str
    capsys: pytest.CaptureFixture[str]

    def storage_doc(self, account_id: str, **settings: Any) -> dict[str, Any]:
        return kd.s3_storage_doc(
            account_id, kd.new_id(), bucket=self.bucket, port=self.s3_server.port, settings=settings or None
        )

    def run(
        self,
        make_bad: Callable[[str, str], None],
        command: tuple[str, ...] = ("run", "--once"),
        extra_config: str = "",
        allow_endpoints: str = '["127.0.0.1"]',
        good_host: str = "127.0.0.1",
    ) -> Outcome:
        """A good account with one voicemail, a bad account made by make_bad(account_id, modb), one run."""
        good, good_modb = self._account()
        self.couch.save("system_data", self.storage_doc(good, host=good_host))
        voicemail = kd.mailbox_message(good, kd.new_id(), kd.fake_mp3(2000, good), *kd.now_month())
        self.couch.save(good_modb, voicemail)
        bad, bad_modb = self._account()
        make_bad(bad, bad_modb)
        config = write_config(
            self.tmp_path / "c.toml",
            self.couch_server.auth_url,
            accounts=(good, bad),
            extra=extra_config,
            allow_endpoints=allow_endpoints,
        )
        self.capsys.readouterr()
        code = cli.main(["-c", str(config), *command])
        log = self.capsys.readouterr().err
        return Outcome(code, log, self.problems(config), self._arrived(good_modb, voicemail), bad, bad_modb, config)

    def problems(self, config: Path) -> dict[str, str]:
        self.capsys.readouterr()
        assert cli.main(["-c", str(config), "status", "--json"]) == EXIT_OK
        return dict(json.loads(self.capsys.readouterr().out)["problems"])

    def _account(self) -> tuple[str, str]:
        account_id = kd.new_id()
        return account_id, kd.seed_account(self.couch, account_id)

    def _arrived(self, modb: str, doc: dict[str, Any]) -> bool:
        (name,) = doc["_attachments"]
        key = object_name("s3", {}, modb, doc, name)
        found = s3_client(self.s3_server.url).list_objects_v2(Bucket=self.bucket, Prefix=key).get("Contents", [])
        return any(o["Key"] == key for o in found)
