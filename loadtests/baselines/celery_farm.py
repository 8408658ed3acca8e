"""The seed's stack shape as a Celery app: one task per shot on a Redis broker (results in Redis
too), each step of the shot publishing a progress event to the video's Redis pub/sub channel, and
the shot's completion counted in Redis so the last shot of a video publishes the video's end.

Steps cost nothing on purpose: what is measured is the queue, the broker and the event path, as
in shotfarm's `throughput` scenario (loadtests/scenarios/throughput.toml).
"""

import json
import os
import time

import redis
from celery import Celery

BROKER = os.environ.get("BASELINE_REDIS_URL", "redis://127.0.0.1:6379/0")

app = Celery("celery_farm", broker=BROKER, backend=BROKER)
app.conf.update(
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    # The defaults a Celery deployment starts from: prefetch 4 a process, ack on receipt.
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

_bus = None


def bus():
    """One Redis client per worker process (made after the fork)."""
    global _bus
    if _bus is None:
        _bus = redis.Redis.from_url(BROKER)
    return _bus


def channel(video):
    return f"progress:{video}"


def publish(video, event):
    event["ts"] = time.time()
    bus().publish(channel(video), json.dumps(event))


@app.task(name="render_shot")
def render_shot(video, shot, shots, steps):
    """One shot: running, a progress event a step (the step itself costs nothing), completed;
    the video's last shot to complete publishes the video's completion."""
    publish(video, {"type": "shot", "shot": shot, "state": "running", "step": 0})
    for step in range(1, steps + 1):
        publish(video, {"type": "shot", "shot": shot, "state": "running", "step": step})
    publish(video, {"type": "shot", "shot": shot, "state": "completed", "step": steps})
    done = bus().incr(f"video:{video}:shots_done")
    if done == shots:
        publish(video, {"type": "video", "state": "completed"})
    return {"video": video, "shot": shot, "steps": steps}


def events_per_video(shots, steps):
    """What a watcher of one video must receive: per shot running, each step and completed,
    then the video's completion."""
    return shots * (steps + 2) + 1
