"""The gateway websocket: HELLO, heartbeats, IDENTIFY → READY → GUILD_CREATE, RESUME, dispatches.

Frames are plain JSON TEXT frames: discord.py asks for ``compress=zlib-stream`` but parses TEXT
frames without decompressing (gateway.py ``received_message``), so no zlib is needed here.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from .server import DiscordEmulator

# Gateway opcodes.
DISPATCH, HEARTBEAT, IDENTIFY, PRESENCE, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = (
    0, 1, 2, 3, 6, 7, 9, 10, 11,
)


@dataclass
class GatewaySession:
    """One websocket connection (a RESUME makes a new connection that keeps ``session_id``)."""

    ws: web.WebSocketResponse
    query: dict[str, str]
    connected_at: float
    session_id: str | None = None
    intents: int | None = None
    identify: dict[str, Any] | None = None
    seq: int = 0
    ready: bool = False  # READY and every GUILD_CREATE were sent
    resumed: bool = False
    closed: bool = False
    close_code: int | None = None
    heartbeats: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)  # every frame we sent (op, t, s, d)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def send(self, frame: dict[str, Any]) -> None:
        # aiohttp websockets do not serialise concurrent writers; dispatches can race heartbeats.
        async with self._lock:
            if self.ws.closed:
                raise ConnectionResetError("gateway websocket is closed")
            await self.ws.send_str(json.dumps(frame))
            self.sent.append(frame)

    async def dispatch(self, event: str, data: dict[str, Any]) -> None:
        async with self._lock:
            if self.ws.closed:
                raise ConnectionResetError("gateway websocket is closed")
            self.seq += 1
            frame = {"op": DISPATCH, "t": event, "s": self.seq, "d": data}
            await self.ws.send_str(json.dumps(frame))
            self.sent.append(frame)

    @property
    def live(self) -> bool:
        return self.ready and not self.closed and not self.ws.closed


class Gateway:
    def __init__(self, emulator: DiscordEmulator, *, heartbeat_interval: float) -> None:
        self._emu = emulator
        self.heartbeat_interval = heartbeat_interval
        self.sessions: list[GatewaySession] = []
        self.identifies: list[dict[str, Any]] = []
        self._by_session_id: dict[str, GatewaySession] = {}

    @property
    def active(self) -> GatewaySession | None:
        """The newest live session: the bot process that receives interactions."""
        return next((s for s in reversed(self.sessions) if s.live), None)

    async def handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0)
        await ws.prepare(request)
        session = GatewaySession(ws=ws, query=dict(request.query), connected_at=self._emu.now())
        self.sessions.append(session)
        await self._emu.notify()
        try:
            await session.send({"op": HELLO, "d": {"heartbeat_interval": int(self.heartbeat_interval * 1000)}})
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_frame(session, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        except ConnectionResetError:
            pass
        finally:
            session.closed = True
            session.close_code = ws.close_code
            await self._emu.notify()
        return ws

    async def _on_frame(self, session: GatewaySession, frame: dict[str, Any]) -> None:
        op, data = frame.get("op"), frame.get("d")
        handlers: dict[int, Callable[[GatewaySession, Any], Awaitable[None]]] = {
            HEARTBEAT: self._heartbeat,
            IDENTIFY: self._identify,
            RESUME: self._resume,
        }
        handler = handlers.get(op)  # type: ignore[arg-type]
        if handler is not None:
            await handler(session, data)
        # PRESENCE_UPDATE, REQUEST_GUILD_MEMBERS, voice: accepted and ignored.

    async def _heartbeat(self, session: GatewaySession, _data: Any) -> None:
        session.heartbeats += 1
        await session.send({"op": HEARTBEAT_ACK})

    async def _identify(self, session: GatewaySession, data: dict[str, Any]) -> None:
        if session.session_id is not None:
            await session.ws.close(code=4005, message=b"Already authenticated.")
            return
        if data.get("token") != self._emu.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        self.identifies.append(data)
        session.identify = data
        session.intents = data.get("intents")
        session.session_id = secrets.token_hex(16)
        self._by_session_id[session.session_id] = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": {**self._emu.bot_user.payload(), "verified": True, "mfa_enabled": False, "flags": 0},
            "guilds": [{"id": str(g.id), "unavailable": True} for g in self._emu.guilds.values()],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self._emu.gateway_url,
            "application": {"id": str(self._emu.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "geo_ordered_rtc_regions": [],
            "_trace": ["emulator"],
        }
        if data.get("shard") is not None:
            ready["shard"] = data["shard"]
        await session.dispatch("READY", ready)
        for guild in list(self._emu.guilds.values()):
            await session.dispatch("GUILD_CREATE", guild.payload())
        session.ready = True
        await self._emu.notify()

    async def _resume(self, session: GatewaySession, data: dict[str, Any]) -> None:
        old = self._by_session_id.get(data.get("session_id", ""))
        if old is None or data.get("token") != self._emu.token:
            await session.send({"op": INVALID_SESSION, "d": False})
            return
        session.session_id, session.intents, session.identify = old.session_id, old.intents, old.identify
        session.seq, session.resumed = max(old.seq, int(data.get("seq") or 0)), True
        self._by_session_id[old.session_id] = session  # type: ignore[index]
        await session.dispatch("RESUMED", {"_trace": ["emulator"]})
        session.ready = True
        await self._emu.notify()

    async def broadcast(self, event: str, data: dict[str, Any]) -> None:
        for session in self.sessions:
            if session.live:
                await session.dispatch(event, data)

    async def send_reconnect(self) -> None:
        """Ask the connected bot to reconnect (op 7); discord.py then RESUMEs."""
        session = self.active
        if session is not None:
            await session.send({"op": RECONNECT, "d": None})

    async def close_all(self, code: int) -> None:
        for session in self.sessions:
            if not session.ws.closed:
                await session.ws.close(code=code)
