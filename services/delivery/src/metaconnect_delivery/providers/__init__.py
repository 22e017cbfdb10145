"""Provider adapters: each speaks one provider API shape behind `base.Provider`."""
