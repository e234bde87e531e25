"""/v1/profiles/{id}/settings: defaults, partial updates validated by ProfileSettings, scoping."""

from __future__ import annotations

from handlers.profile_settings import ProfileSettings
from store.profiles import get_profile
from tests.api.conftest import Api

URL = "/v1/profiles/p1/settings"


async def test_defaults_then_partial_updates(api: Api, operator: dict[str, str]) -> None:
    response = await api.client.get(URL, headers=operator)
    assert response.status == 200
    assert await response.json() == ProfileSettings().model_dump(mode="json")

    api.clock.advance(60)
    patched = await api.client.patch(
        URL, json={"title_template": "Session with {client_name}", "include_client": True}, headers=operator
    )
    assert patched.status == 200
    body = await patched.json()
    assert (body["title_template"], body["include_client"]) == ("Session with {client_name}", True)
    assert body["sync_days_ahead"] == ProfileSettings().sync_days_ahead

    second = await api.client.patch(URL, json={"on_external_move": "accept"}, headers=operator)
    assert (await second.json())["title_template"] == "Session with {client_name}"
    assert await (await api.client.get(URL, headers=operator)).json() == await second.json()
    async with api.db.session() as s:
        profile = await get_profile(s, "p1")
        # Only what was set is stored: untouched settings keep following their defaults.
        assert profile.settings == {
            "title_template": "Session with {client_name}",
            "include_client": True,
            "on_external_move": "accept",
        }
        assert profile.updated_at == api.clock.now()
    assert (await api.client.patch(URL, json={}, headers=operator)).status == 200


async def test_bad_values_name_the_field(api: Api, operator: dict[str, str]) -> None:
    cases = [
        ({"title_template": "{title} {secret}"}, "title_template"),
        ({"title_template": "{title"}, "title_template"),
        ({"title_template": None}, "title_template"),
        ({"sync_days_back": -1}, "sync_days_back"),
        ({"on_external_delete": "shrug"}, "on_external_delete"),
        ({"colour": "red"}, "colour"),
    ]
    for body, field in cases:
        response = await api.client.patch(URL, json=body, headers=operator)
        assert response.status == 422, body
        assert [e["field"] for e in (await response.json())["errors"]] == [field], body
    bad_json = await api.client.patch(URL, data="{", headers={**operator, "Content-Type": "application/json"})
    assert bad_json.status == 400
    assert await (await api.client.get(URL, headers=operator)).json() == ProfileSettings().model_dump(
        mode="json"
    )


async def test_scoping_and_missing_profiles(api: Api, operator: dict[str, str]) -> None:
    await api.seed(org="org2", profile="p2")
    other = await api.key("org2")
    assert (await api.client.get(URL, headers=other)).status == 404
    assert (await api.client.patch(URL, json={"include_location": False}, headers=other)).status == 404
    assert (await api.client.get("/v1/profiles/p2/settings", headers=other)).status == 200
    assert (await api.client.get("/v1/profiles/nobody/settings", headers=operator)).status == 404
    read_only = await api.key("org1", read_only=True)
    assert (await api.client.get(URL, headers=read_only)).status == 200
    assert (await api.client.patch(URL, json={"include_location": False}, headers=read_only)).status == 403
    assert (await (await api.client.get(URL, headers=operator)).json())["include_location"] is True
