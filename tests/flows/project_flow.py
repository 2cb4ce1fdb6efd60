from metaflow import FlowSpec, current, project, step


@project(name="demo_proj")
class ProjectFlow(FlowSpec):
    """A flow in a @project: its branch decides the DAG id and the runs' tags."""

    @step
    def start(self):
        self.branch = current.branch_name
        self.project_flow_name = current.project_flow_name
        self.next(self.end)

    @step
    def end(self):
        self.is_production = current.is_production


if __name__ == "__main__":
    ProjectFlow()
