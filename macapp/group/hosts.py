"""The Macs a run trains on together: read from `--hosts` (names, or a host file in mlx.launch's own format), checked
over SSH, given the run's files, and written as the host file mlx.launch reads.

This Mac is always the first of the group (it writes the run's files); each other Mac gets a copy of what training
reads (settings, data, the last checkpoint, and the model when it does not have the same one) in its own Tailor folder.
"""

import contextlib
import ipaddress
import json
import re
import shlex
import socket
import subprocess
import tarfile
import threading
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from ..engine import bundle
from ..engine.check import gpu_guard
from ..engine.errors import InputError
from ..engine.words import start_of

GROUP = "group"  # in Tailor's folder, where a Mac keeps its copies of the runs it trains with others, and their models
BACKENDS = ("ring", "jaccl", "jaccl-ring")  # mlx.launch's: over the network, or RDMA over Thunderbolt
# No password prompt (the window has no terminal); IPv4, which MLX's ring takes; a dropped link noticed in a minute.
SSH = ["ssh", "-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "AddressFamily=inet",
       "-o", "ServerAliveInterval=15", "-o", "ServerAliveCountMax=4"]
# What ssh is given as a Mac: an account (optional, user@), then a name (its labels: letters, digits, "-" and "_" not
# at either end, so that ssh never reads one as an option such as -oProxyCommand=...) or an address.
ACCOUNT = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")
LABEL = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?")
NAMES_LIKE = "such as mini.local, sam@mini.local or 192.168.1.20"
NEWLINE = "\n"
# mlx.launch writes a host file's settings into the command it runs over ssh, which every user of each Mac can see
# (ps): no secret goes there.
SECRET = re.compile(r"TOKEN|SECRET|PASSWORD|KEY", re.IGNORECASE)


def is_host(text: str) -> bool:
    """Whether `text` is a Mac's name or address as ssh takes it (user@ allowed), and nothing else."""
    account, at, host = text.rpartition("@")
    if at and not ACCOUNT.fullmatch(account):
        return False
    with contextlib.suppress(ValueError):
        ipaddress.ip_address(host)
        return True
    return len(host) <= 253 and all(LABEL.fullmatch(label) for label in host.split("."))


def _shown(text: str) -> str:
    return repr(start_of(text))


def read(text: str) -> dict:
    """The hosts `--hosts` names, in mlx.launch's host-file shape: a host file's path, or names separated by commas
    (kept as `given`, for the command that resumes the run)."""
    path = Path(text).expanduser()
    try:
        a_file = path.suffix == ".json" or path.is_file()
    except OSError:  # too long to be a file's name
        a_file = False
    if a_file:
        return _from_file(path)
    names = [name.strip() for name in text.split(",")]
    if not all(names):
        raise InputError(f"--hosts {text}: a name is empty. Give the Macs' names separated by commas, such as "
                         "--hosts studio.local,mini.local (or a host file).")
    for name in names:
        if not is_host(name):
            raise InputError(f"--hosts: {_shown(name)} is not a Mac's name or address. Give names {NAMES_LIKE}, "
                             "separated by commas (or the path of a host file).")
    return {"backend": "ring", "envs": [], "hosts": [{"ssh": name, "ips": [], "rdma": []} for name in names],
            "given": text}


