# What a worker sees: its place in the job and the environment it runs in.
import os, socket
e = os.environ
print(f"worker {e.get('DISTENV_WORKER')}/{e.get('DISTENV_WORKERS')} on {socket.gethostname()}: "
      f"project {e.get('DISTENV_PROJECT')}, kernels at {e.get('SWEEP_KERNELS')}")
