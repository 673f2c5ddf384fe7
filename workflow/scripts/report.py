from mwalign.report import build_report
from mwalign.runner import start_job

start_job(snakemake.log[0], snakemake.threads)
build_report(
    snakemake.input.results,
    snakemake.params.models,
    snakemake.output.scores,
    snakemake.output.summary,
    plot_dir=snakemake.output.plots,
    out_html=snakemake.output.html,
)
