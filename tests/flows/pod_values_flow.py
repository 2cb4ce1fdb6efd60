from metaflow import Config, FlowSpec, Parameter, current, retry, step


class PodValuesFlow(FlowSpec):
    """Steps (pods with `--with kubernetes`) that read a Parameter and a Config; the first
    attempt of start fails, so the Kubernetes operator logs the failed pod's spec."""

    settings = Config("settings", default_value={"marker": "config-value-5be1d0"})
    word = Parameter("word", default="default-word")

    @retry(times=1, minutes_between_retries=0)
    @step
    def start(self):
        if current.retry_count == 0:
            raise RuntimeError("the first attempt of this pod fails on purpose")
        self.seen = {"word": self.word, "marker": self.settings.marker}
        self.next(self.end)

    @step
    def end(self):
        self.echoed = dict(self.seen, marker_again=self.settings.marker)


if __name__ == "__main__":
    PodValuesFlow()
