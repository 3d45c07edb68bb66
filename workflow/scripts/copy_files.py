"""Snakemake adapter: copy input[i] to output[i] (used to promote figures into assets/)."""
import shutil

with open(snakemake.log[0], "w") as log:  # noqa: F821
    for src, dst in zip(snakemake.input, snakemake.output):  # noqa: F821
        shutil.copyfile(src, dst)
        print(f"{src} -> {dst}", file=log)
