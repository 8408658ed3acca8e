"""The Celery + Redis baseline of shotfarm's `throughput` scenario: closed loop, `--videos`
videos of `--shots` shots in flight, `--steps` steps a shot that cost nothing, one Redis pub/sub
watcher per video counting (and checking) every event, Celery workers on the same Redis.

Prints one JSON object (and writes it to `--json`): shots/s, events/s, event latency p50/p99,
events missing or out of order, and CPU-seconds per 1,000 shots of the workers (every process of
the worker tree, from /proc) and of redis-server (when this script started it).

Run it through celery-throughput.sh, which makes the virtual environment.
"""

import argparse
import asyncio
import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
TICKS = os.sysconf("SC_CLK_TCK")


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--videos", type=int, default=256, help="videos in flight at once")
    p.add_argument("--shots", type=int, default=8, help="shots a video")
    p.add_argument("--steps", type=int, default=10, help="steps a shot")
    p.add_argument("--duration", type=float, default=20.0, help="seconds finished videos are replaced")
    p.add_argument("--drain-timeout", type=float, default=120.0, help="seconds to wait for the last videos")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="Celery worker processes (prefork)")
    p.add_argument("--redis-url", help="an existing Redis (default: a fresh redis-server on a free port)")
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--quiet", action="store_true", help="no progress line")
    a = p.parse_args(argv)
    for name in ("videos", "shots", "steps", "workers"):
        if getattr(a, name) < 1:
            p.error(f"--{name} must be at least 1")
    if a.duration <= 0:
        p.error("--duration must be positive")
    return a


def cpu_seconds(pid):
    """User + system CPU of a process and of its children it has waited for."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return sum(int(x) for x in fields[11:15]) / TICKS


def tree_cpu_seconds(root):
    """CPU of a process tree: the root (with its reaped children) and every live descendant."""
    parent = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parent[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
    tree, frontier = [root], [root]
    while frontier:
        kids = [p for p, pp in parent.items() if pp in frontier]
        tree += kids
        frontier = kids
    total = 0.0
    for pid in tree:
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass
    return total


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_redis():
    """A redis-server of our own that keeps nothing on disk (as the load driver's `--redis`)."""
    if shutil.which("redis-server") is None:
        sys.exit("redis-server is not installed: run scripts/ensure-redis.sh")
    port = free_port()
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    import redis

    client = redis.Redis(port=port)
    for _ in range(400):
        try:
            client.ping()
            return proc, f"redis://127.0.0.1:{port}/0"
        except redis.ConnectionError:
            time.sleep(0.05)
    proc.kill()
    sys.exit(f"redis-server on port {port} never answered PING")


def start_workers(url, workers, logdir):
    env = dict(os.environ, BASELINE_REDIS_URL=url, PYTHONPATH=HERE)
    log = open(os.path.join(logdir, "worker.log"), "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "celery_farm", "worker", "--pool", "prefork",
         "--concurrency", str(workers), "--loglevel", "WARNING",
         "--without-heartbeat", "--without-gossip", "--without-mingle"],
        cwd=HERE, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    return proc


def percentile(sorted_values, q):
    """Nearest rank, as the load driver's (loadtests/src/driver/stats.rs); 0 when empty."""
    if not sorted_values:
        return 0.0
    n = len(sorted_values)
    return sorted_values[min(n, max(1, math.ceil(n * q))) - 1]


class Run:
    def __init__(self, args, farm):
        self.args, self.farm = args, farm
        self.latencies_ms = []
        self.events = 0
        self.shots_completed = 0
        self.videos_done = 0
        self.submitted = 0
        self.breaches = []
        self.errors = []

    def check_video(self, video, received):
        """The watcher's audit: every shot ran each step in order and completed once, and the
        video's completion came last."""
        a = self.args
        expected = self.farm.events_per_video(a.shots, a.steps)
        if len(received) != expected:
            self.breaches.append(f"{video}: {len(received)} events, expected {expected}")
        last = {}
        for e in received[:-1]:
            if e["type"] != "shot":
                self.breaches.append(f"{video}: video event before the last")
                continue
            want = (last.get(e["shot"], -1) + 1) if e["state"] == "running" else a.steps + 1
            got = e["step"] if e["state"] == "running" else e["step"] + 1
            if got != want:
                self.breaches.append(f"{video} shot {e['shot']}: {e['state']} step {e['step']} out of order")
            last[e["shot"]] = got
        if not received or received[-1]["type"] != "video":
            self.breaches.append(f"{video}: no video completion last")

    async def video(self, client):
        a = self.args
        video = uuid.uuid4().hex
        pubsub = client.pubsub()
        # Subscribe first: pub/sub keeps nothing for a subscriber that comes late.
        await pubsub.subscribe(self.farm.channel(video))
        for shot in range(a.shots):
            self.farm.render_shot.apply_async((video, shot, a.shots, a.steps))
        self.submitted += 1
        received = []
        deadline = time.monotonic() + a.drain_timeout
        while time.monotonic() < deadline:
            # None also stands for a subscription confirmation skipped, not only for a timeout.
            msg = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=max(0.0, deadline - time.monotonic())
            )
            if msg is None:
                continue
            now = time.time()
            e = json.loads(msg["data"])
            self.latencies_ms.append((now - e["ts"]) * 1e3)
            self.events += 1
            received.append(e)
            if e["type"] == "shot" and e["state"] == "completed":
                self.shots_completed += 1
            if e["type"] == "video":
                break
        await pubsub.unsubscribe()
        await pubsub.aclose()
        self.check_video(video, received)
        self.videos_done += 1

    async def closed_loop(self, url):
        import redis.asyncio as aredis

        a = self.args
        # One pub/sub connection a video in flight, and a few for the rest.
        client = aredis.Redis.from_url(url, max_connections=a.videos + 16)
        gate = asyncio.Semaphore(a.videos)
        tasks = set()
        start = time.monotonic()

        async def one():
            try:
                await self.video(client)
            except Exception as e:  # noqa: BLE001 - any failure of a video is reported, not raised
                self.errors.append(f"{type(e).__name__}: {e}")
            finally:
                gate.release()

        ticker = None if a.quiet else asyncio.create_task(self.progress(start))
        while time.monotonic() - start < a.duration:
            try:
                await asyncio.wait_for(gate.acquire(), timeout=max(0.0, a.duration - (time.monotonic() - start)))
            except asyncio.TimeoutError:
                break
            t = asyncio.create_task(one())
            tasks.add(t)
            t.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(list(tasks), timeout=a.drain_timeout)
        elapsed = time.monotonic() - start
        if ticker:
            ticker.cancel()
            print(file=sys.stderr)
        unfinished = sum(1 for t in tasks if not t.done())
        await client.aclose()
        return elapsed, unfinished

    async def progress(self, start):
        last = 0
        while True:
            await asyncio.sleep(1)
            print(
                f"\r[{time.monotonic() - start:6.1f}s] celery: videos submitted {self.submitted} "
                f"finished {self.videos_done} | shots done {self.shots_completed} | events "
                f"{self.events} ({self.events - last}/s)   ",
                end="", file=sys.stderr, flush=True,
            )
            last = self.events


