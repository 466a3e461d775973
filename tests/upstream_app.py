"""A team's own API for the tests of SPEC §12: a real upstream process (aiohttp) behind a BFF route.

    python -m tests.upstream_app --port 9100

HTTP (any method, any path, under any base):
- `…/echo…`: 200 JSON of what arrived: method, path, raw query, every header, the body's length;
- `…/stream?mib=N`: N MiB streamed in 64 KiB chunks (no Content-Length);
- `…/upload`: reads the body as a stream and answers its length and SHA-256;
- `…/slow?delay=S`: waits S seconds before answering;
- `…/leaky`: answers with `Set-Cookie`, hop-by-hop fields and a `Connection`-named field (none may reach
  the browser);
- `…/refresh-me`: 401 `WWW-Authenticate: Bearer error="invalid_token"` for the first bearer token it sees,
  200 for any other (the BFF refreshes once and retries);
- `…/status/{code}`: that status, with a JSON body.

WebSocket `…/ws`: echoes text and binary frames; `whoami` answers the `Authorization` and `Origin` it was
opened with (JSON); `close:<code>` closes with that code; it accepts the first offered subprotocol of
`chat`, `superchat`. `…/ws?tag=T` records the close code its peer closed with, read back as JSON from
`…/ws-closed?tag=T` (null while open). `…/ws-reject` refuses the upgrade with 403.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json

from aiohttp import WSMsgType, web

CHUNK = 64 * 1024


async def handle(request: web.Request) -> web.StreamResponse:
    path = request.path
    if path.endswith("/ws"):
        return await websocket(request)
    if path.endswith("/ws-closed"):
        return web.json_response({"code": request.app["ws_closes"].get(request.query.get("tag"))})
    if path.endswith("/ws-reject"):
        return web.json_response({"error": "forbidden"}, status=403)
    if path.endswith("/stream"):
        return await stream(request)
    if path.endswith("/upload"):
        digest, size = hashlib.sha256(), 0
        async for chunk in request.content.iter_chunked(CHUNK):
            digest.update(chunk)
            size += len(chunk)
        return web.json_response({"bytes": size, "sha256": digest.hexdigest()})
    if path.endswith("/slow"):
        await asyncio.sleep(float(request.query.get("delay", "5")))
        return web.json_response({"slow": True})
    if path.endswith("/leaky"):
        response = web.json_response({"leaky": True})
        response.headers.add("Set-Cookie", "upstream=1; Path=/")
        response.headers["Connection"] = "X-Upstream-Private"
        response.headers["X-Upstream-Private"] = "secret"
        response.headers["Keep-Alive"] = "timeout=5"
        response.headers["Proxy-Authenticate"] = "Basic"
        response.headers["X-Public"] = "fine"
        return response
    if path.endswith("/refresh-me"):
        seen: set[str] = request.app["seen_tokens"]
        authorization = request.headers.get("Authorization", "")
        if authorization and not seen:
            seen.add(authorization)
            return web.json_response(
                {"error": "expired"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer error="invalid_token"'},
            )
        return web.json_response({"authorization_changed": authorization not in seen})
    if "/status/" in path:
        code = int(path.rsplit("/", 1)[1])
        return web.json_response({"status": code}, status=code)
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path": request.raw_path.split("?", 1)[0],
            "query": request.query_string,
            "headers": [[name, value] for name, value in request.headers.items()],
            "body_bytes": len(body),
        }
    )


async def stream(request: web.Request) -> web.StreamResponse:
    mib = int(request.query.get("mib", "1"))
    response = web.StreamResponse(headers={"Content-Type": "application/octet-stream"})
    await response.prepare(request)
    block = b"x" * CHUNK
    for _ in range(mib * 1024 * 1024 // CHUNK):
        await response.write(block)
    await response.write_eof()
    return response


async def websocket(request: web.Request) -> web.StreamResponse:
    socket = web.WebSocketResponse(protocols=("chat", "superchat"), heartbeat=None)
    await socket.prepare(request)
    async for message in socket:
        if message.type is WSMsgType.TEXT:
            text = message.data
            if text == "whoami":
                await socket.send_str(
                    json.dumps(
                        {
                            "authorization": request.headers.get("Authorization"),
                            "origin": request.headers.get("Origin"),
                            "cookie": request.headers.get("Cookie"),
                            "protocol": socket.ws_protocol,
                        }
                    )
                )
            elif text.startswith("close:"):
                await socket.close(code=int(text.split(":", 1)[1]), message=b"asked")
            else:
                await socket.send_str(text)
        elif message.type is WSMsgType.BINARY:
            await socket.send_bytes(message.data)
    tag = request.query.get("tag")
    if tag is not None:
        request.app["ws_closes"][tag] = socket.close_code
    return socket


def create_app() -> web.Application:
    app = web.Application(client_max_size=1024**3)
    app["seen_tokens"] = set()
    app["ws_closes"] = {}
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    web.run_app(create_app(), host=args.host, port=args.port, print=None, access_log=None)


if __name__ == "__main__":
    main()