def _from_file(path: Path) -> dict:
    try:
        text = path.read_text(encoding="utf-8")
        data = json.loads(text)
    except FileNotFoundError:
        raise InputError(f"{path}: no such host file. Give the Macs' names separated by commas, or the path of a "
                         "host file.") from None
    except json.JSONDecodeError as error:
        raise InputError(f"{path}:{error.lineno}: this host file is not valid JSON ({error.msg}).") from None
    data = {"hosts": data} if isinstance(data, list) else data
    if not isinstance(data, dict) or not isinstance(data.get("hosts"), list) or not data["hosts"]:
        raise InputError(f"{path}: a host file lists the Macs under \"hosts\", such as "
                         '{"hosts": [{"ssh": "studio.local"}, {"ssh": "mini.local"}]}.')
    backend = data.get("backend") or "ring"
    if backend not in BACKENDS:
        raise InputError(f"{path}: backend: Tailor trains together over {', '.join(BACKENDS)}, not {backend!r}.")
    envs = data.get("envs", [])
    if not isinstance(envs, list) or not all(isinstance(e, str) and "=" in e for e in envs):
        raise InputError(f"{path}: envs: give settings as a list of \"NAME=value\" texts.")
    if secret := next((e.split("=")[0] for e in envs if SECRET.search(e.split("=")[0])), None):
        raise InputError(f"{path}: envs: {secret} would show in the other Macs' list of processes, where anyone "
                         "using them can read it. Remove it: the other Macs get the model and the data from this one.")
    hosts = [_host(path, text, i, host, len(data["hosts"]), backend) for i, host in enumerate(data["hosts"])]
    return {"backend": backend, "envs": envs, "hosts": hosts, "given": str(path)}


def _host(path: Path, text: str, i: int, host, count: int, backend: str) -> dict:
    where = f"{path}: hosts[{i}]"
    if not isinstance(host, dict) or not isinstance(host.get("ssh"), str) or not host["ssh"].strip():
        raise InputError(f"{where}: each Mac needs \"ssh\", the name this Mac reaches it by, such as "
                         '{"ssh": "mini.local"}.')
    if not is_host(host["ssh"].strip()):
        at = text.find(json.dumps(host["ssh"]))  # its line, where the file spells it as JSON writes it
        line = f":{text.count(NEWLINE, 0, at) + 1}" if at >= 0 else ""
        raise InputError(f"{path}{line}: hosts[{i}].ssh: {_shown(host['ssh'])} is not a Mac's name or address. Give "
                         f"the name this Mac reaches it by, {NAMES_LIKE}.")
    ips = host.get("ips") or []
    ips = ips if isinstance(ips, list) else [ips]
    for ip in ips:
        try:
            ipaddress.ip_address(ip)
        except (ValueError, TypeError):
            raise InputError(f"{where}.ips: {ip!r} is not an IP address (such as 192.168.1.20).") from None
    rdma = host.get("rdma") or []
    if backend.startswith("jaccl") and (len(rdma) != count or rdma[i] is not None):
        raise InputError(f"{where}.rdma: with {backend}, each Mac lists one RDMA device per Mac of the file, and null "
                         "for itself. mlx.distributed_config --over thunderbolt writes such a file.")
    return {"ssh": host["ssh"].strip(), "ips": ips, "rdma": rdma}


@dataclass
class Mac:
    """One Mac of the group, as its check found it: what it has (`facts`) or why it could not tell, and what to fix."""

    name: str
    entry: dict
    facts: dict | None = None
    problems: list[dict] = field(default_factory=list)


def _agent(host: str, *arguments: str) -> list[str]:
    """The command that runs macapp.group.agent on `host` over SSH (Tailor is where it is on this Mac); `--` ends
    ssh's options, so the host is never read as one."""
    return [*SSH, "--", host, shlex.join([*bundle.module("macapp.group.agent"), *arguments])]


