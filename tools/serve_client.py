#!/usr/bin/env python3
"""Post unitree_deploy-shaped requests to `wma serve` (or upstream's server) and print the latency of each.

  python3 tools/serve_client.py --url http://127.0.0.1:8000 --repeat 10 [--wait 600]

The request is what unitree_deploy's LongConnectionClient sends: language_instruction, observation.state
[O][D], observation.images.top [O][3][H][W] integer RGB, action [16][D] zeros. O and D come from the server's
GET /health (upstream's server has none: pass --state_dim/--action_dim). Frames are a synthetic pattern of
--height x --width (the robot camera's 480 x 640 by default). Python standard library only.
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
import urllib.error
import urllib.request


def get_shapes(url: str, wait: float) -> dict:
    """The request shapes /health reports, polling for up to `wait` seconds while the server loads its model."""
    deadline = time.monotonic() + wait
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=10) as r:
                return json.load(r).get("request", {})
        except (urllib.error.URLError, ConnectionError):
            if time.monotonic() > deadline:
                return {}
            time.sleep(1)


def make_request(steps: int, state_dim: int, action_rows: int, action_dim: int, height: int, width: int,
                 instruction: str, seed: int) -> bytes:
    frames = [[[[(x * 7 + y * 3 + c * 50 + o * 11 + seed) % 256 for x in range(width)] for y in range(height)]
               for c in range(3)] for o in range(steps)]
    state = [[0.01 * (d + 1) * (o + 1) for d in range(state_dim)] for o in range(steps)]
    body = {"language_instruction": instruction, "observation.state": state, "observation.images.top": frames,
            "action": [[0.0] * action_dim for _ in range(action_rows)]}
    return json.dumps(body).encode()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--height", type=int, default=480)
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--state_dim", type=int, default=None)
    p.add_argument("--action_dim", type=int, default=None)
    p.add_argument("--instruction", default="Pack black camera into box.")
    p.add_argument("--wait", type=float, default=0, help="seconds to wait for the server to come up")
    args = p.parse_args()
    shapes = get_shapes(args.url, args.wait)
    steps = shapes.get("observation_steps", 2)
    state_dim = args.state_dim or shapes.get("state_dim", 16)
    action_dim = args.action_dim or shapes.get("action_dim", 16)
    action_rows = shapes.get("action_rows", 16)
    latencies = []
    for i in range(args.repeat):
        data = make_request(steps, state_dim, action_rows, action_dim, args.height, args.width, args.instruction, i)
        req = urllib.request.Request(args.url + "/predict_action", data=data,
                                     headers={"Content-Type": "application/json"})
        start = time.perf_counter()
        with urllib.request.urlopen(req, timeout=600) as r:
            answer = json.load(r)
        latencies.append(time.perf_counter() - start)
        if answer.get("result") == "error":
            # Refused requests come back as 200 with the reason in desc, as upstream's server answers them.
            print(f"request {i}: error: {answer.get('desc', '')}", flush=True)
            continue
        actions = answer.get("action", [])
        print(f"request {i}: {answer['result']} {len(actions)}x{len(actions[0]) if actions else 0} actions, "
              f"{latencies[-1] * 1e3:.1f} ms (body {len(data) / 1e6:.1f} MB)", flush=True)
    if len(latencies) > 1:
        rest = latencies[1:]
        print(f"first {latencies[0] * 1e3:.1f} ms; later {len(rest)}: median {statistics.median(rest) * 1e3:.1f} ms, "
              f"min {min(rest) * 1e3:.1f} ms, max {max(rest) * 1e3:.1f} ms")


if __name__ == "__main__":
    main()
