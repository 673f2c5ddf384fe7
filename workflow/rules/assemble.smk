rule assemble:
    input:
        corpus=rules.sample.output.corpus,
        shards=[path for lang in LANGUAGES for path in translation_shards(lang)],
        stats=[path for lang in LANGUAGES for path in translation_stats(lang)],
        similarity=[path for lang in LANGUAGES for path in similarity_files(lang)],
    output:
        multiway="results/dataset/multiway.parquet",
        enx="results/dataset/enx.parquet",
        card="results/dataset/card.json",
    log:
        "logs/assemble.log",
    benchmark:
        "benchmarks/assemble.tsv"
    priority: PRIORITY["setup"]
    conda:
        "../../envs/cpu.yaml"
    threads: 1
    resources:
        mem_mb=4000,
        runtime=20,
    params:
        settings=canonical(assemble_settings(config)),
        languages=LANGUAGES,
        shards={lang: translation_shards(lang) for lang in LANGUAGES},
        stats={lang: translation_stats(lang) for lang in LANGUAGES},
        similarity={lang: similarity_files(lang) for lang in LANGUAGES},
        seed=config["seed"],
    script:
        "../scripts/assemble.py"
