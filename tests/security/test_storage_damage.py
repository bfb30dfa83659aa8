"""Damaged storage is refused at start, with one line saying what is wrong and what to do.

A chain is made once by a real dev node; each test damages a copy of its data dir (LevelDB's own
files, or records changed through plyvel as a bad disk or a careless hand would) and starts a
node on it.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import plyvel
import pytest
from integration_conftest import DevNode, NodeLauncher

from genesis.dev import dev_key

RECIPIENT = bytes.fromhex("00" * 19 + "5a")
Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A stopped dev node's data dir with blocks in LevelDB's tables and in its log."""
    root = tmp_path_factory.mktemp("damage")
    node = DevNode(root / "chain")
    try:
        node.start()
        for index in range(3):
            node.transfer(dev_key(index), RECIPIENT, 10 + index)
        node.restart()  # reopening moves the log into a table file
        for index in range(3):
            node.transfer(dev_key(index), RECIPIENT, 20 + index)
        node.stop()
    finally:
        node.close()
    return node.data_dir


@pytest.fixture
def damaged(chain: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "copy"
    shutil.copytree(chain, copy)
    return copy


def refused(run_aither: Run, data_dir: Path, what: str) -> str:
    result = run_aither("node", "start", "--dev", "--data-dir", str(data_dir), "--rpc-port", "0")
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert "Traceback" not in output, output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert what in errors[0] and ("--reset" in errors[0] or "backup" in errors[0]), errors[0]
    return errors[0]


def edit(data_dir: Path, change: Callable[[plyvel.DB], None]) -> None:
    db = plyvel.DB(str(data_dir / "chain.ldb"))
    try:
        change(db)
    finally:
        db.close()


def flip_middle(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(len(data) // 3, len(data) // 3 + 16):
        data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


def test_a_flipped_table_file_is_refused(run_aither: Run, damaged: Path) -> None:
    tables = sorted((damaged / "chain.ldb").glob("*.ldb"), key=lambda p: p.stat().st_size)
    assert tables, "the chain has no table files"
    flip_middle(tables[-1])
    refused(run_aither, damaged, "damaged")


def test_a_flipped_log_is_refused(run_aither: Run, damaged: Path) -> None:
    log = max((damaged / "chain.ldb").glob("*.log"), key=lambda p: p.stat().st_size)
    assert log.stat().st_size > 1000, "the chain's log holds no blocks"
    flip_middle(log)
    refused(run_aither, damaged, "damaged")


def test_a_bad_manifest_is_refused(run_aither: Run, damaged: Path) -> None:
    manifest = next((damaged / "chain.ldb").glob("MANIFEST-*"))
    manifest.write_bytes(b"\x00" * manifest.stat().st_size)
    refused(run_aither, damaged, "chain.ldb")


def test_a_missing_block_is_refused(run_aither: Run, damaged: Path) -> None:
    edit(damaged, lambda db: db.delete(b"B" + (2).to_bytes(8, "big")))
    refused(run_aither, damaged, "blocks stored for a head at")


def test_a_head_pointer_moved_back_is_refused(run_aither: Run, damaged: Path) -> None:
    edit(damaged, lambda db: db.put(b"m:head", (1).to_bytes(8, "big")))
    refused(run_aither, damaged, "blocks stored for a head at 1")


def test_a_changed_state_entry_is_refused(run_aither: Run, damaged: Path) -> None:
    def rich(db: plyvel.DB) -> None:
        key, value = next(iter(db.iterator(prefix=b"s")))
        db.put(key, value[:-1] + bytes([value[-1] ^ 1]))

    edit(damaged, rich)
    refused(run_aither, damaged, "state root")


def test_a_truncated_log_that_lost_signed_blocks_is_refused(run_aither: Run, damaged: Path) -> None:
    """LevelDB drops a log's torn tail as a crash would leave it. Blocks this validator signed
    are then gone, so it refuses to start (it could never sign those heights again); had it
    lost nothing it signed, it would start, consistent, and commit."""
    log = max((damaged / "chain.ldb").glob("*.log"), key=lambda p: p.stat().st_size)
    with log.open("r+b") as handle:
        handle.truncate(log.stat().st_size * 2 // 3)
    refused(run_aither, damaged, "committed blocks were lost")


def test_reset_starts_over(start_node: NodeLauncher, damaged: Path) -> None:
    edit(damaged, lambda db: db.delete(b"B" + (2).to_bytes(8, "big")))
    node = DevNode(damaged)
    try:
        node.start("--reset")
        assert node.height() == 0
        node.transfer(dev_key(0), RECIPIENT, 1)
    finally:
        node.close()
