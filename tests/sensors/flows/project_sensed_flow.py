from metaflow import FlowSpec, project, step


@project(name="sensor_proj")
class ProjectSensedFlow(FlowSpec):
    """A @project flow: its runs carry project: and project_branch: tags."""

    @step
    def start(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    ProjectSensedFlow()
