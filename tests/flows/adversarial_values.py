"""Values full of quotes, braces, shell syntax, backslashes, unicode and newlines (test_adversarial.py)."""

import os

from metaflow import Config, FlowSpec, JSONType, Parameter, config_expr, environment, get_namespace, step

# The same text sits in test_adversarial.py: these literals must reach the flow unchanged.
STATIC = (
    'it\'s "quoted" {{ 7*7 }} {% if x %}{% endif %} {} $HOME $(echo static) `echo static` '
    "\\ ü 🎉 中文\nline 2"
)
HELP = "help with 'quotes' \"double\" {{ ds }} {% raw %} {} $(echo help) `echo help` \\ é 🎉 中\nsecond line"


class AdversarialValuesFlow(FlowSpec):
    r"""Adversarial text: 'single' "double" {{ ds }} {% raw %}{% endraw %} {} $HOME $(echo no) `echo no`
    back\slash \n éàü 🎉 中文 日本語 and a second line."""

    values = Config(
        "values",
        default_value={"text": "config {{ ds }}", "env": "env {{ ds }}", "nested": {"list": ["{}"]}},
    )
    text = Parameter("text", default="plain", help=HELP)
    payload = Parameter("payload", type=JSONType, default='{"key": "{{ 7*7 }}"}', help=HELP)
    static = Parameter("static", default=STATIC, help=HELP)
    from_config = Parameter("from_config", default=config_expr("values.text"), help=HELP)

    @environment(vars={"ADVERSARIAL_STATIC": STATIC, "ADVERSARIAL_CONFIG": config_expr("values.env")})
    @step
    def start(self):
        self.seen = {
            "text": self.text,
            "payload": self.payload,
            "static": self.static,
            "from_config": self.from_config,
            "config": self.values.to_dict(),
            "env": {name: os.environ.get(name) for name in ("ADVERSARIAL_STATIC", "ADVERSARIAL_CONFIG")},
            "namespace": get_namespace(),
        }
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    AdversarialValuesFlow()
