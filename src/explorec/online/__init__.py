"""The learning loop of the live service (issue 13): the model registry and the background trainer."""
