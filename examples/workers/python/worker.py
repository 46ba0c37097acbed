#!/usr/bin/env python3
"""Transcode then loudness-normalize the payload's input with ferrostack-media."""
import json
import os
import subprocess
import sys


def media(*args):
    done = subprocess.run(["ferrostack-media", *args, "--json"], capture_output=True, text=True)
    if done.returncode != 0:
        sys.stderr.write(done.stdout + done.stderr)
        sys.exit(done.returncode)
    return json.loads(done.stdout)


with open(os.environ["PAYLOAD_FILE"]) as f:
    payload = json.load(f)
tmp = payload["output"] + ".transcoded.mp4"
transcoded = media("transcode", payload["input"], tmp, "--preset", "mp4-h264-aac")
normalized = media("normalize", tmp, payload["output"])
os.remove(tmp)
print(json.dumps({"worker": "python", "transcode": transcoded, "normalize": normalized}))
