"""The model registry: one entry per model name, the only list of models in the book.

An entry names the model's class (imported on first use, so that listing models does not
start TensorFlow), its family (``"general"`` models ignore order, ``"sequence"`` models use
it), the chapter that introduces it, a display label, fixed settings that make the entry a
variant of its class, and the two small profiles:

* ``smoke``: the notebooks' smoke profile (real data, a couple of epochs);
* ``tiny``: the tests' settings for tiny synthetic data (small networks, few epochs).

The command line, the tuner, the tests, the result cache and the report chapters all read
this registry; adding a model means its module, one ``register`` call here and its tests.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass, field

__all__ = ["Entry", "MODELS", "register", "unregister", "entry", "make_model", "model_class",
           "model_config", "profile_overrides", "FAMILIES", "networks", "VARIANT_OF"]

FAMILIES = ("general", "sequence")
PROFILES = ("full", "smoke", "tiny")


@dataclass(frozen=True)
class Entry:
    name: str
    target: str                       # "recsys_lib.models.bpr:BPR"
    family: str                       # "general" or "sequence"
    chapter: str                      # the notebook that introduces it, e.g. "03_framework"
    label: str                        # display name in tables
    fixed: dict = field(default_factory=dict)
    smoke: dict = field(default_factory=dict)
    tiny: dict = field(default_factory=dict)
    baseline: bool = False            # a reference model of the comparison
    kind: str = ""                    # display group: "baseline", "CNN", "RNN", ...

    @property
    def module(self) -> str:
        return self.target.split(":")[0]

    def model_class(self):
        module, cls = self.target.split(":")
        return getattr(importlib.import_module(module), cls)

    def config(self, **overrides):
        """The entry's config: the class defaults, its fixed settings, then ``overrides``."""
        cls = self.model_class()
        bad = sorted(set(overrides) & set(self.fixed))
        if bad:
            raise ValueError(f"{self.name} fixes {', '.join(bad)}; use another registry entry")
        return cls.Config().replace(**{**self.fixed, **overrides})

    def profile(self, profile: str) -> dict:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {profile!r}")
        return {"full": {}, "smoke": self.smoke, "tiny": self.tiny}[profile]


#: name -> Entry, in the order of the book
MODELS: dict[str, Entry] = {}
#: variant name -> the entry whose network it shares (kept beside ``Entry``, not in it:
#: ``Entry`` is part of every result's key, and this describes the book, not a training run)
VARIANT_OF: dict[str, str] = {}


def register(name: str, target: str, family: str, chapter: str, label: str | None = None,
             fixed: dict | None = None, smoke: dict | None = None, tiny: dict | None = None,
             baseline: bool = False, kind: str | None = None, variant_of: str = "") -> Entry:
    """Add a model under ``name``; ``target`` is ``"module:Class"``. ``variant_of`` names an
    entry registered before it whose network it shares, trained another way (a cell, a loss):
    a chapter that needs one model per network shows the entry, not its variants."""
    if name in MODELS:
        raise ValueError(f"model {name!r} is already registered")
    if family not in FAMILIES:
        raise ValueError(f"family must be one of {FAMILIES}, got {family!r}")
    if ":" not in target:
        raise ValueError(f"target must be 'module:Class', got {target!r}")
    if variant_of and variant_of not in MODELS:
        raise ValueError(f"{name} is a variant of {variant_of!r}, which is not registered "
                         "(register it first)")
    if kind is None:
        kind = ("sequential baseline" if family == "sequence" else "baseline") if baseline \
            else family
    e = Entry(name, target, family, chapter, label or name, dict(fixed or {}),
              dict(smoke or {}), dict(tiny or {}), baseline, kind)
    MODELS[name] = e
    if variant_of:
        VARIANT_OF[name] = variant_of
    return e


def unregister(name: str) -> None:
    MODELS.pop(name, None)
    VARIANT_OF.pop(name, None)


def entry(name: str) -> Entry:
    """The registry entry of ``name``; unknown names raise ``KeyError`` listing the known ones."""
    if name not in MODELS:
        raise KeyError(f"unknown model {name!r}; known models: {', '.join(MODELS)}")
    return MODELS[name]


def networks(names=None) -> list[str]:
    """The registered names (or those of ``names``) that are not a variant of another entry:
    one per network, in the order of the book."""
    return [n for n in (MODELS if names is None else names) if entry(n).name not in VARIANT_OF]


def model_class(name: str):
    """The Recommender class behind ``name`` (imports it)."""
    return entry(name).model_class()


def model_config(name: str, **overrides):
    """The config of ``name`` with ``overrides`` applied (validated)."""
    return entry(name).config(**overrides)


def profile_overrides(name: str, profile: str) -> dict:
    """The settings a notebook profile ('full', 'smoke') or the tests ('tiny') use for ``name``."""
    return dict(entry(name).profile(profile))


