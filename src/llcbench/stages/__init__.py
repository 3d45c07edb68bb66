"""One module per workflow stage, each with one function that reads the stage's
inputs, computes and writes its output file. Workflow scripts call them with paths
and the settings from ``params``; the file contracts are in docs/architecture.md.
Each stage module imports only what its stage uses, so a job loads no more than it
needs and a rule's code hash (``llcbench.sources``) covers exactly its code."""
