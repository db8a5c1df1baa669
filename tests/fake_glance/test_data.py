"""Image data: upload, download, deactivated images
(docs/v2-upstream.md#53-uploading-data-and-import, docs/v2-upstream.md#56-download)."""

import hashlib

from tests.fake_glance.calls import A, ADMIN, OCTET, create, error


async def test_upload_activates_and_download_returns_the_bytes(client):
    image = await create(client, disk_format="raw", container_format="bare")
    data = bytes(range(256)) * 4
    resp = await client.put(f"/v2/images/{image['id']}/file", data=data, headers={**A, **OCTET})
    assert resp.status == 204
    shown = await (await client.get(f"/v2/images/{image['id']}", headers=A)).json()
    assert (shown["status"], shown["size"], shown["virtual_size"]) == ("active", 1024, 1024)
    assert shown["checksum"] == hashlib.md5(data).hexdigest()
    assert (shown["os_hash_algo"], shown["os_hash_value"]) == (
        "sha512", hashlib.sha512(data).hexdigest())
    assert shown["stores"] == "fs"
    resp = await client.get(f"/v2/images/{image['id']}/file", headers=A)
    assert resp.status == 200 and await resp.read() == data
    assert resp.headers["Content-MD5"] == shown["checksum"]
    assert resp.headers["Content-Length"] == "1024"


async def test_upload_rules(client):
    queued = await create(client, name="no formats")
    url = f"/v2/images/{queued['id']}/file"
    resp = await client.put(url, data=b"x", headers={**A, "Content-Type": "text/plain"})
    assert resp.status == 415
    resp = await client.put(url, data=b"x", headers={**A, **OCTET})
    assert await error(resp) == (400, "Properties disk_format, container_format must be set "
                                      "prior to saving data.")
    assert (await client.get(url, headers=A)).status == 204
    ready = await create(client, disk_format="raw", container_format="bare")
    url = f"/v2/images/{ready['id']}/file"
    assert (await client.put(url, data=b"x", headers={**A, **OCTET})).status == 204
    resp = await client.put(url, data=b"x", headers={**A, **OCTET})
    assert await error(resp) == (409, "Image status transition from active to saving is not "
                                      "allowed")


async def test_deactivated_images_cannot_be_downloaded_by_non_admins(client, fake):
    image = fake.add_image(owner="projA", data=b"abc", disk_format="raw", container_format="bare")
    action = f"/v2/images/{image['id']}/actions/deactivate"
    assert (await client.post(action, headers=A)).status == 204
    resp = await client.get(f"/v2/images/{image['id']}/file", headers=A)
    assert await error(resp) == (403, "The requested image has been deactivated. Image data "
                                      "download is forbidden.")
    assert (await client.get(f"/v2/images/{image['id']}/file", headers=ADMIN)).status == 200
    queued = fake.add_image(owner="projA")
    resp = await client.post(f"/v2/images/{queued['id']}/actions/deactivate", headers=A)
    assert await error(resp) == (403, "Not allowed to deactivate image in status 'queued'")
