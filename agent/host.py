"""The local host: a MemoryHost that runs one agent on its owner's machine against a node.

The agent is its owner's account (the `--key`); storage, events and code live in memory during a
call (the runner loads and saves the agent's storage between runs). Non-deterministic opcodes go
to plugins; everything the host asks the node goes through a NodeLink, which records it for a
replay. Region policies (locked / self / council) are enforced by the AVM itself, as on chain.

What a run does on chain is collected as effects (`agent.effects`) in the host's journal, so
a trapped call drops its own, and the runner sends them as signed transactions only when the run
ends well. Per opcode family:

- Payments (PAY_AGENT) become transfers. A balance is read from the node once per run and then
  adjusted by what the run's effects spend, so BALANCE and CHECK_BALANCE see what the chain will.
- KV: KV_STORE and KV_FETCH are the agent's local storage. The chain stores KV only for agents
  deployed on it, written by their own code; a program reaches them with CHAIN_OP "aither"
  (`agent.onchain`), whose "call" becomes a CALL transaction.
- SELF_MODIFY (or REVERT_CODE) on a `council` region becomes a PROPOSE transaction for the same
  region of the on-chain agent named by `home_agent` (`--agent`): the council rewrites code on
  chain, never a program on one machine. The host checks what the chain would (the agent has
  that region as `council`, the owner can pay the minimum deposit) and traps with the reason
  otherwise, as the chain host does; the opcode returns the proposal's local id (the chain's id is
  in the receipt). Rewrites of `self` regions stay local (the runner saves the new code).
- Swarm: SWARM_CONNECT joins the channel on chain; messages go through the node's swarm service
  when it holds the agent's key, rewards are escrowed and the first answer is paid
  (`agent.swarm`).
- SCHEDULE_TASK registers a task of the agent's code (`agent.schedule`); it is decided here,
  from the run alone, so a replay registers the same.
FORK_AGENT and CROSSOVER children live only in the run's memory: a chain deploys only
deterministic code, and a local agent's children are not.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent import onchain
from agent.effects import Effect, Payment, RegionProposal, RewardOffer
from agent.nodelink import NodeLink
from agent.plugin import as_value
from agent.schedule import Schedule
from agent.swarm import Channel, SwarmLink, SwarmSettings, handle_text
from avm.disassembler import disassemble_region
from avm.errors import BadOperand, PermissionDenied
from avm.host import CodeProposal, Metered, PluginFailure, Plugins
from avm.instructions.wallet import DEFAULT_TOKEN
from avm.memory_host import MemoryHost, World
from avm.values import Value, from_wire, to_python
from core.amounts import NATIVE_SYMBOL
from core.crypto import hash32, to_checksum_address
from core.encoding import decode
from wallet.client import RpcClientError

# The paper's AVM_CREDITS are the chain's native coin; other token ids are token symbols.
NATIVE_NAMES = frozenset({DEFAULT_TOKEN, NATIVE_SYMBOL, ""})
NOT_FOUND = -32001  # the node's JSON-RPC code for an unknown agent (node/rpc/errors.py)


def chain_token(token: str) -> str:
    """The node's name for an AVM token id ("" is the native coin)."""
    return "" if token in NATIVE_NAMES else token


@dataclass(frozen=True, slots=True)
class RunSettings:
    """What shapes a run besides its program and the node's answers; kept in the trace."""

    home_agent: bytes | None = None  # the on-chain agent whose council regions it proposes for
    swarm: SwarmSettings = field(default_factory=SwarmSettings)


