"""The only code that knows Ray, Tune, Serve and MLflow; it knows no paper.

runner (reproduce), sweep (Tune + Pareto front), report, overhead (bench), serving (Ray Serve app),
actors (ReproductionActor, DecoderActor, actor_options), tracking (MLflow with a local fallback),
ray_session (connect or start Ray). Nothing is imported here, so `tokenworks list` stays fast.
"""
