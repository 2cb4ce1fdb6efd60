import os

from metaflow import FlowSpec, Parameter, exit_hook, step


def record_success(run=None):
    with open(os.environ["EXIT_HOOK_LOG"], "a") as log:
        log.write(f"success {run.successful}\n")


def record_error(run=None):
    with open(os.environ["EXIT_HOOK_LOG"], "a") as log:
        log.write(f"error {run.successful}\n")


@exit_hook(on_success=[record_success], on_error=[record_error])
class ExitHookFlow(FlowSpec):
    """Calls record_success or record_error once the run has finished."""

    fail = Parameter("fail", default=False, type=bool)

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        if self.fail:
            raise RuntimeError("end fails on request")


if __name__ == "__main__":
    ExitHookFlow()
