"""Payment gateway adapters: the offline sandbox (embedded default) and Stripe."""