def main(argv):
    args = parse_args(argv)
    sys.path.insert(0, HERE)
    logdir = tempfile.mkdtemp(prefix="celery-baseline-")
    redis_proc = None
    url = args.redis_url
    if url is None:
        redis_proc, url = start_redis()
    os.environ["BASELINE_REDIS_URL"] = url
    import celery_farm

    workers = start_workers(url, args.workers, logdir)
    try:
        # Ready when a first shot goes through a worker and back.
        warm = celery_farm.render_shot.apply_async(("warm-up", 0, 1, 1))
        warm.get(timeout=120)
        worker_cpu0 = tree_cpu_seconds(workers.pid)
        redis_cpu0 = cpu_seconds(redis_proc.pid) if redis_proc else None
        run = Run(args, celery_farm)
        elapsed, unfinished = asyncio.run(run.closed_loop(url))
        worker_cpu = tree_cpu_seconds(workers.pid) - worker_cpu0
        redis_cpu = cpu_seconds(redis_proc.pid) - redis_cpu0 if redis_proc else None
    finally:
        os.killpg(workers.pid, signal.SIGTERM)
        try:
            workers.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(workers.pid, signal.SIGKILL)
            workers.wait()
        if redis_proc:
            redis_proc.kill()
            redis_proc.wait()
    lat = sorted(run.latencies_ms)
    shots = run.shots_completed
    per_k = lambda cpu: None if cpu is None or shots == 0 else cpu / shots * 1000.0
    result = {
        "system": "celery",
        "celery_version": __import__("celery").__version__,
        "videos_in_flight": args.videos,
        "shots_per_video": args.shots,
        "steps": args.steps,
        "workers": args.workers,
        "elapsed_s": elapsed,
        "videos_completed": run.videos_done,
        "videos_unfinished": unfinished,
        "shots_completed": shots,
        "events_received": run.events,
        "shots_per_s": shots / elapsed,
        "events_per_s": run.events / elapsed,
        "event_latency_p50_ms": percentile(lat, 0.50),
        "event_latency_p99_ms": percentile(lat, 0.99),
        "breaches": len(run.breaches),
        "breach_examples": run.breaches[:10],
        "errors": len(run.errors),
        "error_examples": run.errors[:10],
        "server_cpu_s": worker_cpu,
        "server_cpu_s_per_1000_shots": per_k(worker_cpu),
        "redis_cpu_s": redis_cpu,
        "redis_cpu_s_per_1000_shots": per_k(redis_cpu),
    }
    text = json.dumps(result, indent=2)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    print(text)
    shutil.rmtree(logdir, ignore_errors=True)
    return 0 if run.videos_done > 0 and not run.breaches and not run.errors and unfinished == 0 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
