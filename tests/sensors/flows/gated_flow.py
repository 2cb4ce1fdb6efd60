import os
import time

from metaflow import FlowSpec, Parameter, step


class GatedFlow(FlowSpec):
    """Runs until its gate file exists, so a test decides when the run finishes."""

    gate = Parameter("gate", help="the run finishes once this file exists")

    @step
    def start(self):
        deadline = time.monotonic() + 120
        while not os.path.exists(self.gate):
            if time.monotonic() > deadline:
                raise RuntimeError(f"gate {self.gate} never opened")
            time.sleep(0.1)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    GatedFlow()