def _ask(mac: Mac, wanted: dict) -> None:
    """`mac`'s facts, or the problem that kept it from answering, with its fix."""
    try:
        done = subprocess.run(_agent(mac.name, "facts"), input=json.dumps(wanted), capture_output=True, text=True,
                              timeout=60)
    except subprocess.TimeoutExpired:
        mac.problems.append({"message": f"Tailor on {mac.name} did not answer within a minute.",
                             "fix": f"Check that {mac.name} is awake, then try again."})
        return
    said = (done.stderr.strip().splitlines() or [""])[-1]
    if done.returncode == 255:
        other_name = " If your account there has another name, write it as name@" + mac.name + "." \
            if "Permission denied" in said else ""
        mac.problems.append({"message": f"Tailor cannot reach {mac.name} over SSH ({said or 'no answer'}).",
                             "fix": f"Check that {mac.name} is on and on this Mac's network, that Remote Login is "
                                    "on in its System Settings › General › Sharing, and that it knows this Mac's "
                                    f"SSH key (ssh-copy-id, once).{other_name}"})
    elif done.returncode == 127 or "No such file" in said:
        mac.problems.append({"message": f"Tailor is not installed on {mac.name} where it is on this Mac "
                                        f"({bundle.python()[0]}).",
                             "fix": f"Install Tailor on {mac.name} in the same place (the Applications folder)."})
    elif "No module named" in said:
        mac.problems.append({"message": f"{mac.name} has an older Tailor, which cannot train with other Macs.",
                             "fix": f"Install the same version of Tailor on {mac.name} as on this Mac."})
    elif done.returncode:
        mac.problems.append({"message": f"Tailor on {mac.name} could not answer: {said}",
                             "fix": f"Open Tailor on {mac.name} once to see that it works, then try again."})
    else:
        try:
            mac.facts = json.loads(done.stdout.strip().splitlines()[-1])  # after anything its shell's start prints
        except (ValueError, IndexError):
            mac.problems.append({"message": f"Tailor on {mac.name} answered something else than expected.",
                                 "fix": f"Open Tailor on {mac.name} once to see that it works, then try again."})


def _is_this_mac(name: str) -> bool:
    own = socket.gethostname().lower()
    return name.lower() in ("localhost", "127.0.0.1", own, own.removesuffix(".local"), f"{own}.local")


def check(plan: dict, here: dict, wanted: dict) -> list[Mac]:
    """Each Mac of `plan` asked over SSH at once, this Mac first (from `here`, its own facts), with its problems."""
    macs = [Mac(entry["ssh"], entry) for entry in plan["hosts"]]
    for mac in macs:
        if _is_this_mac(mac.name):
            mac.facts = here
    threads = [threading.Thread(target=_ask, args=(mac, wanted)) for mac in macs if not mac.facts]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    mine = [mac for mac in macs if mac.facts and mac.facts["machine"] == here["machine"]]
    if plan["backend"].startswith("jaccl") and not mine:
        raise InputError(f"This Mac is not in the host file, and {plan['backend']} needs each Mac's RDMA devices: "
                         "add it to the file (mlx.distributed_config --over thunderbolt writes one).")
    first = mine[0] if mine else Mac("this Mac", {"ssh": "this Mac", "ips": [], "rdma": []})
    first.name, first.facts = "this Mac", here
    others = [mac for mac in macs if mac not in mine]
    for mac in others:
        if mac.facts:
            mac.problems += problems(here, mac.facts, mac.name, plan["backend"])
    return [first, *others]


def problems(here: dict, there: dict, name: str, backend: str) -> list[dict]:
    """What keeps the Mac `name` (its `there` facts) from training with this one (`here`), each with its fix."""
    found = []
    versions = {key: (here[key], there[key]) for key in ("tailor", "mlx", "mlx_lm") if here[key] != there[key]}
    if versions:
        words = {"tailor": "Tailor", "mlx": "MLX", "mlx_lm": "mlx-lm"}
        differ = ", ".join(f"{words[key]} {theirs} (this Mac: {ours})" for key, (ours, theirs) in versions.items())
        found.append({"message": f"{name} has {differ}: Macs training together need the same versions.",
                      "fix": f"Install the same version of Tailor on {name} as on this Mac."})
    if backend.startswith("jaccl") and not there["rdma"]:
        found.append({"message": f"{name} cannot use RDMA over Thunderbolt.",
                      "fix": "It needs Thunderbolt 5, macOS 26.2 or later, and RDMA turned on once (in Recovery's "
                             "Terminal: rdma_ctl enable); or remove \"backend\" from the host file to train over the "
                             "network."})
    if not there["address"]:
        found.append({"message": f"Tailor could not learn {name}'s network address.",
                      "fix": "Give its IP address in a host file (\"ips\")."})
    return found


