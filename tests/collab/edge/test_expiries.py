"""Connections are closed when their tokens expire, sharing one timer per second."""

from __future__ import annotations

import asyncio
import time

from backend.collab.core.close_codes import CloseCode
from backend.collab.edge.expiries import Expiries


class Connection:
    def __init__(self) -> None:
        self.codes: list[int] = []

    def close(self, code: int, reason: str = "") -> None:
        self.codes.append(code)


async def test_expired_tokens_close_their_connections_and_discarded_ones_stay_open() -> None:
    expiries = Expiries()
    soon = time.time() + 0.3
    early, late, gone = Connection(), Connection(), Connection()
    already = Connection()
    for connection in (early, gone):
        second = expiries.add(connection, soon)
    expiries.add(late, soon + 5)
    expiries.add(already, time.time() - 10)
    expiries.discard(gone, second)
    await asyncio.sleep(0.05)
    assert already.codes == [CloseCode.UNAUTHENTICATED]
    assert early.codes == []
    await asyncio.sleep(1.3)  # the second of ``soon`` has come
    assert early.codes == [CloseCode.UNAUTHENTICATED]
    assert gone.codes == late.codes == []
