import pytest

from proxy.fake_glance import FakeGlance
from tests.fake_glance.calls import Clock


@pytest.fixture
def fake():
    return FakeGlance(now=Clock())


@pytest.fixture
async def client(aiohttp_client, fake):
    return await aiohttp_client(fake.app())


@pytest.fixture
def world_images(fake) -> dict[str, dict]:
    """projA's images of every visibility, projB's, and shares in each member status; by name."""
    added = [
        fake.add_image(owner="projA", name="a-private", visibility="private"),
        fake.add_image(owner="projA", name="a-shared", visibility="shared"),
        fake.add_image(owner="projA", name="a-community", visibility="community"),
        fake.add_image(owner="projA", name="a-public", visibility="public"),
        fake.add_image(owner="projB", name="b-private", visibility="private"),
        fake.add_image(owner="projB", name="b-community", visibility="community"),
        *(fake.add_image(owner="projB", name=f"b-{status}", visibility="shared",
                         members={"projA": status})
          for status in ("pending", "accepted", "rejected")),
        fake.add_image(owner="projB", name="b-killed", visibility="public", status="killed"),
        fake.add_image(owner="projC", name="c-hidden", visibility="public", os_hidden=True),
    ]
    return {image["name"]: image for image in added}


@pytest.fixture
async def world(client, world_images):
    """The client, with the world_images loaded."""
    return client
