"""The node's swarm service: channel messages for local identities, relaying for everyone else.

Around the sans-I/O core of p2p/swarm.py, this holds what a running node needs:

- Local identities, unlocked from the keystore at start (ed25519 and X25519 secrets): their keys
  never leave this object; RPC callers name an identity, they never send a key.
- One gossip topic per followed channel, `aither/<chain id>/swarm/<channel id hex>`. Envelopes
  leave in batches (`Outbox`: at most one gossip message per channel every `batch_interval`
  from a node), since each gossip message costs far more than the crypto of an envelope.
  Every arrival is screened by `check_batch` before it is relayed (malformed, misaddressed and
  stale envelopes are dropped); per-peer rates and sizes are the gossip layer's `TopicLimits`.
- Decryption for local members: one `ChannelReader` per channel per node (every member of an
  epoch holds the same key, so a node hosting several members opens each message once). The
  view comes from the chain (`ChannelSource`) and is rebuilt on `refresh`, after each block.
- A bounded store per channel: accepted plaintext in memory only (served over RPC and
  WebSocket to local members); on disk, ciphertext only, for members and relays alike.
- A send rate per local identity, and persistence of writers' sequences (reserved ahead in
  blocks, so a crash never reuses one) and readers' high-water marks (so a restart does not
  reopen the replay window).

Chain and network come in through two protocols, `ChannelSource` and `Publisher`, so two
services joined by an in-memory publisher exercise everything but libp2p. `StateChannels`
reads channel state from the ledger; `GossipPublisher` adapts `p2p.gossip.Gossip`.

Modules: service.py (`SwarmService`), keys.py (local identities and the epoch keys they open),
messages.py (what the service returns and counts), outbox.py (batching), disk.py (what it
keeps), chain.py and gossip.py (the two sides), errors.py.
"""
