"""The shared vocabulary of dslbench: the ops and how a user names them (ops), the result
record and its file format (records), the environment a result was measured in (env), and
plain-text tables of records (table). Imports nothing else of bench/."""
