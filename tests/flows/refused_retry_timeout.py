from metaflow import FlowSpec, retry, step, timeout


class RefusedRetryTimeoutFlow(FlowSpec):
    """@retry and @timeout values Metaflow's CLI lets through but that are no whole number."""

    @retry(times=1.5, minutes_between_retries=0)
    @step
    def start(self):
        self.next(self.wait)

    @retry(times=1, minutes_between_retries="soon")
    @step
    def wait(self):
        self.next(self.quick)

    @timeout(seconds=1.5)
    @step
    def quick(self):
        self.next(self.backwards)

    @timeout(minutes=-1, seconds=90)
    @step
    def backwards(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RefusedRetryTimeoutFlow()