def make_model(name: str, seed: int = 0, **overrides):
    """An unfitted model by registry name, with ``overrides`` of its config."""
    e = entry(name)
    return e.model_class()(e.config(**overrides), seed=seed)


_M = "recsys_lib.models."
_SMALL = dict(epochs=2, batch_size=64)
register("pop", _M + "baselines:Popularity", "general", "03_framework", "Popularity",
         baseline=True)
register("itemknn", _M + "baselines:ItemKNN", "general", "03_framework", "ItemKNN", baseline=True)
register("ease", _M + "baselines:EASE", "general", "03_framework", "EASE", baseline=True)
register("rp3beta", _M + "baselines:RP3beta", "general", "03_framework", "RP3beta", baseline=True)
register("ials", _M + "ials:IALS", "general", "03_framework", "iALS", baseline=True,
         tiny=dict(factors=4, iterations=3))
register("bpr", _M + "bpr:BPR", "general", "03_framework", "BPR-MF", baseline=True,
         smoke=dict(epochs=6), tiny=dict(epochs=4, eval_every=2, dim=8, batch_size=64))
register("cnn-item-only", _M + "cnn:ItemOnlyCNN", "general", "04_cnn", "article CNN (items only)", kind="CNN",
         smoke=dict(epochs=5), tiny=_SMALL)
register("cnn-content", _M + "cnn:ContentCNN", "general", "04_cnn", "content CNN", kind="CNN",
         smoke=dict(epochs=2), tiny=dict(_SMALL, dim=8, filters=8, word_dim=8))
register("caser", _M + "cnn:Caser", "sequence", "04_cnn", "Caser", kind="CNN",
         smoke=dict(epochs=2), tiny=dict(_SMALL, L=3, dim=8, n_h=4, n_v=2))
register("markov", _M + "rnn:Markov", "sequence", "05_rnn", "Markov chain", baseline=True)
register("sr", _M + "session:SequentialRules", "sequence", "05_rnn", "sequential rules",
         baseline=True)
register("vsknn", _M + "session:VSKNN", "sequence", "05_rnn", "V-SKNN", baseline=True,
         tiny=dict(k=3, window=5))
register("lstm", _M + "rnn:ArticleLSTM", "sequence", "05_rnn", "article LSTM", kind="RNN",
         smoke=dict(epochs=2), tiny=dict(_SMALL, L=4, dim=8, units=8))
register("gru4rec", _M + "rnn:GRU4Rec", "sequence", "05_rnn", "GRU4Rec", kind="RNN",
         smoke=dict(epochs=2), tiny=dict(_SMALL, L=4, dim=8, units=8))
register("gru4rec-lstm", _M + "rnn:GRU4Rec", "sequence", "05_rnn", "GRU4Rec (LSTM cell)", kind="RNN",
         variant_of="gru4rec", fixed=dict(cell="lstm"), smoke=dict(epochs=2), tiny=dict(_SMALL, L=4, dim=8, units=8))
register("cfgan", _M + "gan:CFGAN", "general", "06_gan", "CFGAN", kind="GAN",
         smoke=dict(epochs=2, eval_every=1), tiny=dict(epochs=2, eval_every=1, hidden=8,
                                                       batch_size=16))
_TINY_ATT = dict(epochs=2, batch_size=512, L=8, dim=8, blocks=1)
register("sasrec", _M + "attention:SASRec", "sequence", "07_attention", "SASRec (full softmax)", kind="attention",
         fixed=dict(loss="ce", negatives=1), smoke=dict(epochs=2), tiny=_TINY_ATT)
register("sasrec-bce", _M + "attention:SASRecBCE", "sequence", "07_attention", "SASRec (BCE, 1 negative)",
         kind="attention", variant_of="sasrec", fixed=dict(loss="bce", negatives=1), smoke=dict(epochs=2),
         tiny=_TINY_ATT)
register("sasrec-sampled", _M + "attention:SASRecSampled", "sequence", "07_attention",
         "SASRec (sampled softmax)", kind="attention", variant_of="sasrec", fixed=dict(loss="sampled"),
         smoke=dict(epochs=2), tiny=dict(_TINY_ATT, negatives=3))
register("sasrec-gbce", _M + "attention:SASRecGBCE", "sequence", "07_attention", "gSASRec (gBCE)",
         kind="attention", variant_of="sasrec", fixed=dict(loss="gbce"), smoke=dict(epochs=2),
         tiny=dict(_TINY_ATT, negatives=3))
register("bert4rec", _M + "attention:BERT4Rec", "sequence", "07_attention", "BERT4Rec",
         kind="attention", smoke=dict(epochs=2), tiny=_TINY_ATT)