def memory_problem(mac: Mac, plan: dict, macs: int, first: bool) -> dict | None:
    """A Mac whose share of each step does not fit in its memory (`plan` is memory.plan's answer for that share, on
    `macs` Macs; `first`: this Mac, which cannot be left out)."""
    if plan["status"] != "too_big":
        return None
    gb = 1024 ** 3
    fits = plan.get("suggestion")
    ways = []
    if fits:
        ways.append(f"use a batch size of {fits['batch_size'] * macs}")
        if fits["grad_checkpoint"]:
            ways.append("turn on gradient checkpointing")
        ways.append(f"keep examples to {fits['max_seq_length']} tokens")
    fix = ("In the settings, " + ", ".join(ways) + "." if fits else "Train a smaller model, or a 4-bit one.")
    return {"message": f"{mac.name} has room for {plan['limit_bytes'] / gb:.1f} GB of training, and its share of "
                       f"each step needs about {plan['predicted_bytes'] / gb:.1f} GB.",
            "fix": fix + ("" if first else f" Or leave {mac.name} out.")}


def hostfile(macs: list[Mac], plan: dict, names_env: str) -> dict:
    """The host file mlx.launch reads: this Mac runs its process itself (127.0.0.1), the others over SSH; each
    listens on the address the others reach it at."""
    reached_from = next((mac.facts["caller"] for mac in macs[1:] if mac.facts.get("caller")), None)
    hosts = []
    for i, mac in enumerate(macs):
        ips = mac.entry["ips"] or [reached_from if i == 0 else mac.facts["address"]]
        hosts.append({"ssh": "127.0.0.1" if i == 0 else mac.entry["ssh"], "ips": ips, "rdma": mac.entry["rdma"]})
    if plan["backend"].startswith("jaccl"):  # each Mac's devices are listed in the file's order: put it in the new one
        order = [plan["hosts"].index(mac.entry) for mac in macs]
        for host in hosts:
            host["rdma"] = [host["rdma"][j] for j in order]
    envs = [*plan["envs"], names_env]
    if any(gpu_guard.needs_watchdog_workaround(mac.facts["system"], mac.facts["macos"]) for mac in macs):
        envs.append(f"{gpu_guard.WATCHDOG_VARIABLE}=1")  # ssh does not pass this Mac's environment on
    return {"backend": plan["backend"], "envs": envs, "hosts": hosts}


def copy_to(mac: Mac, run: str, items: list[tuple[Path, str]], say) -> None:
    """Send `items` (a local path, and its place under the other Mac's group folder) to `mac` in one tar stream;
    links (a downloaded model's files are links into its cache) are sent as the files they point to."""
    size = sum(f.stat().st_size for path, _ in items for f in ([path] if path.is_file() else path.rglob("*"))
               if f.is_file())
    say(f"Copying the run's files to {mac.name} ({size / 1e6:,.0f} MB)")
    sending = subprocess.Popen(_agent(mac.entry["ssh"], "receive", run), stdin=subprocess.PIPE,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        with tarfile.open(fileobj=sending.stdin, mode="w|", dereference=True) as archive:
            for path, name in items:
                archive.add(path, arcname=name)
    except BrokenPipeError:  # the other side ended: what it said comes below
        pass
    finally:
        with contextlib.suppress(OSError):
            sending.stdin.close()
    said = sending.stderr.read().decode(errors="replace").strip().splitlines()
    if sending.wait():
        raise InputError(f"Copying the run's files to {mac.name} failed ({said[-1] if said else 'no answer'}). "
                         "Check its free disk space and the connection, then start again.")


def remote_paths(mac: Mac, run: str) -> tuple[PurePosixPath, PurePosixPath]:
    """Where `mac` keeps its copy of the run, and its models' copies (under its own Tailor folder)."""
    root = PurePosixPath(mac.facts["home"]) / GROUP
    return root / "runs" / run, root / "models"
