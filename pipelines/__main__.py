"""`python -m pipelines ...` is the `heads-pipeline` command."""

import sys

from pipelines.cli import main

sys.exit(main())
