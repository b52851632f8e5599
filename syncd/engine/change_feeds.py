"""Backend -> Kazoo, from a backend's own change log (Google Drive's changes.list).

A change names an object by its backend id, which the state DB recorded at
upload; each tracked item with that id is looked at (TwoWay.look): gone means
a first sighting, so the grace period, the second sighting, the marker and
the mass-delete guard all still apply. Back again (restored from the trash)
clears the sighting. The token is stored after its changes were handed over,
so a crash replays them rather than losing them; on the first run the feed
starts from "now", and the listing scans cover anything earlier.
"""

from __future__ import annotations

from syncd.backends.base import ChangeFeed
from syncd.engine.twoway import Report, TwoWay


def follow_changes(tw: TwoWay, target: str) -> int:
    """Read target's change log once, if its backend has one; returns how many items were looked at."""
    backend = tw.backend(target, Report())
    if not isinstance(backend, ChangeFeed):
        return 0
    feed = f"changes:{target}"
    token = tw.state.feeds.cursor(feed)
    if token is None:
        tw.state.feeds.record_changes(feed, backend.start_token(), [])
        return 0
    changes, next_token = backend.changes_since(token)
    looked = 0
    for change in changes:
        for item in tw.state.listings.items_with_object_id(target, change.object_id):
            if change.gone or item.missing_since is not None:
                tw.look(item)
                looked += 1
    tw.state.feeds.record_changes(feed, next_token, [])
    return looked
