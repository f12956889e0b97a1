"""Code the deploy's tasks share: settings validation, OS decisions, custom facts."""
