"""Video curation: raw footage -> split, transcode, filter, caption, embed, deduplicate, shard.

- task.py: `VideoTask`, `Clip` (what flows through the pipeline; JSON round trip).
- stage.py: `Stage` / `CorpusStage` bases, `register_stage`, `build_stage`, `check_order`.
- stages/: the built-in stages, one file each.
- ingest.py: folders, globs, list files and LeRobot datasets -> tasks.
- worker.py, executors/: running the per-video stages locally (process pool) or on Ray.
- pipeline.py: `run_curation`, `load_curate_config`, the run summary and HTML report.
"""
