from metaflow import FlowSpec, environment, kubernetes, step, timeout


class PodSecurityEnvFlow(FlowSpec):
    """Security context, environment variables and timeouts."""

    @kubernetes(
        security_context={
            "run_as_user": 1000,
            "run_as_group": 3000,
            "run_as_non_root": True,
            "allow_privilege_escalation": False,
            "privileged": False,
        }
    )
    @step
    def start(self):
        self.next(self.hardened)

    @kubernetes(
        security_context={
            "capabilities": {"drop": ["ALL"]},
            "seccomp_profile": {"type": "RuntimeDefault"},
            "read_only_root_filesystem": True,
        }
    )
    @step
    def hardened(self):
        self.next(self.configured)

    @environment(
        vars={"GREETING": "{{ not jinja }} $(not shell)", "MODE": "train", "METAFLOW_TEMPDIR": "/tmp"}
    )
    @kubernetes(use_tmpfs=True)
    @step
    def configured(self):
        self.next(self.timed)

    @timeout(minutes=5, seconds=30)
    @kubernetes
    @step
    def timed(self):
        self.next(self.end)

    @step
    def end(self):
        pass


if __name__ == "__main__":
    PodSecurityEnvFlow()
