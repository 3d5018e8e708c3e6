"""got: train GOT-OCR2.0-style end-to-end OCR models, and use them: `got.load(path).chat(image)`."""


def __getattr__(name: str):
    # `import got` stays cheap (no torch) until the model API is asked for
    if name in ("load", "GOT"):
        from got.infer import api

        return getattr(api, name)
    raise AttributeError(f"module 'got' has no attribute {name!r}")
