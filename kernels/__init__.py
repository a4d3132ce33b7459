"""The kernels dslbench compares: one folder per op (its spec, then one file per DSL)."""
