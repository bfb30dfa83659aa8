"""The compose testnet's Prometheus and Grafana: the provisioning files load, and every query of
the dashboard names a series a node exposes (a renamed metric would leave a panel empty)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml
from prometheus_client.parser import text_string_to_metric_families

from node.metrics import NodeMetrics

DOCKER = Path(__file__).resolve().parents[2] / "docker"
SERIES = re.compile(r"\baither_[a-z_]+\b")


def exposed_series() -> set[str]:
    """Every series name a node's /metrics holds (a labelled counter too, once incremented)."""
    metrics = NodeMetrics()
    metrics.gossip_sent.labels("txs").inc()
    metrics.gossip_received.labels("txs").inc()
    metrics.rpc_requests.labels("eth_chainId", "0").inc()
    text = metrics.expose().decode()
    return {s.name for f in text_string_to_metric_families(text) for s in f.samples}


def test_every_dashboard_query_names_an_exposed_series() -> None:
    dashboard = json.loads((DOCKER / "grafana/dashboards/aither.json").read_text())
    assert dashboard["uid"] == "aither-node" and dashboard["schemaVersion"] >= 36
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels) >= 15
    exposed = exposed_series()
    named = set()
    for panel in panels:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            assert target["datasource"]["uid"] == "aither-prometheus"
            named |= set(SERIES.findall(target["expr"]))
    assert named and named <= exposed, sorted(named - exposed)
    # CometBFT's names where it has the measure: its dashboards read them with the namespace.
    for name in ("consensus_height", "consensus_rounds", "consensus_validators",
                 "consensus_missing_validators", "consensus_byzantine_validators",
                 "consensus_num_txs", "mempool_size", "p2p_peers"):  # fmt: skip
        assert f"aither_{name}" in exposed


def test_provisioning_points_grafana_at_prometheus_and_the_dashboard() -> None:
    provisioning = DOCKER / "grafana/provisioning"
    sources = yaml.safe_load((provisioning / "datasources/prometheus.yaml").read_text())
    (source,) = sources["datasources"]
    assert (source["uid"], source["type"], source["url"]) == (
        "aither-prometheus", "prometheus", "http://prometheus:9090",
    )  # fmt: skip
    boards = yaml.safe_load((provisioning / "dashboards/aither.yaml").read_text())
    (provider,) = boards["providers"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    grafana = compose["services"]["grafana"]
    mounts = dict(v.rsplit(":", 1)[0].split(":", 1) for v in grafana["volumes"])
    assert mounts["./grafana/dashboards"] == provider["options"]["path"]
    assert mounts["./grafana/provisioning"] == "/etc/grafana/provisioning"
    assert all(p.startswith("127.0.0.1:") for s in ("grafana", "prometheus")
               for p in compose["services"][s]["ports"])  # fmt: skip


def test_prometheus_scrapes_every_node_of_the_compose_testnet() -> None:
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    (job,) = config["scrape_configs"]
    assert job["metrics_path"] == "/metrics"
    targets = job["static_configs"][0]["targets"]
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    nodes = sorted(name for name in compose["services"] if re.fullmatch(r"node\d+", name))
    assert targets == [f"{name}:8645" for name in nodes]
