"""The libp2p host of a node: identity, transports, peers, reconnects, and its own trio thread.

py-libp2p 0.8.1 runs only on trio, the node on asyncio: the host runs under `trio.run` in a
thread of its own and every call crosses `p2p.bridge`. Services (gossip, sync) attach before
`start()` and are set up inside the trio run.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import libp2p.network.swarm
import multiaddr
import trio
from libp2p import new_host
from libp2p.abc import IHost, INetConn, INetStream, INetwork, INotifee
from libp2p.crypto.ed25519 import create_new_key_pair
from libp2p.crypto.keys import KeyPair
from libp2p.crypto.x25519 import create_new_key_pair as create_x25519_key_pair
from libp2p.network.swarm import Swarm
from libp2p.peer.id import ID
from libp2p.peer.peerinfo import PeerInfo, info_from_p2p_addr
from libp2p.security.noise.transport import PROTOCOL_ID as NOISE_ID
from libp2p.security.noise.transport import Transport as NoiseTransport
from libp2p.stream_muxer.yamux.yamux import PROTOCOL_ID as YAMUX_ID
from libp2p.stream_muxer.yamux.yamux import Yamux

from p2p.bridge import TrioBridge, snapshot
from p2p.errors import DialError, P2PError, P2PNotRunningError

log = logging.getLogger("aither.p2p")


# 0.8.1 waits a fixed 250 ms "happy eyeballs" head start on every dial even with a single
# TCP address; the chain gains nothing from it, and connects drop from 250 ms to ~7 ms.
libp2p.network.swarm._HAPPY_EYEBALLS_DELAY = 0

SEED_SIZE = 32


@dataclass(frozen=True, slots=True)
class HostConfig:
    """How a host identifies itself, where it listens and whom it keeps connected to."""

    node_key_seed: bytes
    listen_addrs: tuple[str, ...] = ("/ip4/127.0.0.1/tcp/0",)
    bootstrap: tuple[str, ...] = ()  # full multiaddrs with /p2p/<peer id>
    dial_timeout: float = 5.0
    reconnect_initial: float = 0.2
    reconnect_max: float = 30.0
    ban_seconds: float = 60.0
    start_timeout: float = 10.0
    stop_timeout: float = 10.0

    def __post_init__(self) -> None:
        if len(self.node_key_seed) != SEED_SIZE:
            raise ValueError(f"node_key_seed must be {SEED_SIZE} bytes")
        if not self.listen_addrs:
            raise ValueError("listen_addrs must not be empty")


def quiet_library_logs(level: int = logging.CRITICAL) -> None:
    """Raise the level of py-libp2p's own loggers: 0.8.1 logs routine disconnects as
    multi-line errors. The node calls this when it sets up logging (not on import)."""
    logging.getLogger("libp2p").setLevel(level)


def peer_id_from_seed(seed: bytes) -> str:
    """The base58 peer id a node with this 32-byte ed25519 seed has."""
    return ID.from_pubkey(create_new_key_pair(seed).public_key).to_base58()


class HostRuntime:
    """What an attached service gets on the trio thread while the host runs."""

    __slots__ = ("ban", "bridge", "libp2p", "nursery")

    def __init__(
        self,
        libp2p: IHost,
        bridge: TrioBridge,
        nursery: trio.Nursery,
        ban: Callable[[ID, str], None],
    ) -> None:
        self.libp2p = libp2p
        self.bridge = bridge
        self.nursery = nursery
        self.ban = ban


class HostService(Protocol):
    """Something that runs inside the host's trio run (gossip, sync)."""

    async def serve(
        self, runtime: HostRuntime, *, task_status: trio.TaskStatus[None] = ...
    ) -> None:
        """Set up, call `task_status.started()`, then run until cancelled."""

    def close(self) -> None:
        """Release asyncio-side resources once the host has stopped."""


