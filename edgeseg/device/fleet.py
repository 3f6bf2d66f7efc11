"""Several devices in one sweep: which devices, and each measured in a thread of its own.

``--device pixel --device dimensity`` names profiles; ``--device attached`` is every device
attached to the adb server (this machine's, or a lab's) that a profile matches: by the
profile's ``serial``, else by its ``soc`` (every word of it in the device's manufacturer,
model and SoC properties). Each device gets its own :class:`DeviceSession`; a device that
fails or is lost is that device's failure and never stops the others. The adb key is
created once, before the sessions open (in parallel they would race to create it).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import DeviceError, EdgesegError, UsageError
from .config import ATTACHED, BenchConfig, check_delegates

if TYPE_CHECKING:
    from .profiles import DeviceProfile


@dataclass(frozen=True)
class Target:
    """One device of a sweep: its profile, the serial it is reached by (None: the profile's
    own way), and the label its rows and progress lines carry."""

    profile: DeviceProfile
    serial: str | None
    label: str


def device_words(props: dict) -> str:
    return " ".join(
        str(props.get(k, ""))
        for k in ("manufacturer", "model", "device", "soc", "soc_manufacturer", "soc_model", "platform", "hardware")
    ).lower()


def profile_matches(profile: DeviceProfile, serial: str, props: dict) -> bool:
    """Whether ``profile`` is for this attached device: its serial, or every word of its soc."""
    if profile.serial:
        return profile.serial == serial
    words = profile.soc.lower().split()
    have = device_words(props)
    return bool(words) and all(w in have for w in words)


def _attached(adb_server: str | None) -> list[tuple[str, dict]]:
    """(serial, properties) of each device attached to the adb server in the ``device`` state."""
    from .session import adb_devices, adb_server_spec, read_props
    from .transport import AdbServerConnection, DeviceConnectionError

    out = []
    for d in adb_devices(server=adb_server):
        if d["state"] != "device":
            continue
        try:
            props = read_props(AdbServerConnection(d["serial"], server_spec=adb_server_spec(adb_server)).shell)
        except DeviceConnectionError:
            continue
        out.append((d["serial"], props))
    return out


def resolve_targets(names: tuple[str, ...], adb_server: str | None = None) -> tuple[list[Target], list[str]]:
    """The devices of a sweep over ``names`` (profile names or paths, or ``attached``) and
    notes on attached devices no profile matches. A profile without a serial that the adb
    server reaches gets the serial of an attached device it matches (each device once)."""
    from .profiles import all_profiles, load_profile

    notes: list[str] = []
    targets: list[Target] = []
    taken: set[str] = set()
    attached = None
    for name in dict.fromkeys(names):
        if name == ATTACHED:
            attached = _attached(adb_server) if attached is None else attached
            profiles = [p for p in all_profiles() if _transport(p.transport).via_adb_server]
            for serial, props in attached:
                match = next((p for p in profiles if p.serial == serial), None) or next(
                    (p for p in profiles if profile_matches(p, serial, props)), None
                )
                if serial in taken:
                    continue
                if match is None:
                    notes.append(
                        f"attached device {serial} ({props.get('manufacturer')} {props.get('model')}, SoC "
                        f'{props.get("soc") or "?"}) matches no profile: left out; add serial = "{serial}" '
                        "to a profile in devices/ to include it"
                    )
                    continue
                taken.add(serial)
                targets.append(Target(match, serial, match.name))
            continue
        profile = load_profile(name)
        serial = profile.serial
        if serial is None and _transport(profile.transport).via_adb_server and len(names) > 1:
            attached = _attached(adb_server) if attached is None else attached
            serial = next((s for s, props in attached if s not in taken and profile_matches(profile, s, props)), None)
        if serial:
            taken.add(serial)
        targets.append(Target(profile, serial, profile.name))
    counts: dict[str, int] = {}
    for t in targets:
        counts[t.label] = counts.get(t.label, 0) + 1
    targets = [
        Target(t.profile, t.serial, f"{t.label}@{t.serial}") if counts[t.label] > 1 and t.serial else t for t in targets
    ]
    if not targets:
        raise DeviceError(
            "no attached device matches a profile"
            + (": " + "; ".join(notes) if notes else " (none is attached to the adb server: check `adb devices`)")
        )
    return targets, notes


def _transport(name: str):
    """The row of session.TRANSPORTS named ``name`` (profiles are checked against the table)."""
    from .session import TRANSPORTS

    return TRANSPORTS[name]


def prepare_key(targets: list[Target], transport: str | None, key_path: str | None) -> None:
    """Create the adb key once, before sessions open in parallel (our TCP client signs with
    it; Google's adb server keeps its own)."""
    if any(_transport(transport or t.profile.transport).signs_with_key for t in targets):
        from .adbproto import load_or_create_key

        load_or_create_key(key_path)


def run_parallel(targets: list[Target], work: Callable[[Target], dict]) -> list[dict | BaseException]:
    """``work(target)`` for every target at once, one thread each; each result, or the
    exception that ended that device's work, in the targets' order. Ctrl-C or SIGTERM (which
    reach the main thread only) are passed on to every device's thread, which stops its
    processes on the device like a one-device sweep does, and then raised here."""
    import time

    results: list[dict | BaseException | None] = [None] * len(targets)
    done = [threading.Event() for _ in targets]

    def one(i: int, target: Target) -> None:
        try:
            results[i] = work(target)
        except BaseException as exc:
            results[i] = exc
        finally:
            done[i].set()

    threads = [
        threading.Thread(target=one, args=(i, t), name=f"edgeseg-bench-{t.label}", daemon=True)
        for i, t in enumerate(targets)
    ]
    for t in threads:
        t.start()
    try:
        while not all(d.is_set() for d in done):  # polled: an interrupted Thread.join can lose track of its thread
            time.sleep(0.1)
    except KeyboardInterrupt as exc:
        live = [t for t, d in zip(threads, done) if not d.is_set()]
        interrupt_threads(live, type(exc), done)
        raise
    return results  # type: ignore[return-value]


def interrupt_threads(threads: list[threading.Thread], kind: type[BaseException], done, wait_s: float = 60.0) -> None:
    """Raise ``kind`` in each of ``threads`` (at its next Python instruction) and wait, at most
    ``wait_s`` in all, until every ``done`` event is set."""
    import ctypes
    import time

    for t in threads:
        if t.ident is not None:
            ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(t.ident), ctypes.py_object(kind))
    deadline = time.monotonic() + wait_s
    while not all(d.is_set() for d in done) and time.monotonic() < deadline:
        time.sleep(0.05)


