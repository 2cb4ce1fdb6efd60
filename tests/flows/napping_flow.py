import os
import subprocess
import time

from metaflow import FlowSpec, Parameter, step


class NappingFlow(FlowSpec):
    """A step that starts a grandchild process, records both pids in `pid_file`, and sleeps."""

    pid_file = Parameter("pid_file", default="")

    @step
    def start(self):
        self.next(self.nap)

    @step
    def nap(self):
        grandchild = subprocess.Popen(["sleep", "300"])
        with open(self.pid_file, "w") as handle:
            handle.write(f"{os.getpid()} {grandchild.pid}")
        time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    NappingFlow()