class P2PHost:
    """A libp2p host (ed25519 identity, TCP + Noise + Yamux) driven from asyncio.

    `await start()` and `await stop()` from the node's loop; attach services before start.
    """

    def __init__(self, config: HostConfig) -> None:
        self.config = config
        self._key_pair: KeyPair = create_new_key_pair(config.node_key_seed)
        self._id = ID.from_pubkey(self._key_pair.public_key)
        self._services: list[HostService] = []
        self._thread: threading.Thread | None = None
        self._bridge: TrioBridge | None = None
        self._libp2p: IHost | None = None
        self._stop: trio.Event | None = None
        self._stopped: asyncio.Future[None] | None = None
        self._wanted: dict[ID, PeerInfo] = {}
        self._keepers: set[ID] = set()
        self._changed: dict[ID, trio.Event] = {}
        self._banned_until: dict[ID, float] = {}
        self._listen: list[str] = []

    # -- identity and state (safe from any thread) --

    @property
    def peer_id(self) -> str:
        return self._id.to_base58()

    @property
    def is_running(self) -> bool:
        return self._bridge is not None and self._bridge.attached

    @property
    def listen_addrs(self) -> list[str]:
        """The addresses this host listens on, each ending in /p2p/<peer id> (after start)."""
        return list(self._listen)

    def peers(self) -> list[str]:
        """Peer ids of the peers connected now."""
        host = self._libp2p
        if host is None or not self.is_running:
            return []
        return snapshot(lambda: [peer.to_base58() for peer in host.get_connected_peers()])

    def attach(self, service: HostService) -> None:
        """Add a service to run inside the host; only before start()."""
        if self._thread is not None:
            raise P2PError("attach services before start()")
        self._services.append(service)

    @property
    def bridge(self) -> TrioBridge:
        if self._bridge is None:
            raise P2PNotRunningError("the p2p host is not running")
        return self._bridge

    # -- lifecycle (asyncio) --

    async def start(self) -> None:
        """Start the host thread, listen, run the services and dial the bootstrap peers.

        Raises P2PError when the host cannot listen or a service fails to start.
        """
        if self._thread is not None:
            raise P2PError("the p2p host was already started")
        for addr in self.config.listen_addrs:
            _check_port_free(addr)
        loop = asyncio.get_running_loop()
        self._bridge = TrioBridge(loop)
        started: asyncio.Future[None] = loop.create_future()
        self._stopped = loop.create_future()
        self._changed.clear()
        self._stop = trio.Event()
        for addr in self.config.bootstrap:
            info = _peer_info(addr)
            if info.peer_id != self._id:
                self._wanted[info.peer_id] = info
        self._thread = threading.Thread(
            target=self._thread_main, args=(started,), name=f"p2p-{self.peer_id[-6:]}", daemon=True
        )
        self._thread.start()
        try:
            await asyncio.wait_for(asyncio.shield(started), self.config.start_timeout)
        except BaseException:
            await self.stop()
            raise
        log.info("p2p host %s listening on %s", self.peer_id, " ".join(self._listen))

    async def stop(self) -> None:
        """Stop the services and the host, close every connection and join the thread."""
        thread, stopped = self._thread, self._stopped
        if thread is None or stopped is None:
            return
        if self._bridge is not None and self._stop is not None:
            self._bridge.call_soon(self._stop.set)
        try:
            await asyncio.wait_for(asyncio.shield(stopped), self.config.stop_timeout)
        finally:
            thread.join(timeout=self.config.stop_timeout)
            for service in self._services:
                service.close()
            self._thread = None
            self._listen = []
            self._libp2p = None
            log.info("p2p host %s stopped", self.peer_id)

    # -- peers (asyncio) --

    async def connect(self, addr: str, *, keep: bool = True) -> str:
        """Dial `addr` (a multiaddr ending in /p2p/<peer id>) and return the peer id.

        With `keep`, the host redials the peer with backoff whenever the connection drops.
        Raises DialError when the dial fails, ValueError on a malformed address,
        P2PNotRunningError before start().
        """
        info = _peer_info(addr)
        bridge = self.bridge
        if keep:
            self._wanted[info.peer_id] = info
        await bridge.to_trio(lambda: self._dial(info, keep))
        return info.peer_id.to_base58()

    async def disconnect(self, peer_id: str, *, forget: bool = True) -> None:
        """Close every connection to `peer_id`; with `forget`, stop reconnecting to it."""
        peer = ID.from_base58(peer_id)
        if forget:
            self._wanted.pop(peer, None)
        await self.bridge.to_trio(lambda: self._require_libp2p().disconnect(peer))

    # -- the trio side --

    def _thread_main(self, started: asyncio.Future[None]) -> None:
        bridge = self._bridge
        assert bridge is not None
        try:
            trio.run(self._trio_main, started)
        except BaseException as error:
            log.error("p2p host %s failed: %s", self.peer_id, error)
            bridge.post(_fail, started, P2PError(f"p2p host failed: {error}"))
        finally:
            bridge.detach()
            if self._stopped is not None:
                bridge.post(_settle, self._stopped)

    async def _trio_main(self, started: asyncio.Future[None]) -> None:
        bridge = self._bridge
        assert bridge is not None and self._stop is not None
        bridge.bind()  # stop() can reach us from here on, even while we start
        noise_key = create_x25519_key_pair().private_key
        host = new_host(
            key_pair=self._key_pair,
            listen_addrs=[multiaddr.Multiaddr(a) for a in self.config.listen_addrs],
            # Noise only and Yamux only: the default set also offers plaintext and secio.
            sec_opt={NOISE_ID: NoiseTransport(self._key_pair, noise_privkey=noise_key)},
            muxer_opt={YAMUX_ID: Yamux},
        )
        self._libp2p = host
        network = host.get_network()
        if isinstance(network, Swarm):
            # 0.8.1's AutoConnector dials every peer in the peerstore on each disconnect and
            # every 10 s while under 50 connections, behind the back of bans and forgotten
            # peers. Our keep-connected loops are the one redial policy.
            network.auto_connector.maybe_connect = _no_auto_connect
        listen = [multiaddr.Multiaddr(a) for a in self.config.listen_addrs]
        async with host.run(listen), trio.open_nursery() as nursery:
            host.get_network().register_notifee(_PeerWatch(self))
            runtime = HostRuntime(host, bridge, nursery, self._ban)
            for service in self._services:
                await nursery.start(service.serve, runtime)
            self._listen = [str(a) for a in host.get_addrs()]
            if not self._listen:
                raise P2PError(f"cannot listen on {', '.join(self.config.listen_addrs)}")
            bridge.attach(nursery)
            for peer in list(self._wanted):
                self._keep(nursery, peer)
            bridge.post(_settle, started)
            await self._stop.wait()
            bridge.detach()
            nursery.cancel_scope.cancel()

    def _require_libp2p(self) -> IHost:
        if self._libp2p is None:
            raise P2PNotRunningError("the p2p host is not running")
        return self._libp2p

    async def _dial(self, info: PeerInfo, keep: bool) -> None:
        host = self._require_libp2p()
        try:
            await self._connect(host, info)
        except Exception as error:
            raise DialError(f"cannot reach {info.peer_id}: {error}") from error
        nursery = self._bridge_nursery()
        if keep and nursery is not None:
            self._keep(nursery, info.peer_id)

    async def _connect(self, host: IHost, info: PeerInfo) -> None:
        # 0.8.1 refuses, for 60 s, to dial a peer whose addresses all failed once, which
        # would defeat our backoff: a restarted peer stayed unreachable for a minute.
        network = host.get_network()
        if isinstance(network, Swarm):
            network.unblock_peer(info.peer_id)
        with trio.fail_after(self.config.dial_timeout):
            await host.connect(await _resolved(info))

    def _bridge_nursery(self) -> trio.Nursery | None:
        bridge = self._bridge
        return None if bridge is None else bridge.nursery

    def _keep(self, nursery: trio.Nursery, peer: ID) -> None:
        if peer not in self._keepers:
            self._keepers.add(peer)
            nursery.start_soon(self._keep_connected, peer)

    async def _keep_connected(self, peer: ID) -> None:
        """Redial a wanted peer whenever it is not connected, backing off exponentially."""
        host = self._require_libp2p()
        delay = self.config.reconnect_initial
        try:
            while peer in self._wanted:
                banned_for = self._banned_until.get(peer, 0.0) - time.monotonic()
                if banned_for > 0:
                    await trio.sleep(banned_for)
                    continue
                if not host.get_network().get_connections(peer):
                    info = self._wanted.get(peer)
                    if info is None:
                        break
                    try:
                        await self._connect(host, info)
                    except Exception as error:
                        if delay == self.config.reconnect_initial:  # once per outage
                            log.info("p2p peer %s unreachable; redialling with backoff", peer)
                        log.debug("dial %s failed (%s); retry in %.2f s", peer, error, delay)
                        # Jitter keeps restarted nodes from redialling in lockstep.
                        await trio.sleep(delay * random.uniform(0.8, 1.2))
                        delay = min(delay * 2, self.config.reconnect_max)
                        continue
                    log.info("p2p connected to %s", peer)
                    delay = self.config.reconnect_initial
                await self._wait_disconnected(peer)
                if peer in self._wanted:
                    log.info("p2p peer %s went away; reconnecting", peer)
        finally:
            self._keepers.discard(peer)

    async def _wait_disconnected(self, peer: ID) -> None:
        host = self._require_libp2p()
        while host.get_network().get_connections(peer):
            event = self._changed.setdefault(peer, trio.Event())
            await event.wait()

    def _on_connection_change(self, peer: ID, connected: bool) -> None:
        event = self._changed.pop(peer, None)
        if event is not None:
            event.set()
        if connected and self._banned_until.get(peer, 0.0) > time.monotonic():
            nursery = self._bridge_nursery()
            if nursery is not None:
                nursery.start_soon(self._drop, peer)

    def _ban(self, peer: ID, reason: str) -> None:
        """Disconnect `peer` and refuse it for `ban_seconds` (called on the trio thread)."""
        self._banned_until[peer] = time.monotonic() + self.config.ban_seconds
        log.warning(
            "p2p peer %s disconnected and banned for %.0f s: %s",
            peer,
            self.config.ban_seconds,
            reason,
        )
        nursery = self._bridge_nursery()
        if nursery is not None:
            nursery.start_soon(self._drop, peer)

    def is_banned(self, peer_id: str) -> bool:
        until = self._banned_until.get(ID.from_base58(peer_id), 0.0)
        return until > time.monotonic()

    async def _drop(self, peer: ID) -> None:
        host = self._libp2p
        if host is None:
            return
        try:
            await host.disconnect(peer)
        except Exception as error:
            log.debug("disconnecting %s failed: %s", peer, error)


