"""Compiling the pipeline for Kubeflow Pipelines v2 / Vertex AI Pipelines.

KubeflowV2DagRunner only compiles: it turns the TFX pipeline into a KFP v2
PipelineSpec whose every step runs in one image (kubeflow/Dockerfile). The
spec also gets `defaultPipelineRoot`, so it runs without a pipeline_root
given at submission.
"""

import json
import os

import yaml
from tfx import v1 as tfx


def compile_pipeline(pipeline, output, image):
  """Writes the spec of `pipeline` to `output`: .yaml/.yml a PipelineSpec, .json a PipelineJob."""
  runner = tfx.orchestration.experimental.KubeflowV2DagRunner(
      config=tfx.orchestration.experimental.KubeflowV2DagRunnerConfig(default_image=image))
  job = runner.run(pipeline, write_out=False)
  job['pipelineSpec']['defaultPipelineRoot'] = pipeline.pipeline_info.pipeline_root
  directory = os.path.dirname(os.path.abspath(output))
  os.makedirs(directory, exist_ok=True)
  with open(output, 'w') as f:
    if output.endswith('.json'):
      json.dump(job, f, sort_keys=True, indent=1)
    else:
      f.write('# PIPELINE DEFINITION\n# Name: {}\n# Compiled by tf-heads with TFX '
              'KubeflowV2DagRunner; image {}\n'.format(pipeline.pipeline_info.pipeline_name,
                                                      image))
      yaml.safe_dump(job['pipelineSpec'], f, sort_keys=True)
  return output
