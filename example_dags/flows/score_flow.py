"""ScoreFlow: score a small table of readings and count how many pass a threshold.

The readings come from the CSV file named by the `input_csv` Parameter, which an upstream task
of mixed_pipeline_dag.py writes and hands over through XCom. Without it the flow scores a
built-in sample, so `python score_flow.py run` works on its own.
"""

import csv
import io

from metaflow import FlowSpec, Parameter, step

SAMPLE_CSV = "id,value\n1,37\n2,74\n3,10\n4,47\n"


class ScoreFlow(FlowSpec):
    """Scores readings (value divided by the largest value) against a threshold."""

    threshold = Parameter("threshold", default=0.5, type=float, help="Scores at or above this pass.")
    input_csv = Parameter("input_csv", default="", help="A CSV file of id,value rows; a sample if empty.")

    @step
    def start(self):
        """Read the input once and keep it as an artifact: the run stays inspectable after the
        file is gone."""
        path = self.input_csv
        if path:
            with open(path, newline="") as handle:
                text = handle.read()
        else:
            text = SAMPLE_CSV
        self.source = path or "built-in sample"
        self.readings = [
            {"id": int(row["id"]), "value": float(row["value"])} for row in csv.DictReader(io.StringIO(text))
        ]
        if not self.readings:
            raise ValueError(f"No readings in {self.source}.")
        print(f"{len(self.readings)} readings from {self.source}")
        self.next(self.score)

    @step
    def score(self):
        top = max(reading["value"] for reading in self.readings) or 1.0
        self.scores = [
            {"id": reading["id"], "score": round(reading["value"] / top, 3)} for reading in self.readings
        ]
        self.next(self.end)

    @step
    def end(self):
        passed = [row["id"] for row in self.scores if row["score"] >= self.threshold]
        self.summary = {
            "readings": len(self.scores),
            "passed": len(passed),
            "passed_ids": passed,
            "threshold": self.threshold,
        }
        print("summary", self.summary)


if __name__ == "__main__":
    ScoreFlow()
