"""The five reviewer services of the dev council, as real `aither council serve` processes.

Each signs with its member's key from a keystore (the first imported with `aither wallet import`,
as an operator would) and votes by the deterministic analysis (`--no-model`) or with the model at
`model_url`. The processes are killed at the end.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

import nacl.pwhash.argon2id as argon2id

from genesis.dev import DEV_COUNCIL_ROLES, dev_key
from wallet.keystore import Keystore

if TYPE_CHECKING:
    from conftest import DevNode

MEMBERS = {index: role for index, role in DEV_COUNCIL_ROLES}
PASSWORD = "council password"


class Council:
    """The five reviewer services, one process per member, killed at the end."""

    def __init__(self, root: Path, node: DevNode, model_url: str | None = None) -> None:
        self.root = root
        self.node = node
        self.model_url = model_url
        self.keystore = root / "keystore"
        self.password = root / "password"
        self.password.write_text(PASSWORD + "\n")
        self.processes: list[subprocess.Popen[bytes]] = []

    def import_keys(self, aither_path: str) -> None:
        """The first member's key through `aither wallet import` (as an operator would); the
        others written directly with the cheapest key derivation, to keep the test quick."""
        first, *others = MEMBERS
        key_file = self.root / f"dev{first}.key"
        key_file.write_text("0x" + dev_key(first).seed.hex() + "\n")
        command = [aither_path, "wallet", "import", f"member{first}"]
        command += ["--private-key-file", str(key_file), "--password-file", str(self.password)]
        command += ["--keystore", str(self.keystore)]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        assert done.returncode == 0, done.stderr
        store = Keystore(
            self.keystore, opslimit=argon2id.OPSLIMIT_MIN, memlimit=argon2id.MEMLIMIT_MIN
        )
        for index in others:
            store.import_key(f"member{index}", dev_key(index).seed, PASSWORD)

    def serve(self, aither_path: str) -> None:
        for index, role in MEMBERS.items():
            log = (self.root / f"member{index}.log").open("wb")
            command = [aither_path, "council", "serve", "--key", f"member{index}"]
            command += ["--role", role.value, "--rpc", self.node.url, "--json"]
            command += ["--keystore", str(self.keystore), "--password-file", str(self.password)]
            command += ["--state-file", str(self.root / f"member{index}.json")]
            command += ["--poll-interval", "0.2"]
            if self.model_url is None:
                command.append("--no-model")  # votes as the analysis decides
            else:
                command += ["--llm-base-url", self.model_url, "--llm-timeout", "120"]
            self.processes.append(subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT))

    def logs(self) -> str:
        return "\n".join(
            f"--- member{i} ---\n" + (self.root / f"member{i}.log").read_text(errors="replace")
            for i in MEMBERS
        )

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
