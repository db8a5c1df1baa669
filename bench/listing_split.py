"""Where a listing's CPU goes, per image: the proxy's own listing functions, in-process, no
HTTP, on churned 1000-image v2 bodies (every image new: nothing can be remembered).

    PYTHONPATH=. .venv/bin/python bench/listing_split.py [--size 1000] [--repeat 30]

Each step is timed alone on the same bodies (the minimum over ``--repeat`` bodies of the
CPU time of one body, divided by its images, with the proxy's garbage collector settings),
then the whole path as the handler runs it: memo off (one pass), memo on while churning
(one body in SAMPLE_EVERY through it), and each read the memo path would make of every
body, for comparison. bench/RESULTS.md quotes a run.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import msgspec  # noqa: E402

from bench.upstream import Answers, prebuilt_bodies  # noqa: E402
from proxy.shell.image_reads import listing_json  # noqa: E402
from proxy.shell.listing_memo import _SPLIT, _WHOLE, ListingMemo  # noqa: E402
from proxy.v1.images import v1_image_of  # noqa: E402
from proxy.v1.query import parse_list_query, query_pairs  # noqa: E402
from proxy.v2.answers import ListPage, ParsedImage, image_of  # noqa: E402
from proxy.v2.plan import ListPaging, plan_list  # noqa: E402
from proxy.v2.typed_images import ImageTypes  # noqa: E402


def per_image(step, bodies: list[bytes], images: int) -> float:
    """Microseconds of CPU per image: the least ``step(body)`` took over the bodies."""
    took = []
    for body in bodies:
        start = time.thread_time_ns()
        step(body)
        took.append(time.thread_time_ns() - start)
    return min(took) / 1000 / images


def proxy_listing(memo: ListingMemo, size: int):
    """body -> the v1 detail listing, as the proxy's handler makes it of one v2 answer."""
    query = parse_list_query(query_pairs(f"limit={size}"))

    def run(body: bytes) -> bytes:
        paging = ListPaging(plan_list(query))
        paging.first_request()
        paging.feed(memo.page(body), frozenset())
        return listing_json(paging.images, v1_image_of)
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1000, choices=(25, 1000))
    parser.add_argument("--repeat", type=int, default=32, help="bodies (a multiple of 8)")
    args = parser.parse_args()
    answers = Answers(asyncio.run(prebuilt_bodies())[str(args.size)])
    answers.set_churn(1)
    bodies = [answers.next() for _ in range(args.repeat)]
    query = parse_list_query(query_pairs(f"limit={args.size}"))  # the paging step's
    gc.collect()
    gc.freeze()
    gc.set_threshold(100_000, 50, 100)  # as proxy.ops.serving sets them

    types = ImageTypes()
    types.learn(_WHOLE.decode(bodies[0]).images)  # as the first body read as dicts teaches
    typed = {body: types.read(body)[0] for body in bodies}
    shaped = {body: [v1_image_of(image) for image in typed[body]] for body in bodies}
    pages = {body: ListPage(tuple(map(ParsedImage, typed[body])), True) for body in bodies}
    decoded = {body: _WHOLE.decode(body).images for body in bodies}
    encoder = msgspec.json.Encoder()  # as proxy.shell.image_reads writes a page

    steps = {
        "decode the body into the learned types (msgspec)": types.read,
        "wrap each image (ParsedImage)": lambda b: tuple(map(ParsedImage, typed[b])),
        "paging (v1's filters, marker, limit)": lambda b: ListPaging(plan_list(query)).feed(
            pages[b], frozenset()),
        "shape: v1_image_of (fields, custom values, v1 Struct)":
            lambda b: [v1_image_of(i) for i in typed[b]],
        "encode the page (msgspec, one call)": lambda b: encoder.encode({"images": shaped[b]}),
        "as dicts (keys not learned): decode the body": lambda b: _WHOLE.decode(b),
        "as dicts: check each image's id, wrap it":
            lambda b: [ParsedImage(image_of(i)) for i in decoded[b]],
        "as dicts: shape (layout, type checks, v1 Struct)":
            lambda b: [v1_image_of(i) for i in decoded[b]],
        "memo path: split the body into each image's bytes": lambda b: _SPLIT.decode(b),
        "memo path: split, copy, hash and look up each image": lambda b: [
            ListingMemo(4096, 16 << 20)._read_split(b, 0)],
    }
    whole = {
        "the listing, memo off (one pass)": proxy_listing(ListingMemo(0, 0), args.size),
        "the listing, default memo, churning": proxy_listing(ListingMemo(4096, 16 << 20),
                                                             args.size),
    }
    print(f"{args.size} churned images, us of CPU per image (min of {args.repeat} bodies; "
          "the whole listing: their mean, the two taking turns):")
    for label, step in steps.items():
        print(f"  {label:62} {per_image(step, bodies, args.size):6.2f}")
    took = {label: [] for label in whole}
    for body in bodies:  # taking turns: this machine's pace drifts from second to second
        for label, step in whole.items():
            start = time.thread_time_ns()
            step(body)
            took[label].append(time.thread_time_ns() - start)
    for label, times in took.items():
        print(f"  {label:62} {sum(times) / len(times) / 1000 / args.size:6.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
