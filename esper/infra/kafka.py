"""A real Apache Kafka (KRaft) on 127.0.0.1, fetched with Maven and run on the machine's JDK.

Layout under ``<home>/kafka/``::

    cluster.json            cluster id, broker count, first port (written by `up`)
    node-<i>/server.properties
    node-<i>/data/          KRaft metadata and topic logs
    node-<i>/logs/          log4j output (server.log)
    node-<i>/broker.out     the JVM's stdout and stderr
    node-<i>/broker.pid     pid of the JVM this module started

Node ``i`` (0-based) listens for clients on ``port + 2i`` and for the controller quorum on
``port + 2i + 1``. Every node is both broker and controller; with three nodes the defaults are
replication factor 3 and ``min.insync.replicas`` 2.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path
from string import Template

from esper.config import REPO_ROOT

INFRA_DIR = REPO_ROOT / "infra" / "kafka"
START_TIMEOUT_S = 120.0
STOP_TIMEOUT_S = 60.0
JVM_OPTIONS = (
    "-Xms256m",
    "-Xmx1g",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-Djava.awt.headless=true",
)


class InfraError(RuntimeError):
    """A service could not be started or stopped; the message says why and where to look."""


@dataclasses.dataclass(frozen=True)
class NodeStatus:
    node_id: int
    client_port: int
    pid: int | None
    running: bool
    listening: bool
    directory: Path


def libs_dir() -> Path:
    return Path(os.environ.get("ESPER_KAFKA_LIBS") or INFRA_DIR / "libs")


def ensure_jars() -> Path:
    """Resolve the broker's jars from Maven Central once; re-resolve when the pom changes."""
    libs = libs_dir()
    pom = INFRA_DIR / "pom.xml"
    marker = libs / ".resolved"
    pom_digest = hashlib.sha256(pom.read_bytes()).hexdigest()
    if marker.exists() and marker.read_text() == pom_digest:
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise InfraError("Maven (mvn) is not on PATH; it is needed once to fetch the Kafka jars")
    if libs.exists():
        shutil.rmtree(libs)
    result = subprocess.run(
        [mvn, "-q", "-B", "-f", str(pom), "dependency:copy-dependencies", f"-Dkafka.libs={libs}"],
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        tail = (result.stdout + result.stderr).strip().splitlines()[-15:]
        raise InfraError("Maven could not resolve the Kafka jars:\n" + "\n".join(tail))
    marker.write_text(pom_digest)
    return libs


def java_binary() -> str:
    """The JDK 17+ that runs the broker: $JAVA_HOME/bin/java, else java on PATH."""
    java_home = os.environ.get("JAVA_HOME")
    java = str(Path(java_home) / "bin" / "java") if java_home else shutil.which("java")
    if not java or not Path(java).exists():
        raise InfraError("no Java found (set JAVA_HOME or put java on PATH); Kafka needs JDK 17+")
    banner = subprocess.run([java, "-version"], capture_output=True, text=True).stderr
    match = re.search(r'version "(\d+)(?:\.(\d+))?', banner)
    major = int(match.group(1)) if match else 0
    if major == 1 and match and match.group(2):  # "1.8" style versions
        major = int(match.group(2))
    if major < 17:
        raise InfraError(f"{java} is Java {major or '?'}; Kafka 4 needs JDK 17 or newer")
    return java


def port_is_free(port: int) -> bool:
    """True when a listener could bind the port now, as the JVM would (with SO_REUSEADDR, so
    connections lingering in TIME_WAIT after a broker stopped do not count as "in use")."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_is_listening(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _new_cluster_id() -> str:
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")


def _process_cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


class LocalKafka:
    """The KRaft cluster whose state lives under ``<home>/kafka``."""

    def __init__(self, home: Path):
        self.home = Path(home)
        self.root = self.home / "kafka"
        self.state_file = self.root / "cluster.json"
        self._started: dict[int, subprocess.Popen] = {}  # the JVMs this object launched

    # --- recorded state -------------------------------------------------------------------

    def _state(self) -> dict | None:
        if not self.state_file.exists():
            return None
        return json.loads(self.state_file.read_text())

    def recorded_bootstrap(self) -> str | None:
        state = self._state()
        if state is None:
            return None
        return self._bootstrap(state["port"], state["brokers"])

    @staticmethod
    def _bootstrap(port: int, brokers: int) -> str:
        return ",".join(f"127.0.0.1:{port + 2 * i}" for i in range(brokers))

    def node_dir(self, node_id: int) -> Path:
        return self.root / f"node-{node_id}"

    def _pid(self, node_id: int) -> int | None:
        pid_file = self.node_dir(node_id) / "broker.pid"
        if not pid_file.exists():
            return None
        pid = int(pid_file.read_text().strip())
        properties = str(self.node_dir(node_id) / "server.properties")
        # A pid is ours only while it still runs kafka.Kafka on this node's properties:
        # after a reboot the number may belong to an unrelated process.
        cmdline = _process_cmdline(pid)
        if "kafka.Kafka" in cmdline and properties in cmdline:
            return pid
        return None

    def status(self) -> list[NodeStatus]:
        state = self._state()
        if state is None:
            return []
        nodes = []
        for node_id in range(state["brokers"]):
            pid = self._pid(node_id)
            client_port = state["port"] + 2 * node_id
            nodes.append(
                NodeStatus(
                    node_id=node_id,
                    client_port=client_port,
                    pid=pid,
                    running=pid is not None,
                    listening=pid is not None and port_is_listening(client_port),
                    directory=self.node_dir(node_id),
                )
            )
        return nodes

    def is_up(self) -> bool:
        nodes = self.status()
        return bool(nodes) and all(node.listening for node in nodes)

    # --- start ----------------------------------------------------------------------------

    def up(self, brokers: int = 1, port: int = 9092, timeout: float = START_TIMEOUT_S) -> str:
        """Start the cluster (formatting storage on first use); return its bootstrap address.

        Harmless when the same cluster already runs. Data survives `down`, so a restart serves
        what was written before it.
        """
        if brokers not in (1, 3):
            raise InfraError(f"--brokers must be 1 or 3, got {brokers}")
        state = self._state()
        if state is not None and state["brokers"] != brokers:
            raise InfraError(
                f"{self.root} holds a {state['brokers']}-broker cluster; run "
                f"`esper infra down --purge` before starting one with {brokers}"
            )
        running = [node for node in self.status() if node.running]
        if running:
            if state["port"] != port:
                raise InfraError(
                    f"the cluster in {self.root} already runs on port {state['port']}; "
                    f"run `esper infra down` before moving it to port {port}"
                )
            if len(running) == brokers:
                self._wait_ready(state, timeout)
                return self._bootstrap(port, brokers)
        running_ids = {node.node_id for node in running}
        for node_id in range(brokers):
            if node_id in running_ids:
                continue
            for candidate in (port + 2 * node_id, port + 2 * node_id + 1):
                if not port_is_free(candidate):
                    raise InfraError(
                        f"port {candidate} on 127.0.0.1 is in use by another process; "
                        "choose another first port with --port or ESPER_KAFKA_PORT"
                    )
        java = java_binary()
        libs = ensure_jars()
        state = {
            "cluster_id": state["cluster_id"] if state else _new_cluster_id(),
            "brokers": brokers,
            "port": port,
        }
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_file.write_text(json.dumps(state, indent=2) + "\n")
        for node_id in range(brokers):
            if node_id in running_ids:
                continue
            properties = self._write_properties(state, node_id)
            self._format(java, libs, state["cluster_id"], properties, node_id)
            self._start_node(java, libs, properties, node_id)
        self._wait_ready(state, timeout)
        return self._bootstrap(port, brokers)

    def _write_properties(self, state: dict, node_id: int) -> Path:
        brokers, port = state["brokers"], state["port"]
        node = self.node_dir(node_id)
        (node / "logs").mkdir(parents=True, exist_ok=True)
        voters = ",".join(f"{i}@127.0.0.1:{port + 2 * i + 1}" for i in range(brokers))
        template = Template((INFRA_DIR / "server.properties.template").read_text())
        properties = node / "server.properties"
        properties.write_text(
            template.substitute(
                node_id=node_id,
                quorum_voters=voters,
                client_port=port + 2 * node_id,
                controller_port=port + 2 * node_id + 1,
                data_dir=node / "data",
                replication=min(brokers, 3),
                min_insync=2 if brokers >= 3 else 1,
            )
        )
        return properties

    def _format(self, java: str, libs: Path, cluster_id: str, properties: Path, node_id: int):
        if (self.node_dir(node_id) / "data" / "meta.properties").exists():
            return
        result = subprocess.run(
            [java, "-cp", f"{libs}/*", *self._log_options(node_id), "kafka.tools.StorageTool",
             # "=": a base64 id may begin with "-", which would read as an option.
             "format", f"--cluster-id={cluster_id}", "--config", str(properties),
             "--ignore-formatted"],
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip()
            raise InfraError(f"formatting storage of node {node_id} failed: {output[-2000:]}")

    def _log_options(self, node_id: int) -> list[str]:
        return [
            f"-Dlog4j2.configurationFile={INFRA_DIR / 'log4j2.properties'}",
            f"-Dkafka.logs.dir={self.node_dir(node_id) / 'logs'}",
        ]

    def _start_node(self, java: str, libs: Path, properties: Path, node_id: int) -> None:
        node = self.node_dir(node_id)
        with open(node / "broker.out", "ab") as out:
            process = subprocess.Popen(
                [java, *JVM_OPTIONS, *self._log_options(node_id), "-cp", f"{libs}/*",
                 "kafka.Kafka", str(properties)],
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=node,
                start_new_session=True,  # outlives this command; `down` stops it by pid
            )
        (node / "broker.pid").write_text(f"{process.pid}\n")
        self._started[node_id] = process

    def _wait_ready(self, state: dict, timeout: float) -> None:
        """Wait until every broker answers a metadata request and sees all its peers."""
        from confluent_kafka.admin import AdminClient

        brokers = state["brokers"]
        bootstrap = self._bootstrap(state["port"], brokers)
        # log_level 0: "connection refused" while the JVM boots is expected, not news.
        admin = AdminClient(
            {"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "log_level": 0}
        )
        deadline = time.monotonic() + timeout
        while True:
            # The exit status of a JVM launched here is definite; /proc is not while it starts.
            for node_id, process in self._started.items():
                if process.poll() is not None:
                    raise InfraError(self._death_report(node_id))
            try:
                if len(admin.list_topics(timeout=2).brokers) == brokers:
                    return
            except Exception:  # not answering yet: KafkaException while the broker boots
                pass
            if time.monotonic() > deadline:
                raise InfraError(
                    f"Kafka at {bootstrap} did not answer within {timeout:.0f} s; "
                    f"see {self.node_dir(0) / 'logs' / 'server.log'}"
                )
            time.sleep(0.25)

    def _death_report(self, node_id: int) -> str:
        node = self.node_dir(node_id)
        lines: list[str] = []
        for log in (node / "broker.out", node / "logs" / "server.log"):
            if log.exists():
                lines += [line for line in log.read_text(errors="replace").splitlines()
                          if "ERROR" in line or "Exception" in line]
        reason = f": {lines[-1].strip()[:300]}" if lines else ""
        return (f"Kafka node {node_id} exited during start{reason}; "
                f"see {node / 'broker.out'} and {node / 'logs' / 'server.log'}")

    # --- stop -----------------------------------------------------------------------------

    def stop_node(self, node_id: int, timeout: float = STOP_TIMEOUT_S) -> bool:
        """Stop one node this module started; True if it was running."""
        pid = self._pid(node_id)
        pid_file = self.node_dir(node_id) / "broker.pid"
        if pid is None:
            pid_file.unlink(missing_ok=True)
            return False
        os.kill(pid, signal.SIGTERM)
        self._wait_exit([pid], timeout)
        pid_file.unlink(missing_ok=True)
        return True

    def down(self, purge: bool = False, timeout: float = STOP_TIMEOUT_S) -> int:
        """Stop every node started here (SIGTERM, then SIGKILL after the timeout).

        Returns how many were running. ``purge`` also deletes the cluster's data.
        """
        pids = []
        for node in self.status():
            if node.pid is not None:
                os.kill(node.pid, signal.SIGTERM)  # all at once: the quorum shuts down together
                pids.append(node.pid)
        self._wait_exit(pids, timeout)
        for node in self.status():
            (node.directory / "broker.pid").unlink(missing_ok=True)
        if purge and self.root.exists():
            shutil.rmtree(self.root)
        return len(pids)

    @staticmethod
    def _wait_exit(pids: list[int], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        alive = list(pids)
        while alive and time.monotonic() < deadline:
            alive = [pid for pid in alive if _process_cmdline(pid)]
            time.sleep(0.1)
        for pid in alive:
            os.kill(pid, signal.SIGKILL)
