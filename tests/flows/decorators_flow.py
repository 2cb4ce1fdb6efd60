import os

from metaflow import FlowSpec, card, catch, current, environment, resources, retry, secrets, step


class DecoratorsFlow(FlowSpec):
    """Step decorators that must behave on Airflow as they do with `python flow.py run`."""

    @card
    @step
    def start(self):
        current.card.append  # noqa: B018 - the default card exists
        self.next(self.caught)

    @catch(var="failure")
    @retry(times=1, minutes_between_retries=0)
    @step
    def caught(self):
        self.attempts_seen = current.retry_count
        raise ValueError(f"always fails, attempt {current.retry_count}")
        self.next(self.configured)  # never reached; Metaflow reads the graph from it

    @environment(vars={"GREETING": "{{ not jinja }} $(not shell) 'quoted'", "EMPTY": ""})
    @resources(cpu=2, memory=2048)
    @secrets(sources=[{"type": "inline", "id": "demo", "options": {"env_vars": {"API_TOKEN": "tok-9c1e"}}}])
    @step
    def configured(self):
        self.greeting = os.environ["GREETING"]
        self.empty = os.environ["EMPTY"]
        self.token_length = len(os.environ["API_TOKEN"])
        self.next(self.end)

    @step
    def end(self):
        self.failure_text = str(self.failure) if self.failure else None


if __name__ == "__main__":
    DecoratorsFlow()
