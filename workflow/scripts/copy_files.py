"""Snakemake adapter: copy input[i] to output[i] (used to promote figures into assets/)."""

import shutil

with open(snakemake.log[0], "w") as log:
    for src, dst in zip(snakemake.input, snakemake.output):
        shutil.copyfile(src, dst)
        print(f"{src} -> {dst}", file=log)
