from metaflow import FlowSpec, retry, step


class FailingFlow(FlowSpec):
    """Fails in a step whose one retry fails too, so Metaflow stops the run."""

    @step
    def start(self):
        self.next(self.boom)

    @retry(times=1, minutes_between_retries=0)
    @step
    def boom(self):
        raise RuntimeError("this step fails on purpose")
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    FailingFlow()
