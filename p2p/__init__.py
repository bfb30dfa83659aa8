"""Networking: a libp2p host per node, gossip topics per chain, and the sync protocol.

p2p knows bytes, topics and peers; the node hands it validators and handlers. Wiring, from the
node's asyncio loop (py-libp2p runs on trio in a thread of its own, see `p2p.bridge`):

    host = P2PHost(HostConfig(node_key_seed=seed, listen_addrs=(...,), bootstrap=(...,)))
    gossip = Gossip(host)
    sync = SyncProtocol(host, status_handler, blocks_handler)
    await gossip.subscribe(topic_name(chain_id, TopicKind.BLOCKS), on_block, validate_block)
    await host.start()
    ...
    await host.stop()

Modules are imported directly (`from p2p.host import P2PHost`): importing libp2p takes ~0.7 s,
which tools that never network should not pay.
"""