def _bench_one(c: BenchConfig, target, paths, say: Callable[[str], None], progress_factory) -> dict:
    """One device of a sweep in its own session: bench_device's rows with the device's
    serial, model and SoC on each row, and how the device fared (``ok``, ``lost``)."""
    from .bench import bench_device
    from .runners import default_delegates
    from .session import DeviceSession

    profile = target.profile
    delegates = (
        check_delegates(c.delegates, profile.delegates, f"profile '{profile.name}'")
        if c.delegates
        else default_delegates(profile, paths)
    )
    session = DeviceSession(
        profile,
        serial=target.serial or c.serial,
        transport=c.transport,
        address=c.address,
        key_path=c.key,
        adb_server=c.adb_server,
    )
    with session as s:
        res = bench_device(s, c, paths, delegates, say=say, progress_factory=progress_factory)
    info = res["device"]
    ident = {
        "serial": info.get("serial") or session.serial or "",
        "model": info.get("model", ""),
        "soc": info.get("soc", ""),
    }
    for r in res["latency"]:
        r.update(ident)
    lost = info.get("connection_lost")
    return {
        **res,
        "delegates": delegates,
        "started": bool(session.started_adb_server),
        "status": {
            "label": target.label,
            "profile": profile.name,
            **ident,
            "status": "lost" if lost else "ok",
            "error": lost,
        },
    }


