"""What the benchmarks share: the simulated hosts (scripts/vcluster) and an
sshd on each of them, for the tools that reach machines over ssh (rsync, the
seed's way to ship an environment; Distributed.jl's own addprocs)."""
import os, re, shutil, subprocess, sys, time


class VirtualCluster:
    """scripts/vcluster with RAM disks, brought up for a benchmark and put back after."""

    def __init__(self, n, fs="tmpfs"):
        self.repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        self.tool = os.path.join(self.repo, "scripts", "vcluster")
        status = subprocess.run([self.tool, "status"], capture_output=True, text=True)
        self.was_up = len(status.stdout.splitlines()) if status.returncode == 0 else 0
        subprocess.run([self.tool, "up", str(n)], check=True, stdout=subprocess.DEVNULL)
        self.env = dict(os.environ, OMPI_ALLOW_RUN_AS_ROOT="1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM="1")
        for line in subprocess.check_output([self.tool, "env"], text=True).splitlines():
            k, v = line.replace("export ", "", 1).split("=", 1)
            self.env[k] = v
        self.hosts = [l.split()[0] for l in subprocess.check_output([self.tool, "status"], text=True).splitlines()]
        for h in self.hosts:  # fs "dir": each host's /scratch stays a directory on this machine's disk
            if fs != "dir":
                subprocess.run([self.tool, "disk", h, "2g"] + (["xfs"] if fs == "xfs" else []), check=True)

    def disk(self, h):
        return subprocess.check_output([self.tool, "path", h], text=True).strip()

    def close(self):
        subprocess.run([self.tool, "unshape"], stdout=subprocess.DEVNULL)
        for h in self.hosts:
            subprocess.run([self.tool, "disk", h, "none"])
        subprocess.run([self.tool, "down"], stdout=subprocess.DEVNULL)
        if self.was_up:
            subprocess.run([self.tool, "up", str(self.was_up)], stdout=subprocess.DEVNULL)


class SshRsync:
    """The way DistributedEnvironments.jl ships an environment: rsync over ssh
    from the machine that has it to every host (node1's own /scratch too, as
    distenv installs there). Each simulated host gets
    its own sshd (in its namespaces, listening on its private address only:
    nothing else is reachable) and a throwaway key; rsync runs on node1, so
    its traffic leaves through node1's shaped link, as distenv's does."""

    def __init__(self, vc, scratch):
        for tool in ("/usr/sbin/sshd", "rsync", "ssh", "ssh-keygen"):
            if not shutil.which(tool):
                sys.exit("bench: needs openssh-server and rsync for the comparison "
                         "(apt-get install --no-install-recommends openssh-server rsync)")
        self.vc = vc
        self.dir = os.path.join(scratch, "ssh")
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir, mode=0o700)
        os.makedirs("/run/sshd", exist_ok=True)  # sshd's privilege separation directory
        for key in ("host", "id"):
            subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", os.path.join(self.dir, key)],
                           check=True)
        shutil.copy(os.path.join(self.dir, "id.pub"), os.path.join(self.dir, "authorized_keys"))
        self.client = os.path.join(self.dir, "client.conf")
        with open(self.client, "w") as f:
            f.write(f"Host *\n  IdentityFile {self.dir}/id\n  StrictHostKeyChecking no\n"
                    "  UserKnownHostsFile /dev/null\n  LogLevel ERROR\n  BatchMode yes\n")
        self.addr = {l.split()[0]: l.split()[1] for l in
                     subprocess.check_output([vc.tool, "status"], text=True).splitlines()}
        self.daemons = []
        for h in vc.hosts:
            conf = os.path.join(self.dir, f"sshd-{h}.conf")
            with open(conf, "w") as f:
                f.write(f"ListenAddress {self.addr[h]}\nHostKey {self.dir}/host\nPidFile {self.dir}/sshd-{h}.pid\n"
                        f"AuthorizedKeysFile {self.dir}/authorized_keys\nPermitRootLogin prohibit-password\n"
                        "PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\n")
            self.daemons.append(subprocess.Popen([vc.tool + "-agent", h, f"exec /usr/sbin/sshd -D -e -f {conf}"],
                                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                                 start_new_session=True))
        for h in vc.hosts:  # every sshd answers before anything is timed
            for _ in range(100):
                if self.run(h, "/scratch/rsync-probe", probe=True) is not None:
                    break
                time.sleep(0.1)
            else:
                self.close()
                sys.exit(f"bench: sshd on {h} does not answer")

    def run(self, host, dest, probe=False, src=None):
        """rsync -a --delete src/ to host:dest from node1; bytes on the wire, or None."""
        cmd = (f"true | ssh -F {self.client} root@{self.addr[host]} true" if probe else
               f"rsync -a --delete --stats -e 'ssh -F {self.client}' {src}/ root@{self.addr[host]}:{dest}/")
        r = subprocess.run([self.vc.tool + "-agent", self.vc.hosts[0], cmd], capture_output=True, text=True)
        if r.returncode != 0:
            if probe:
                return None
            sys.exit(f"bench: rsync to {host} failed: {r.stderr[-1000:]}")
        if probe:
            return 0
        sent = re.search(r"Total bytes sent: ([\d,]+)", r.stdout)
        received = re.search(r"Total bytes received: ([\d,]+)", r.stdout)
        return int(sent.group(1).replace(",", "")) + int(received.group(1).replace(",", ""))

    def loop(self, src, dest):
        """Host after host, as the seed does: (wall s, bytes per host)."""
        t = time.perf_counter()
        sent = [self.run(h, dest, src=src) for h in self.vc.hosts]
        return time.perf_counter() - t, max(sent)

    def parallel(self, src, dest):
        """Every host at once."""
        from concurrent.futures import ThreadPoolExecutor
        t = time.perf_counter()
        with ThreadPoolExecutor(len(self.vc.hosts)) as pool:
            sent = list(pool.map(lambda h: self.run(h, dest, src=src), self.vc.hosts))
        return time.perf_counter() - t, max(sent)

    def close(self):
        for d in self.daemons:
            try:
                os.killpg(d.pid, 15)
            except ProcessLookupError:
                pass
            d.wait()
