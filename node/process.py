"""A node as a child process: `aither node start ...` started, waited on until it serves, stopped
with Ctrl-C or killed, its output in a log file. The integration tests, the security tests and
the benchmarks all start their nodes through `NodeProcess`."""

from __future__ import annotations

import contextlib
import http.client
import json
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

AITHER = Path(sys.executable).with_name("aither")  # the console script beside this Python
HOST = "127.0.0.1"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 20.0
LOG_TAIL_LINES = 40
# Below Linux's ephemeral range (32768+), so no outgoing connection takes a port picked here.
PORT_RANGE = (10_000, 32_000)


class NodeProcessError(Exception):
    """A node process that exited, would not serve, or would not stop; the message ends with
    the tail of its log."""


class NodeExited(NodeProcessError):
    def __init__(self, message: str, returncode: int) -> None:
        super().__init__(message)
        self.returncode = returncode


def wait_until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll `condition` until it returns something truthy (returned); TimeoutError naming
    `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    delay = 0.01
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)


def free_ports(count: int, rng: random.Random | None = None) -> int:
    """A base port such that base .. base+count-1 are all free on 127.0.0.1 right now (random:
    other nodes on this machine pick from the same range)."""
    rng = rng or random.Random()
    for _ in range(200):
        base = rng.randrange(PORT_RANGE[0], PORT_RANGE[1] - count)
        with contextlib.ExitStack() as probes:
            try:
                for port in range(base, base + count):
                    probes.enter_context(socket.socket()).bind((HOST, port))
            except OSError:
                continue
            return base
    raise NodeProcessError(f"no {count} free consecutive ports in {PORT_RANGE}")


def health(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    """The node's /health answer, or None while it does not answer."""
    parts = url.removeprefix("http://").split("/", 1)[0]
    host, _, port = parts.partition(":")
    connection = http.client.HTTPConnection(host, int(port or 80), timeout=timeout)
    try:
        connection.request("GET", "/health")
        response = connection.getresponse()
        if response.status != 200:
            return None
        answer = json.loads(response.read())
        return answer if isinstance(answer, dict) else None
    except (OSError, http.client.HTTPException, ValueError):
        return None
    finally:
        connection.close()


class NodeProcess:
    """`aither node start ARGS...` as a child process, serving JSON-RPC at `url`, writing its
    output to `log_path` (appended: a restart adds to it)."""

    def __init__(
        self,
        args: Sequence[str],
        url: str,
        log_path: Path,
        name: str = "node",
        prefix: Sequence[str] = (),
    ) -> None:
        self.command_args = tuple(args)
        self.url = url
        self.log_path = log_path
        self.name = name
        self.prefix = tuple(prefix)  # such as `ip netns exec NAME`
        self.process: subprocess.Popen[bytes] | None = None
        self._log_start = 0  # where the current process's output begins in the log

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was never started"
        return self.process.pid

    def spawn(self, *extra: str) -> None:
        """Start the process (`extra` flags for this start only); `wait_serving` waits."""
        assert not self.running, f"{self.name} is already running"
        command = [*self.prefix, str(AITHER), "node", "start", *self.command_args, *extra]
        with self.log_path.open("ab") as log:
            log.write(f"\n$ {' '.join(command)}\n".encode())
            log.flush()
            self._log_start = log.tell()
            self.process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
            )

    def wait_serving(self, timeout: float = START_TIMEOUT) -> None:
        """Wait until /health answers. NodeExited if the process exits first; NodeProcessError
        (after killing it) if it does not serve within `timeout` seconds."""
        assert self.process is not None, f"{self.name} was never started"
        deadline = time.monotonic() + timeout
        while health(self.url) is None:
            code = self.process.poll()
            if code is not None:
                raise NodeExited(f"{self.name} exited with {code}\n{self.log_tail()}", code)
            if time.monotonic() > deadline:
                self.process.kill()
                self.process.wait()
                raise NodeProcessError(
                    f"{self.name} did not serve within {timeout:.0f} s\n{self.log_tail()}"
                )
            time.sleep(0.02)

    def start(self, *extra: str) -> NodeProcess:
        self.spawn(*extra)
        self.wait_serving()
        return self

    def kill(self) -> None:
        """SIGKILL: a crash, with no chance to finish anything."""
        assert self.process is not None, f"{self.name} was never started"
        self.process.kill()
        self.process.wait(STOP_TIMEOUT)

    def interrupt(self) -> int:
        """SIGINT, as Ctrl-C sends; the exit code. NodeProcessError (after SIGKILL) if it is
        still running after STOP_TIMEOUT seconds."""
        assert self.process is not None and self.running, f"{self.name} is not running"
        self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.kill()
            raise NodeProcessError(
                f"{self.name} ignored SIGINT for {STOP_TIMEOUT:.0f} s\n{self.log_tail()}"
            ) from None

    def stop(self) -> None:
        """Ctrl-C, requiring a clean exit (code 0)."""
        code = self.interrupt()
        if code != 0:
            raise NodeProcessError(f"{self.name} exited with {code} on SIGINT\n{self.log_tail()}")

    def close(self) -> None:
        """Kill the process if it still runs (teardown)."""
        if self.running:
            self.kill()

    def output(self) -> str:
        """What the current (or last) process printed."""
        with self.log_path.open("rb") as log:
            log.seek(self._log_start)
            return log.read().decode(errors="replace")

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        tail = "\n".join(self.log_text().splitlines()[-lines:])
        return f"--- {self.name} log tail ---\n{tail}"


def stop_all(nodes: Sequence[NodeProcess]) -> None:
    """Ctrl-C to every running node at once, then SIGKILL those not gone after STOP_TIMEOUT."""
    running = [node for node in nodes if node.running]
    for node in running:
        assert node.process is not None
        node.process.send_signal(signal.SIGINT)
    for node in running:
        assert node.process is not None
        try:
            node.process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            node.kill()