def bench_sweep(c: BenchConfig, paths, say: Callable[[str], None], progress_factory, on_row=None) -> dict:
    """Every target of ``c.device``: the host (``on_row`` gets each row as it is measured), or
    every device (one, several, or ``attached``), in parallel where several: one thread and
    session each; a device lost or unreachable is its rows failed and its entry in ``devices``
    (status lost), never the others' end. One result shape for all: latency, power, ops, trace,
    sustained, device, delegates, started (an adb server), devices."""
    from .fleet import Target, prepare_key, resolve_targets, run_parallel
    from .profiles import load_profile

    names = c.devices
    if names == ("host",):
        return _bench_host(c, paths, on_row)
    if len(names) == 1 and names[0] != "attached":  # one device: as before, its errors are the command's
        profile = load_profile(names[0])
        one = _bench_one(c, Target(profile, None, profile.name), paths, say, progress_factory)
        return {**one, "devices": [one["status"]]}
    targets, notes = resolve_targets(names, c.adb_server)
    for name in c.delegates or ():  # a delegate a profile lacks is the user's to fix, not a lost device
        having = [t.label for t in targets if name in t.profile.delegates]
        for t in targets:
            where = f"profile '{t.profile.name}'" + (f" ({t.profile.path})" if t.profile.path else "")
            if not having:  # no profile has it: a typo, with the nearest name
                check_delegates([name], t.profile.delegates, where)
            elif name not in t.profile.delegates:
                raise UsageError(
                    f"{where} has no delegate '{name}' (which {', '.join(having)} of this sweep has); it has "
                    f"{', '.join(t.profile.delegates)}: leave {t.label} out of this sweep, or add "
                    f"[delegates.{name}] to its profile",
                    param="--delegate",
                )
    for n in notes:
        say(f"note: {n}")
    prepare_key(targets, c.transport, c.key)

    def work(t):
        return _bench_one(c, t, paths, lambda m: say(f"[{t.label}] {m}"), None)

    merged = {
        "latency": [],
        "power": [],
        "ops": [],
        "trace": [],
        "sustained": [],
        "devices": [],
        "started": False,
        "delegates": [],
    }
    infos = []
    for t, res in zip(targets, run_parallel(targets, work)):
        if isinstance(res, BaseException):
            if not isinstance(res, EdgesegError):
                raise res
            res = _unreached(c, t, paths, res)
        label = t.label if len(targets) > 1 else None
        for key in ("latency", "power", "ops", "sustained"):
            for r in res.get(key) or []:
                r["device"] = label or r.get("device")
        merged["latency"] += res["latency"]
        merged["sustained"] += res.get("sustained") or []
        merged["power"] += res["power"]
        merged["ops"] += res["ops"]
        merged["trace"] += [{**r, "artifact": f"{r['artifact']}@{t.label}"} if label else r for r in res["trace"]]
        merged["devices"].append(res["status"])
        merged["started"] = merged["started"] or res["started"]
        merged["delegates"] += [d for d in res["delegates"] if d not in merged["delegates"]]
        infos.append({"label": t.label, **res.get("device", {})})
        st = res["status"]
        say(
            f"[{t.label}] {st['status']}: {sum(r.get('status') != 'failed' for r in res['latency'])} of "
            f"{len(res['latency'])} row(s) measured" + (f"; {st['error']}" if st.get("error") else "")
        )
    merged["device"] = {
        "profile": "+".join(t.label for t in targets),
        "name": f"{len(targets)} devices",
        "devices": infos,
    }
    return merged


def _unreached(c: BenchConfig, target, paths, exc: BaseException) -> dict:
    """The rows of a device whose session could not open (or whose sweep stopped): each failed."""
    from .runners import default_delegates

    p = target.profile
    delegates = list(c.delegates or ()) or default_delegates(p, paths)
    ident = {"serial": target.serial or p.serial or "", "model": "", "soc": p.soc}
    rows = [
        {
            "artifact": Path(a).stem,
            "device": target.label,
            "delegate": d,
            "status": "failed",
            "error": f"not run: {exc}",
            **ident,
        }
        for a in paths
        for d in delegates
    ]
    return {
        "latency": rows,
        "power": [],
        "ops": [],
        "trace": [],
        "delegates": delegates,
        "started": False,
        "device": {"profile": p.name, "error": str(exc)},
        "status": {"label": target.label, "profile": p.name, **ident, "status": "lost", "error": str(exc)},
    }


# -- report and select ------------------------------------------------------------------------


def _bench_host(c: BenchConfig, paths, on_row) -> dict:
    """The host as a target of the sweep: its delegates (edgeseg.delegates), each row by the
    host runner (edgeseg.device.bench.bench_rows)."""
    from ..delegates import HOST_DELEGATES, host_default
    from .bench import bench_rows

    delegates = check_delegates(c.delegates or (host_default(),), HOST_DELEGATES, "the host")
    rows = bench_rows(paths, c, delegates, say=on_row)
    return {
        "latency": rows,
        "power": [],
        "ops": [],
        "trace": [],
        "sustained": [],
        "device": {"name": "host"},
        "delegates": delegates,
        "threads": c.threads or c.HOST_THREADS,
        "started": False,
        "devices": [],
    }
