"""The translation floor: the fastest decode -> v1 detail -> encode of a churned 1000-image v2
list body we could write in Python with msgspec, in-process, no HTTP: what a v1 listing
costs per image when nothing can be remembered, against which the proxy's own per-image
cost under churn is judged (bench/run.py runs this pinned to the servers' core).

    PYTHONPATH=. .venv/bin/python bench/floor.py [--size 1000] [--repeat 30] [--json]

A floor that knows its body: one decode into a Struct made for these images (their v1
fields typed, their custom keys, in the order they come, every other key skipped unread),
each image shaped into a Struct of v1's 18 fields by attribute, one encode. It handles the
body's common case only (a size, timestamps in v2's usual form) and refuses any other
body; its output is checked to be the proxy's v1 detail listing before timing. Tried and
slower: decoding into dicts (the previous floor, 4.1-4.2 us/image against this one's
1.8-2.0 here, the day it changed), the per-image Raw split of the proxy's memo path,
orjson's loads and dumps. The figure is the minimum, over ``--repeat`` bodies (each
churned afresh), of the CPU time of one translation divided by the images, with the
proxy's garbage collector settings.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import sys
import time
from operator import itemgetter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402

from bench.upstream import Answers, prebuilt_bodies  # noqa: E402
from bench.listing_split import proxy_listing  # noqa: E402
from proxy.shell.listing_memo import ListingMemo  # noqa: E402
from proxy.v1.images import SHOWN_TYPES, V2_OWN_FIELDS, V1Image, to_v1_image  # noqa: E402

_ENCODE = msgspec.json.Encoder().encode
_STATUS = {"uploading": "saving", "importing": "saving"}
# the v1 fields, typed for this body's common case (a size, timestamps)
_SHOWN = {**SHOWN_TYPES, "size": int, "created_at": str, "updated_at": str}


def translator(body: bytes):
    """The fastest translation of bodies whose images carry the keys of ``body``'s first."""
    keys = [key for key in msgspec.json.decode(body)["images"][0]
            if key in _SHOWN or key not in V2_OWN_FIELDS]
    customs = sorted(key for key in keys if key not in _SHOWN)
    names = {key: key if key in _SHOWN else f"c{customs.index(key)}" for key in keys}
    image = msgspec.defstruct("Image", [(names[key], _SHOWN.get(key, object)) for key in keys],
                              rename={name: key for key, name in names.items()}, gc=False)
    properties = msgspec.defstruct(
        "Properties", [(f"c{n}", object) for n in range(len(customs))],
        rename={f"c{n}": key for n, key in enumerate(customs)}, gc=False)
    astuple = msgspec.structs.astuple
    custom_values = itemgetter(*(keys.index(key) for key in customs))  # sorted, as the proxy
    decode = msgspec.json.Decoder(msgspec.defstruct("Body", [("images", list[image])])).decode

    def v1_image(i) -> V1Image:
        ca, ua, status = i.created_at, i.updated_at, i.status
        if not i.size or len(ca) != 20 or ca[19] != "Z" or len(ua) != 20 or ua[19] != "Z":
            raise SystemExit("the floor handles the common case only")
        custom = custom_values(astuple(i))
        if "" in custom:
            custom = [None if value == "" else value for value in custom]
        return V1Image(i.id, i.name, _STATUS.get(status, status), i.size, i.virtual_size,
                       i.checksum, i.disk_format, i.container_format, i.min_disk or 0,
                       i.min_ram or 0, i.owner, i.visibility == "public", i.protected is True,
                       ca[:19] + ".000000", ua[:19] + ".000000", None, False,
                       properties(*custom))

    def translate(body: bytes) -> bytes:
        """A v2 list body -> the v1 detail listing's body."""
        return _ENCODE({"images": [v1_image(image) for image in decode(body).images]})
    return translate


def churned_bodies(size: int, count: int) -> list[bytes]:
    answers = Answers(asyncio.run(prebuilt_bodies())[str(size)])
    answers.set_churn(1)
    return [answers.next() for _ in range(count)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, choices=(25, 1000))
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--json", action="store_true", help="one JSON line, for bench/run.py")
    args = parser.parse_args()
    bodies = churned_bodies(args.size, args.repeat + 3)
    translate = translator(bodies[0])
    # the proxy's shaping, whatever it returns (a dict or a Struct), as JSON
    expected = _ENCODE({"images": [
        to_v1_image(image) for image in msgspec.json.decode(bodies[0])["images"]]})
    if json.loads(translate(bodies[0])) != json.loads(expected):
        raise SystemExit("the floor's output is not the proxy's v1 detail listing")
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # as proxy.ops.serving sets them
    proxy = proxy_listing(ListingMemo(0, 0), args.size)  # the proxy's, with its memo off
    if json.loads(proxy(bodies[0])) != json.loads(expected):
        raise SystemExit("the proxy's listing is not its v1 detail listing")
    for body in bodies[:3]:
        translate(body)  # warm up
        proxy(body)
    times = {translate: [], proxy: []}
    for body in bodies[3:]:  # taking turns, each on the same bodies
        for step, took in times.items():
            start = time.thread_time_ns()
            step(body)
            took.append(time.thread_time_ns() - start)
    floor, own = (min(took) / 1000 / args.size for took in times.values())
    if args.json:
        print(json.dumps({"us_per_image": floor, "proxy_us_per_image": own,
                          "images": args.size}))
    else:
        print(f"translation floor: {floor:.2f} us/image; the proxy's listing (memo off): "
              f"{own:.2f} us/image, {own / floor:.2f}x ({args.size} churned images, min of "
              f"{len(bodies) - 3})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
