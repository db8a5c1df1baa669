"""The metrics' own arithmetic: what a scrape shows after known observations."""

from proxy.ops.metrics import Metrics


def samples(metrics: Metrics) -> dict[str, float]:
    text = metrics.render().body.decode()
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def test_histogram_buckets_are_cumulative_and_a_value_on_a_bound_counts_in_that_bucket():
    metrics = Metrics()
    for seconds in (0.001, 0.002, 0.5, 45.0):
        metrics.upstream_call("list_images", seconds, None)
    got = samples(metrics)
    bucket = 'image_v1_proxy_upstream_request_duration_seconds_bucket{call="list_images",le="%s"}'
    assert [got[bucket % le] for le in ("0.001", "0.0025", "0.25", "0.5", "30.0", "+Inf")] == [
        1, 2, 2, 3, 3, 4]
    assert got['image_v1_proxy_upstream_request_duration_seconds_count{call="list_images"}'] == 4
    assert got['image_v1_proxy_upstream_request_duration_seconds_sum{call="list_images"}'] == 45.503


def test_requests_errors_and_in_flight_are_counted_per_label():
    metrics = Metrics()
    metrics.in_flight += 2
    metrics.request_done("/v1/images", "GET", 200, 0.01, "python-glanceclient")
    metrics.request_done("/v1/images", "GET", 200, 0.01, "python-glanceclient")
    metrics.request_done("/v1/images", "GET", 404, 0.01, None)
    metrics.upstream_call("member", 0.1, "timeout")
    got = samples(metrics)
    assert got['image_v1_proxy_requests_total{method="GET",route="/v1/images",status="200"}'] == 2
    assert got['image_v1_proxy_requests_total{method="GET",route="/v1/images",status="404"}'] == 1
    assert got['image_v1_proxy_legacy_requests_total{client="python-glanceclient",'
               'route="/v1/images"}'] == 2
    assert got['image_v1_proxy_legacy_requests_total{client="none",route="/v1/images"}'] == 1
    assert got['image_v1_proxy_upstream_errors_total{kind="timeout"}'] == 1
    assert got["image_v1_proxy_in_flight_requests"] == 2
