"""Reading records: join shards (merge), render a run (report, verdict, plots, analysis,
markdown), compare runs (compare, stats), export them (export), count kernel lines (codesize).
Runs no kernel; imports bench.core only."""
