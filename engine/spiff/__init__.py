"""The one adapter to SpiffWorkflow: parser set-up, state serializer, step loop and task helpers."""
