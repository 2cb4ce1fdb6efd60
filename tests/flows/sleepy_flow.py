import os
import subprocess
import time

from metaflow import FlowSpec, step


class SleepyFlow(FlowSpec):
    """A step that starts a grandchild process, records both pids, and sleeps until killed."""

    @step
    def start(self):
        self.next(self.sleep)

    @step
    def sleep(self):
        grandchild = subprocess.Popen(["sleep", "300"])
        with open(os.environ["SLEEPY_PID_FILE"], "w") as handle:
            handle.write(f"{os.getpid()} {grandchild.pid}")
        time.sleep(300)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SleepyFlow()
