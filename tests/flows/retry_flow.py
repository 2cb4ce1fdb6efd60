from metaflow import FlowSpec, Parameter, current, retry, step


class RetryFlow(FlowSpec):
    """start and flaky fail on their first attempt and pass on the retry."""

    greeting = Parameter("greeting", default="hello")

    @retry(times=1, minutes_between_retries=0)
    @step
    def start(self):
        if current.retry_count == 0:
            raise RuntimeError("start fails once on purpose")
        self.next(self.flaky)

    @retry(times=2, minutes_between_retries=0)
    @step
    def flaky(self):
        print("attempt", current.retry_count)
        if current.retry_count == 0:
            raise RuntimeError("first attempt fails on purpose")
        self.attempt_seen = current.retry_count
        self.next(self.end)

    @step
    def end(self):
        self.message = self.greeting + "!"


if __name__ == "__main__":
    RetryFlow()
