from metaflow import FlowSpec, step


class ForeachMultistepFlow(FlowSpec):
    """A foreach whose body has three steps, after a linear step."""

    @step
    def start(self):
        self.next(self.prepare)

    @step
    def prepare(self):
        self.numbers = [3, 1, 4]
        self.next(self.square, foreach="numbers")

    @step
    def square(self):
        self.value = self.input * self.input
        self.next(self.shift)

    @step
    def shift(self):
        self.value += 1
        self.next(self.describe)

    @step
    def describe(self):
        self.text = f"{self.input}->{self.value}"
        self.next(self.join)

    @step
    def join(self, inputs):
        self.texts = [i.text for i in inputs]
        self.next(self.end)

    @step
    def end(self):
        print(self.texts)


if __name__ == "__main__":
    ForeachMultistepFlow()
