"""The channel layer as configured (settings.CHANNEL_LAYERS) against the real Redis."""

from __future__ import annotations

import asyncio

from channels.layers import get_channel_layer
from django.conf import settings


async def test_an_idle_receive_waits_without_failing() -> None:
    """A process channel's receive waits on the layer's subscription, which PINGs Redis
    after 5 s of quiet; before it, a blocking pop of 5 s met redis-py 8's read timeout of the
    same length, failed every idle receive, and each failure cost the fan-out a second of
    deafness. Waiting past one quiet round must raise nothing."""
    assert settings.REDIS_URL, "this test needs the Redis channel layer"
    layer = get_channel_layer()
    assert layer is not None
    channel = await layer.new_channel()
    receive = asyncio.ensure_future(layer.receive(channel))
    done, _ = await asyncio.wait({receive}, timeout=layer.idle_ping + 1.5)
    try:
        assert not done, f"an idle receive ended: {receive.exception()!r}"
        await layer.send(channel, {"type": "probe"})
        assert (await asyncio.wait_for(receive, 5)) == {"type": "probe"}
    finally:
        receive.cancel()
