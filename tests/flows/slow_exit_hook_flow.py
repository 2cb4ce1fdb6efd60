import os
import time

from metaflow import FlowSpec, exit_hook, step


def linger(run=None):
    """Writes its pid next to the flow file, then sleeps until it is killed."""
    with open(
        os.path.join(os.path.dirname(os.path.abspath(__file__)), f"exit-hook-{run.id}.pid"), "w"
    ) as out:
        out.write(str(os.getpid()))
    time.sleep(300)


@exit_hook(on_success=[linger])
class SlowExitHookFlow(FlowSpec):
    """Its exit hook runs until the task is stopped."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    SlowExitHookFlow()
