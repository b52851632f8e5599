"""The command line, and the one place that turns errors into messages and exit codes.

Exit codes:
  0  success (run: stopped by SIGTERM/SIGINT after finishing in-flight uploads)
  1  run --once: some items failed; check: some check failed
  2  bad usage or invalid configuration
  3  CouchDB unreachable or refusing our credentials
  4  state database unusable
  5  reconcile: deletes held by the mass-delete guard, or refused because a
     location looked wrong (no marker, failed or empty listing); nothing was
     deleted there, and the message names the command to proceed
  70 internal error (a bug: please report it with the -v output)
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
import time
from typing import Any

from syncd import __version__, config
from syncd.errors import ConfigError, CouchUnavailable, StateError, SyncdError
from syncd.runtime import logs

log = logging.getLogger("syncd")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_COUCH, EXIT_STATE, EXIT_HELD, EXIT_BUG = 0, 1, 2, 3, 4, 5, 70


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_CONFIG
    verbose = args.verbose
    logs.setup("debug" if verbose else "info", third_party_debug=verbose > 1)
    try:
        cfg = config.load(config.config_path(args.config))
        if not verbose:
            logs.setup(cfg.log_level)
        for notice in cfg.deprecations:
            log.warning("%s: %s", cfg.source, notice)
        return int(args.handler(cfg, args))
    except ConfigError as exc:
        return _fail(EXIT_CONFIG, str(exc) + "\nsee config.example.toml for every option")
    except CouchUnavailable as exc:
        return _fail(EXIT_COUCH, str(exc))
    except StateError as exc:
        return _fail(EXIT_STATE, str(exc))
    except SyncdError as exc:
        return _fail(EXIT_FAILED, str(exc))
    except Exception:
        log.exception("internal error")
        return _fail(EXIT_BUG, "internal error (see the traceback above); please report it")


def _fail(code: int, message: str) -> int:
    print(f"syncd: error: {logs.scrub(message)}", file=sys.stderr)
    return code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="syncd", description="Keep Kazoo and storage backends in sync.")
    p.add_argument("--version", action="version", version=f"syncd {__version__}")
    p.add_argument(
        "-c", "--config", metavar="PATH", help=f"config file (default: $SYNCD_CONFIG, else {config.DEFAULT_PATH})"
    )
    p.add_argument("-v", "--verbose", action="count", default=0, help="debug logging; -vv also logs the HTTP libraries")
    common = argparse.ArgumentParser(add_help=False)  # so -v also works after the command
    common.add_argument("-v", "--verbose", action="count", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", help="run the daemon in the foreground", parents=[common])
    run.add_argument("--once", action="store_true", help="drain every feed and backlog, then exit")
    run.set_defaults(handler=cmd_run)
    sub.add_parser("check", help="validate config, reach CouchDB and every backend", parents=[common]).set_defaults(
        handler=cmd_check
    )
    status = sub.add_parser("status", help="per account and flow: synced, pending, failed", parents=[common])
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(handler=cmd_status)
    rec = sub.add_parser(
        "reconcile", help="compare Kazoo, storage and state fully; repair what differs", parents=[common]
    )
    rec.add_argument("--account", metavar="ID", help="only this account (32 hex)")
    rec.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    rec.add_argument("--json", action="store_true", help="machine-readable plan and summary")
    rec.add_argument(
        "--allow-deletes",
        action="store_true",
        help="let deletes held by the mass-delete guard through (never skips the other checks)",
    )
    rec.set_defaults(handler=cmd_reconcile)
    audit = sub.add_parser("audit", help="every delete syncd did or refused, newest first", parents=[common])
    audit.add_argument("--account", metavar="ID")
    audit.add_argument("--limit", type=int, default=100)
    audit.add_argument("--json", action="store_true")
    audit.set_defaults(handler=cmd_audit)
    cdr = sub.add_parser("cdr", help="CDR export", parents=[common]).add_subparsers(
        dest="cdr_command", metavar="ACTION"
    )
    export = cdr.add_parser("export", help="write a window of CDRs to the sinks again (idempotent)", parents=[common])
    export.add_argument("--from", dest="first", required=True, type=_day, metavar="YYYY-MM-DD", help="first day (UTC)")
    export.add_argument("--to", dest="last", required=True, type=_day, metavar="YYYY-MM-DD", help="last day (UTC)")
    export.add_argument("--account", metavar="ID", help="only this account (32 hex); default: every followed one")
    export.add_argument("--sink", metavar="NAME", help="only this [[cdr.sink]]")
    export.add_argument("--dry-run", action="store_true", help="count what would be written, write nothing")
    export.set_defaults(handler=cmd_cdr_export)
    return p


def _day(text: str) -> Any:
    import datetime

    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a day like 2026-11-27") from None


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()

    def handler(signum: int, _frame: Any) -> None:
        log.info("received %s", signal.Signals(signum).name)
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    return stop


def cmd_run(cfg: config.Config, args: argparse.Namespace) -> int:
    from syncd.daemon import Daemon
    from syncd.runtime.malloc import return_large_buffers_to_the_system

    return_large_buffers_to_the_system()
    daemon = Daemon(cfg, exclusive=True)  # one syncd per state database: a second one stops here
    stop = _stop_on_signals()
    try:
        if not args.once:
            daemon.run_forever(stop)
            return EXIT_OK
        stats = daemon.run_once(stop)
        pending = daemon.waiting()
        print(
            f"syncd: {stats.synced} uploaded or verified, {stats.failed} failed, "
            f"{stats.gone} gone from CouchDB, {pending} waiting",
            file=sys.stderr,
        )
        problems = daemon.problems()
        for scope, problem in problems.items():
            print(f"syncd: problem ({scope}): {problem}", file=sys.stderr)
        failed = stats.failed or problems
        return EXIT_FAILED if failed else EXIT_OK
    finally:
        daemon.close()


def cmd_check(cfg: config.Config, _args: argparse.Namespace) -> int:
    from syncd.cli import check

    rows = check.run_all(cfg)
    width = max(len(r.name) for r in rows)
    for r in rows:
        print(f"{'ok' if r.ok else 'FAIL':4}  {r.name:{width}}  {logs.scrub(r.detail)}")
    return EXIT_OK if all(r.ok for r in rows) else EXIT_FAILED


def cmd_status(cfg: config.Config, args: argparse.Namespace) -> int:
    from syncd.daemon import status
    from syncd.state import State

    state = State(cfg.state_path)
    try:
        sections, problems = status(state), state.problems.all()
        problems.update({f"held:{account}": message for account, message in state.holds.all().items()})
    finally:
        state.close()
    if args.json:
        shown: dict[str, Any] = {section.key: section.rows for section in sections}
        print(json.dumps({**shown, "problems": problems}, indent=2))
        return EXIT_OK
    for line in [line for section in sections for line in section.lines]:
        print(logs.scrub(line))
    for scope, problem in problems.items():
        print(logs.scrub(f"problem ({scope}): {problem}"))
    return EXIT_OK


def cmd_reconcile(cfg: config.Config, args: argparse.Namespace) -> int:
    from syncd.cli import views
    from syncd.daemon import Daemon

    daemon = Daemon(cfg, exclusive=not args.dry_run)  # a reconcile that acts must not race a running daemon
    try:
        stop = _stop_on_signals()
        with views.progress_bar(enabled=not args.json) as tick:
            report = daemon.reconcile(args, stop, tick, _say)
        if args.json:
            print(json.dumps(views.as_json(report, args.dry_run), indent=2))
        else:
            views.print_report(report, args.dry_run, lambda line: print(logs.scrub(line)))
    finally:
        daemon.close()
    if report.held or report.refused:
        return EXIT_HELD
    return EXIT_FAILED if report.counts.get("skipped") else EXIT_OK


def cmd_audit(cfg: config.Config, args: argparse.Namespace) -> int:
    from syncd.state import State

    state = State(cfg.state_path)
    try:
        rows = state.audit.lines(args.limit, args.account)
    finally:
        state.close()
    if args.json:
        print(json.dumps([r.__dict__ for r in rows], indent=2))
        return EXIT_OK
    print(f"{'WHEN':19}  {'SIDE':7}  {'ACTION':13}  {'ACCOUNT':32}  {'DOC':40}  REASON")
    for r in rows:
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(r.at))
        print(
            logs.scrub(
                f"{when}  {r.side:7}  {r.action:13}  {r.account_id or '-':32}  {(r.doc_id or '-'):40}  {r.reason}"
            )
        )
        if r.object_key is not None or r.target is not None:
            what = f"object {r.object_key!r} on {r.target}" if r.object_key is not None else f"target {r.target}"
            print(logs.scrub(f"{'':19}  {what}"))
    if not rows:
        print("(no deletes or refusals recorded)")
    return EXIT_OK


def cmd_cdr_export(cfg: config.Config, args: argparse.Namespace) -> int:
    from syncd.daemon import Daemon

    daemon = Daemon(cfg)
    try:
        report = daemon.cdr.export(args.first, args.last, args.account, args.sink, args.dry_run)
    finally:
        daemon.close()
    verb = "would write" if args.dry_run else "wrote"
    print(f"{report.found} CDR(s) found from {args.first} to {args.last}")
    for sink, count in report.written.items():
        print(logs.scrub(f"sink {sink}: {verb} {count} row(s)"))
    return EXIT_OK


def _say(message: str) -> None:
    print(f"syncd: {message}", file=sys.stderr)
