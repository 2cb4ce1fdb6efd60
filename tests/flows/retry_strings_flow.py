from metaflow import FlowSpec, retry, step, timeout


class RetryStringsFlow(FlowSpec):
    """@retry and @timeout values as strings of digits, which Metaflow reads as numbers."""

    @retry(times="2", minutes_between_retries="1")
    @timeout(seconds="90", minutes="1")
    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    RetryStringsFlow()
