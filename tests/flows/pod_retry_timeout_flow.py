import time

from metaflow import FlowSpec, current, kubernetes, retry, step, timeout


class PodRetryTimeoutFlow(FlowSpec):
    """A pod step that fails once and is retried; another that overruns its @timeout."""

    @kubernetes(cpu=0.5, memory=512)
    @retry(times=1, minutes_between_retries=0)
    @step
    def start(self):
        if current.retry_count == 0:
            raise RuntimeError("the first attempt of this pod fails on purpose")
        self.attempt_seen = current.retry_count
        self.next(self.slow)

    @kubernetes
    @timeout(seconds=60)
    @step
    def slow(self):
        time.sleep(600)
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodRetryTimeoutFlow()
