import pytest

from tests.support.scripted import ScriptedUpstream


@pytest.fixture
async def upstream(aiohttp_server):
    scripted = ScriptedUpstream()
    scripted.server = await aiohttp_server(scripted.app())
    return scripted
