"""The penguin TFX pipeline of tf-heads: data prep, pipeline builder, CLI (`heads-pipeline`)."""
