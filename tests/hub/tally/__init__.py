"""A test-only Django app with two subscriptions of its own, to try the kernel's subscriptions on."""
