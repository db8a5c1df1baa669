"""The translation floor: the fastest decode -> v1 detail -> encode of a churned 1000-image v2
list body we could write in Python with msgspec, in-process, no HTTP: what a v1 listing
costs per image when nothing can be remembered, against which the proxy's own per-image
cost under churn is judged (bench/run.py runs this pinned to the servers' core).

    PYTHONPATH=. .venv/bin/python bench/floor.py [--size 1000] [--repeat 30] [--json]

One decode of the whole body to dicts (msgspec), each image shaped into a Struct of v1's 18
fields, one encode. The common case is inlined; any image off it (a field missing or of
another type, a size of 0 or null, a timestamp not in v2's usual form) goes through the
proxy's own to_v1_image, so the output is the proxy's v1 detail listing, which is checked
before timing. Tried and slower on this body, by 1.2-1.4 us/image (min): the
per-image Raw split, decode, shape, encode and join of the proxy's memo path; shaping
into dicts (as to_v1_image did at 4893aa6) with one encode; orjson's loads and dumps. (Of
the floor's 6 us/image here, the decode alone is about 2, the encode 0.5.) The figure is
the minimum, over ``--repeat`` bodies (each churned afresh), of the CPU time of one
translation divided by the images, with the proxy's garbage collector settings.
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
from proxy.v1.images import V2_OWN_FIELDS, V1Image, to_v1_image  # noqa: E402


class _Body(msgspec.Struct):
    images: list[dict]


_DECODE = msgspec.json.Decoder(_Body).decode
_ENCODE = msgspec.json.Encoder().encode
_FIELDS = itemgetter("id", "name", "status", "size", "virtual_size", "checksum", "disk_format",
                     "container_format", "min_disk", "min_ram", "owner", "visibility",
                     "protected", "created_at", "updated_at")
_STRS, _INTS = {str, type(None)}, {int, type(None)}
_STATUS = {"uploading": "saving", "importing": "saving"}
_OWN = V2_OWN_FIELDS


def _off_the_common_case(image: dict):
    if type(image.get("id")) is not str:  # what the proxy checks of every listed image
        raise ValueError("an image is not an object with an id")
    return to_v1_image(image)


def v1_image(image: dict):
    try:
        (id_, name, status, size, vsize, checksum, dfmt, cfmt, min_disk, min_ram, owner, vis,
         prot, ca, ua) = _FIELDS(image)
    except KeyError:
        return _off_the_common_case(image)
    if (type(id_) is not str or type(prot) is not bool or not size or type(ca) is not str
            or type(ua) is not str or len(ca) != 20 or ca[19] != "Z" or len(ua) != 20
            or ua[19] != "Z" or not {type(name), type(status), type(checksum), type(dfmt),
                                     type(cfmt), type(owner), type(vis)} <= _STRS
            or not {type(size), type(vsize), type(min_disk), type(min_ram)} <= _INTS):
        return _off_the_common_case(image)
    properties = {}
    for key in image.keys() - _OWN:
        value = image[key]
        properties[key] = None if value == "" else value
    return V1Image(id_, name, _STATUS.get(status, status), size, vsize, checksum, dfmt, cfmt,
                   min_disk or 0, min_ram or 0, owner, vis == "public", prot,
                   ca[:19] + ".000000", ua[:19] + ".000000", None, False, properties)


def translate(body: bytes) -> bytes:
    """A v2 list body -> the v1 detail listing's body."""
    return _ENCODE({"images": [v1_image(image) for image in _DECODE(body).images]})


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
    # the proxy's shaping, whatever it returns (a dict or a Struct), as JSON
    expected = _ENCODE({"images": [to_v1_image(image) for image in _DECODE(bodies[0]).images]})
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