class _PeerWatch(INotifee):
    """Tells the host when connections come and go, to wake reconnect loops and refuse bans."""

    def __init__(self, host: P2PHost) -> None:
        self._host = host

    async def opened_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def closed_stream(self, network: INetwork, stream: INetStream) -> None:
        await trio.lowlevel.checkpoint()

    async def connected(self, network: INetwork, conn: INetConn) -> None:
        self._host._on_connection_change(conn.muxed_conn.peer_id, True)
        await trio.lowlevel.checkpoint()

    async def disconnected(self, network: INetwork, conn: INetConn) -> None:
        self._host._on_connection_change(conn.muxed_conn.peer_id, False)
        await trio.lowlevel.checkpoint()

    async def listen(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()

    async def listen_close(self, network: INetwork, multiaddr: multiaddr.Multiaddr) -> None:
        await trio.lowlevel.checkpoint()


async def _no_auto_connect() -> None:
    await trio.lowlevel.checkpoint()


def _check_port_free(addr: str) -> None:
    """Fail when a fixed TCP port is taken: 0.8.1 listens with SO_REUSEPORT, so a second
    node on the same port would start "fine" and have the kernel split connections."""
    maddr = multiaddr.Multiaddr(addr)
    try:
        host, port = maddr.value_for_protocol("ip4"), int(maddr.value_for_protocol("tcp"))
    except Exception:
        return  # not ip4/tcp: nothing we can probe
    if port == 0:
        return
    with socket.socket() as probe:
        # SO_REUSEADDR lets a restart bind over TIME_WAIT but not over a live listener.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            raise P2PError(f"cannot listen on {addr}: {error.strerror}") from error


async def _resolved(info: PeerInfo) -> PeerInfo:
    """`info` with /dns4, /dns6 and /dns names turned into IP addresses by the system resolver.

    0.8.1's resolver asks DNS servers only, so names from /etc/hosts (and some container
    setups) never resolved and the dial failed; getaddrinfo sees what the system sees.
    """
    addrs = []
    for maddr in info.addrs:
        protocols = [p.name for p in maddr.protocols()]
        name_proto = next((p for p in ("dns4", "dns6", "dns") if p in protocols), None)
        if name_proto is None or "tcp" not in protocols:
            addrs.append(maddr)
            continue
        name, port = maddr.value_for_protocol(name_proto), maddr.value_for_protocol("tcp")
        family = socket.AF_INET6 if name_proto == "dns6" else socket.AF_INET
        try:
            found = await trio.socket.getaddrinfo(name, int(port), family, socket.SOCK_STREAM)
        except OSError as error:
            log.info("p2p cannot resolve %s: %s", name, error)
            continue
        for _, _, _, _, sockaddr in found[:1]:
            ip_proto = "ip6" if family == socket.AF_INET6 else "ip4"
            addrs.append(multiaddr.Multiaddr(f"/{ip_proto}/{sockaddr[0]}/tcp/{port}"))
    return PeerInfo(info.peer_id, addrs)


def _peer_info(addr: str) -> PeerInfo:
    try:
        return info_from_p2p_addr(multiaddr.Multiaddr(addr))
    except Exception as error:
        raise ValueError(f"not a peer multiaddr (…/p2p/<peer id>): {addr!r}") from error


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _fail(future: asyncio.Future[None], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def parse_addrs(addrs: Sequence[str]) -> list[PeerInfo]:
    """Validate peer multiaddrs (for config checks); raises ValueError on the first bad one."""
    return [_peer_info(a) for a in addrs]
