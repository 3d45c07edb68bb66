import os

# Tests run on 2 cores: keep XLA to one thread per test process.
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
