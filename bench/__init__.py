"""`make bench`: the shop's throughput, latency, AWS requests and cost per order (bench/run.py)."""
