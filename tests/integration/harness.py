"""Helpers for the integration tests: real mpirun, real processes, and the
virtual cluster's per-host disks (scripts/vcluster)."""
import json, os, shutil, subprocess, sys, tempfile, time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BOOTSTRAP = os.environ.get("DISTENV_BOOTSTRAP", os.path.join(REPO, "build", "src", "distenv-bootstrap"))
VCLUSTER = os.path.join(REPO, "scripts", "vcluster")
SKIP = 77  # CTest SKIP_RETURN_CODE


class Failed(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failed(what)


def equal(actual, expected, what):
    if actual != expected:
        raise Failed(f"{what}: expected {expected!r}, got {actual!r}")


def contains(text, part, what):
    if part not in text:
        raise Failed(f"{what}: {part!r} not in:\n{text}")


class Scratch:
    """A temporary directory under /var/tmp (visible to every simulated host:
    only /scratch is private to a host)."""

    def __init__(self):
        self.path = tempfile.mkdtemp(prefix="distenv-itest-", dir="/var/tmp")
        os.chmod(self.path, 0o755)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)

    def __truediv__(self, rel):
        return os.path.join(self.path, rel)


def copy_example(dest):
    """The bundled example environment (Julia project + 2 dev packages)."""
    src = os.path.join(REPO, "scripts", "example")
    shutil.copytree(src, dest, symlinks=True)
    return os.path.join(dest, "alice", "sweep")


def root_env():
    env = dict(os.environ)
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    return env


class Result:
    def __init__(self, proc, seconds):
        self.code = proc.returncode
        self.out = proc.stdout
        self.err = proc.stderr
        self.seconds = seconds

    def __repr__(self):
        return f"exit {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err}"


def cluster_env():
    """root_env() plus what `scripts/vcluster env` says: a plain mpirun then
    reaches the simulated hosts."""
    env = root_env()
    for line in subprocess.check_output([VCLUSTER, "env"], text=True).splitlines():
        k, v = line.replace("export ", "", 1).split("=", 1)
        env[k] = v
    return env


def mpirun(args, np=1, cluster=False, export=(), timeout=120, extra_env=None):
    """Runs distenv-bootstrap under mpirun: `np` ranks on localhost, or one
    rank per host of the virtual cluster."""
    env = cluster_env() if cluster else root_env()
    cmd = ["mpirun", "--oversubscribe", "--bind-to", "none"]
    if cluster:
        hosts = vcluster_hosts()
        cmd += ["-hostfile", os.path.join(REPO, "hostfiles", "vcluster"), "--map-by", "ppr:1:node",
                "-np", str(len(hosts))]
    else:
        cmd += ["-np", str(np)]
    for name in export:
        cmd += ["-x", name]
    if extra_env:
        env.update(extra_env)
    cmd += [BOOTSTRAP] + list(args)
    t = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    return Result(proc, time.time() - t)


def report(path):
    with open(path) as f:
        return json.load(f)


def need_root():
    if os.geteuid() != 0:
        print("skipped: the virtual cluster needs root (network and mount namespaces)")
        sys.exit(SKIP)


def vcluster_hosts():
    out = subprocess.run([VCLUSTER, "status"], capture_output=True, text=True)
    if out.returncode != 0:
        raise Failed("the virtual cluster is not up (scripts/vcluster up 3)")
    return [line.split()[0] for line in out.stdout.splitlines()]


def host_disk(host):
    return subprocess.check_output([VCLUSTER, "path", host], text=True).strip()


def leftover_processes(marker):
    """Processes whose command line contains `marker` (ours excluded)."""
    out = subprocess.run(["pgrep", "-af", "--", marker], capture_output=True, text=True, errors="replace").stdout
    return [l for l in out.splitlines() if "pgrep" not in l and str(os.getpid()) != l.split()[0]]


def no_leftovers(marker, within=10.0):
    deadline = time.time() + within
    while time.time() < deadline:
        left = leftover_processes(marker)
        if not left:
            return
        time.sleep(0.2)
    raise Failed(f"processes left running:\n" + "\n".join(left))


def worker_lines(out):
    """[host:N] lines of worker output -> list of (host, worker, text)."""
    lines = []
    for line in out.splitlines():
        if line.startswith("[") and "] " in line:
            label, text = line[1:].split("] ", 1)
            host, _, who = label.rpartition(":")
            lines.append((host, who, text))
    return lines
