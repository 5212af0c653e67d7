"""Pure decisions: reconcile, placement and cost, autoscaling, routing policies. No I/O."""