class LocalHost(MemoryHost):
    """A local host seen from one agent; see the module docstring."""

    def __init__(
        self,
        world: World,
        address: bytes,
        caller: bytes,
        plugins: Plugins,
        node: NodeLink,
        settings: RunSettings | None = None,
    ) -> None:
        super().__init__(world, address, caller, plugins)
        self.node = node
        self.settings = settings or RunSettings()
        self.swarm = SwarmLink(node, address, self.settings.swarm)
        self.balance_reads: dict[tuple[bytes, str], int] = {}
        self.effects: list[Effect] = []
        self.schedules: list[Schedule] = []

    def _queue(self, effect: Effect) -> None:
        self.effects.append(effect)
        self.world.journal.append(self._drop_effect)

    def _drop_effect(self) -> None:  # undoes _queue when the interpreter rolls back
        self.effects.pop()

    def _drop_schedule(self) -> None:
        self.schedules.pop()

    # ---- balances and payments ----

    def balance(self, address: bytes, token: str) -> int:
        name = chain_token(token)
        key = (address, name)
        if key not in self.balance_reads:
            answer = self.node.call("aither_getBalance", to_checksum_address(address), name)
            self.balance_reads[key] = int(str(answer), 16)
        amount = self.balance_reads[key]
        for effect in self.effects:
            spent_token, spent = effect.spends()
            if spent_token != name:
                continue
            if address == self.address:
                amount -= spent
            if isinstance(effect, Payment) and effect.to == address:
                amount += spent
        return amount

    def transfer(self, to: bytes, amount: int, token: str) -> bool:
        if amount > self.balance(self.address, token):
            return False
        self._queue(Payment(to, amount, chain_token(token)))
        return True

    def _require_funds(self, amount: int, what: str) -> None:
        have = self.balance(self.address, "")
        if amount > have:
            raise PermissionDenied(f"{what} needs {amount} base units; the balance is {have}")

    # ---- council regions ----

    def propose_code_change(self, proposal: CodeProposal) -> bytes:
        agent = self.settings.home_agent
        region = proposal.region
        if agent is None:
            raise PermissionDenied(
                f"region {region} is a `council` region: the council changes on-chain agents, "
                "so name the one this program proposes for (--agent ADDRESS)"
            )
        where = to_checksum_address(agent)
        try:
            found = self.node.call("aither_getAgent", where)
        except RpcClientError as exc:
            if exc.code != NOT_FOUND:
                raise
            raise PermissionDenied(f"the proposal is refused: no agent {where} on chain") from None
        assert isinstance(found, dict)
        policies = {r["name"]: r["policy"] for r in found["regions"]}
        if policies.get(region) != "council":
            have = policies.get(region)
            raise PermissionDenied(
                f"the proposal is refused: agent {where} has "
                + (f"no region {region}" if have is None else f"region {region} as `{have}`")
            )
        council = self.node.call("aither_getCouncil")
        assert isinstance(council, dict)
        deposit = int(str(council["tracks"]["code"]["min_deposit"]))
        self._require_funds(deposit, "the proposal's deposit")
        rationale = f"SELF_MODIFY by a local run of code 0x{proposal.base_code_id.hex()}"
        new_ir = disassemble_region(proposal.new_code, region)
        self._queue(RegionProposal(agent, region, new_ir, deposit, rationale))
        return proposal.proposal_id

    # ---- swarm ----

    def emit(self, topic: str, data: bytes) -> None:
        super().emit(topic, data)
        if topic == "swarm.connect":
            name = from_wire(decode(data))
            assert type(name) is str
            for effect in self.swarm.connect(name):
                self._queue(effect)
        elif topic == "swarm.broadcast":
            message, payload, reward = _event(data, topic)
            assert type(reward) is int  # the interpreter emits the reward it checked
            body = {
                "avm": "broadcast",
                "message": to_python(message),
                "data": to_python(payload),
                "reward": reward,
            }
            self._send(self.swarm.connected, body, handle_text(message), reward)
        elif topic == "swarm.message" and self.swarm.live():
            channel, message, reward = _event(data, topic)
            assert type(channel) is str and type(reward) is int
            body = {"avm": "message", "message": to_python(message), "reward": reward}
            self._send([self.swarm.channel(channel)], body, handle_text(message), reward)
        elif topic == "swarm.fetch":
            _, data_type, request_id = _event(data, topic)
            handle = "0x" + hash32(data).hex()
            body = {
                "avm": "fetch",
                "dataType": to_python(data_type),
                "requestId": to_python(request_id),
                "handle": handle,
            }
            self._send(self.swarm.connected, body, handle, 0)

    def _send(
        self, channels: list[Channel], body: dict[str, object], handle: str, reward: int
    ) -> None:
        if not self.swarm.live():
            return  # the events stay as the AVM emitted them
        if not channels:
            raise BadOperand(f"{body['avm']}: the run is connected to no channel (SWARM_CONNECT)")
        if reward:
            self._require_funds(reward * len(channels), "the swarm reward")
        for channel in channels:
            request = self.swarm.send(channel, body, handle, reward)
            if reward:
                timeout = self.world.height + self.settings.swarm.reward_timeout_blocks
                self._queue(RewardOffer(request.channel_id, request.message_hash, reward, timeout))

    # ---- non-deterministic opcodes the host serves itself ----

    def external(self, opcode: str, args: tuple[Value, ...]) -> Value | Metered:
        if opcode == "WAIT_FOR_RESPONSE" and self.swarm.live():
            return self._wait(*args)
        if opcode in ("CHAIN_OP", "WEB3_OP") and onchain.is_aither(args[0]):
            return self._chain_op(args[1], args[2])
        return super().external(opcode, args)

    def schedule_task(self, task: str, interval: int) -> None:
        """Registered for `aither agent tick`, due first at the run's block time plus the
        interval (the runner saves it when the run ends well)."""
        self._writing()
        self.schedules.append(Schedule(task, interval, self.world.time + interval))
        self.world.journal.append(self._drop_schedule)

    def _wait(self, handle: Value, timeout: Value = None) -> Value:
        if timeout is None:
            seconds = self.settings.swarm.wait_timeout_sec
        elif type(timeout) is int and timeout >= 0:
            seconds = float(timeout)
        else:
            raise PluginFailure(f"a timeout is a number of seconds, not {timeout!r}")
        data, acceptances = self.swarm.wait(handle, seconds)
        for effect in acceptances:
            self._queue(effect)
        return as_value(data)

    def _chain_op(self, action: Value, args: Value) -> Value:
        key = action.replace("_", "").lower() if type(action) is str else ""
        if key == "storage":
            return onchain.storage(self.node, args)
        if key in ("call", "read"):
            call, value = onchain.dry_run(self.node, self.address, args)
            if key == "call":
                if call.value > self.balance(self.address, ""):
                    raise PluginFailure(f"the call sends {call.value}, more than the balance")
                self._queue(call)
            return value
        actions = ", ".join(onchain.ACTIONS)
        raise PluginFailure(f"CHAIN_OP on {onchain.CHAIN_NAME}: {action!r} is not one of {actions}")


def _event(data: bytes, topic: str) -> tuple[Value, Value, Value]:
    """The three fields of a swarm event the interpreter emitted."""
    match from_wire(decode(data)):
        case (first, second, third):
            return first, second, third
    raise PluginFailure(f"a {topic} event is not three fields")
