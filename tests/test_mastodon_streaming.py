"""Apps keep a stream open: the user stream brings new home posts and notifications over server-sent events, and
the public stream brings local posts over WebSocket."""

import asyncio
import json
import threading

import aiohttp
import requests

from tests.harness import wait_for
from tests.mastodon_client import password_login


def read_sse(url: str, token: str, events: list, stop: threading.Event) -> None:
    with requests.get(url, headers={"Authorization": f"Bearer {token}"}, stream=True, timeout=20) as answer:
        event = None
        for line in answer.iter_lines(decode_unicode=True):
            if stop.is_set():
                return
            if line.startswith(":)"):
                events.append(("open", {}))
            elif line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: "):
                events.append((event, json.loads(line[6:])))


def test_the_user_stream_brings_followed_posts_and_notifications(instances):
    a = instances.new("a")
    a.movement("landrights")
    a.member("alice", "landrights", role="admin")
    a.member("bob", "landrights")
    alice, bob = password_login(a, "alice"), password_login(a, "bob")
    alice.account_follow(bob.me().id)

    events, stop = [], threading.Event()
    reader = threading.Thread(
        target=read_sse, args=(a.url("/api/v1/streaming/user"), alice.access_token, events, stop), daemon=True
    )
    reader.start()
    wait_for(lambda: ("open", {}) in events, what="the stream to open")
    post = bob.status_post("Meeting moved to the barn")
    bob.status_favourite(alice.status_post("Bring chairs").id)
    wait_for(
        lambda: any(e == "update" and p["uri"] == post.uri for e, p in events),
        what="bob's post on the stream",
    )
    favourited = wait_for(
        lambda: [p for e, p in events if e == "notification" and p["type"] == "favourite"],
        what="a favourite notification on the stream",
    )
    assert favourited[0]["account"]["acct"] == "bob"
    stop.set()


def test_the_public_stream_over_websocket_brings_local_posts(instances):
    a = instances.new("a")
    a.movement("landrights")
    a.member("alice", "landrights")
    alice = password_login(a, "alice")

    async def listen() -> dict:
        url = a.url("/api/v1/streaming").replace("http://", "ws://") + f"?access_token={alice.access_token}"
        async with aiohttp.ClientSession() as http, http.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"type": "subscribe", "stream": "public:local"}))
            await asyncio.sleep(0.6)
            await asyncio.to_thread(alice.status_post, "Open assembly tonight")
            while True:
                message = json.loads((await asyncio.wait_for(ws.receive(), 10)).data)
                if message.get("event") == "update":
                    return message

    message = asyncio.run(listen())
    assert message["stream"] == ["public", "local"]
    assert "Open assembly tonight" in json.loads(message["payload"])["content"]
