"""A feature group's write lease on the client: taken before a write, kept alive while it runs.

Every writer that goes through Larder takes the group's lease from the server before it commits
to the Delta table, so commits to one table are made one at a time (delta-rs cannot tell
concurrent commits apart on S3, and on any store concurrent merges fail). A writer waits for the
lease with jittered exponential backoff; while it writes, a thread renews the lease at a third of
its lifetime; the server releases it when the commit is recorded. A writer that dies holds the
lease until it expires (``write_lease_seconds`` on the server, 30 s by default).
"""

from __future__ import annotations

import contextlib
import logging
import random
import threading
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from larder.errors import ConflictError, LarderError

if TYPE_CHECKING:
    from larder.client.rest import RestClient

log = logging.getLogger("larder.feature_store")

DEFAULT_WAIT_S = 600.0


class WriteLease:
    """``with WriteLease(rest, path, what):`` holds the write lease of the feature group at ``path``
    (``/projects/p/featuregroups/name/version``) for the block.

    Args:
        rest (RestClient): the connection's REST client.
        path (str): the feature group's REST path.
        what (str): the group as the messages name it, e.g. ``"feature group 'weather' v1"``.
        wait_s (float): how long to wait for another writer's lease, seconds (default 600).

    Raises:
        ConflictError: when the lease is still held by another writer after ``wait_s``.
    """

    def __init__(self, rest: RestClient, path: str, what: str, wait_s: float = DEFAULT_WAIT_S) -> None:
        self._rest = rest
        self._path = path
        self._what = what
        self._wait_s = wait_s
        self.token: str | None = None
        self.seconds = 0.0
        self.lost: LarderError | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def __enter__(self) -> WriteLease:
        deadline = time.monotonic() + self._wait_s
        delay = 0.05
        announced = False
        while True:
            try:
                out = self._rest.post(f"{self._path}/lease", {})
                break
            except ConflictError as e:
                if time.monotonic() >= deadline:
                    raise ConflictError(
                        f"{e.message} Waited {self._wait_s:.0f} s for the write lease of {self._what}; nothing was "
                        "written. Retry later, or pass write_options={'lease_wait_seconds': ...}.",
                        details=e.details,
                    ) from None
                if not announced:
                    log.info("waiting for the write lease of %s: %s", self._what, e.message)
                    announced = True
                hint = float(e.details.get("retry_after_seconds") or delay)
                time.sleep(
                    min(max(delay, 0.0), hint, max(0.0, deadline - time.monotonic()))
                    * random.uniform(0.5, 1.0)
                )
                delay = min(delay * 2, 1.0)
        self.token, self.seconds = str(out["token"]), float(out["seconds"])
        self._thread = threading.Thread(target=self._renew, name="larder-lease", daemon=True)
        self._thread.start()
        return self

    def _renew(self) -> None:
        while not self._stop.wait(self.seconds / 3):
            try:
                self._rest.put(f"{self._path}/lease/{self.token}", {})
            except LarderError as e:  # lost, or the server is away: the write goes on, the commit will say
                log.warning("could not renew the write lease of %s: %s", self._what, e.message)
                if isinstance(e, ConflictError):
                    self.lost = e
                    return

    def stop_renewing(self) -> None:
        """Stop the renewal thread (the commit that releases the lease is about to be recorded)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop_renewing()
        if exc_type is not None and self.token is not None:
            with contextlib.suppress(LarderError):  # the write failed: let the next writer go now
                self._rest.delete(f"{self._path}/lease/{self.token}")

    def body(self) -> dict[str, Any]:
        """What the commit POST carries to release the lease."""
        return {"lease": self.token}
