"""MetaflowFlowTrigger: the triggerer side of a deferred MetaflowFlowSensor."""
