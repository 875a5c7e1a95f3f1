"""Model access: clients per provider, the model manager, and the types they share."""
