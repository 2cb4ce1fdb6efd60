"""The Kubernetes backend: a Metaflow step as a pod, through the real KubernetesPodOperator.

- operator.py: MetaflowKubernetesOperator, the operator a DAG file names for a pod step.
- backend.py: PodStepBackend, the StepBackend the engine drives: the pod's command before it
  starts, the task's result after it ends.
- pod_spec.py: a PodPlan as KubernetesPodOperator arguments.

Imported only by DAGs with pod steps: it imports the Kubernetes provider.
"""
