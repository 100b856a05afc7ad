"""The ONNX Runtime encoder: exports the model to ONNX once (int8: quantised dynamically), then embeds."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import stat
import sys
import tempfile
import threading
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from embeddings.openvino_encoder import (
    _check_pipeline,
    _dimension,
    conversion_lock,
    default_cache_dir,
    mean_pool,
    model_fingerprint,
)

log = logging.getLogger(__name__)

MODEL_FILE = "model.onnx"
META = "quotebot-encoder.json"
# Layout version of an exported directory; bump it when the export or the quantisation changes.
CONVERSION = 1
OPSET = 17
# Weights of the dynamic int8 model: uint8 (u8u8 kernels) or int8 (u8s8: on AVX2 without VNNI their
# 16-bit intermediate sums saturate, and the vectors drift further from torch's).
WEIGHT_TYPE = "uint8"


def cache_key(model_id: str, precision: str) -> str:
    """Return the directory name of an exported model: model, runtime, precision and runtime version."""
    import onnxruntime

    slug = "".join(c if c.isalnum() else "-" for c in Path(model_id).name)[:40]
    return f"{slug}-onnx-{precision}-{onnxruntime.__version__}-c{CONVERSION}-{model_fingerprint(model_id)}"


def exported_model(model: str, model_id: str, precision: str, cache_dir: Path | None = None) -> Path:
    """Return the exported model's directory, exporting (and quantising) it first if it is not cached."""
    root = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    target = root / cache_key(model_id, precision)
    if (target / META).is_file():
        return target
    with conversion_lock(root):
        if (target / META).is_file():  # another process exported it while we waited
            return target
        log.info("exporting %s to ONNX (%s) into %s; this happens once", model_id, precision, target)
        work = Path(tempfile.mkdtemp(prefix=".export-", dir=root))
        try:
            with contextlib.redirect_stdout(sys.stderr), _quiet():
                _export(model, model_id, precision, work)
            os.replace(work, target)
        finally:
            shutil.rmtree(work, ignore_errors=True)
    return target


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence the exporter's tracer warnings and the quantiser's advice, logged on the root logger."""
    previous = logging.root.manager.disable
    logging.disable(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logging.disable(previous)


def _writable_copy(model: str, into: Path) -> str:
    """Return a writable copy of a model directory (exporting writes files beside the model)."""
    if not Path(model).is_dir():
        return model  # a hub id: sentence-transformers loads it into its own cache
    copy = into / "source"
    shutil.copytree(model, copy)
    for item in [copy, *copy.rglob("*")]:
        item.chmod(item.stat().st_mode | stat.S_IWUSR)
    return str(copy)


def _export(model: str, model_id: str, precision: str, out: Path) -> None:
    """Export the model's transformer into out as ONNX (int8: dynamically quantised), tokenizer, meta."""
    import onnx
    import onnxruntime
    import torch
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.transformers import optimizer
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    source = _writable_copy(model, out)
    # Eager attention exports the pattern ONNX Runtime's optimiser fuses into one Attention op per
    # layer (the default sdpa one stays a dozen small ops): on AVX2 the fusion is most of the gain.
    st = SentenceTransformer(source, device="cpu", model_kwargs={"attn_implementation": "eager"})
    pooling = _check_pipeline(st, model)
    tokenizer = st.tokenizer
    transformer: Any = st[0].auto_model
    transformer.eval()
    example = tokenizer(["passage: 示例", "query: example"], padding=True, return_tensors="pt")
    traced, fused = out / "traced.onnx", out / "fused.onnx"
    axes = {0: "batch", 1: "tokens"}
    with torch.no_grad():
        torch.onnx.export(
            _hidden_states(transformer),
            (example["input_ids"], example["attention_mask"]),
            str(traced),
            input_names=["input_ids", "attention_mask"],
            output_names=["last_hidden_state"],
            dynamic_axes={"input_ids": axes, "attention_mask": axes, "last_hidden_state": axes},
            opset_version=OPSET,
            dynamo=False,
        )
    config = transformer.config
    optimizer.optimize_model(
        str(traced),
        model_type="bert",
        num_heads=int(config.num_attention_heads),
        hidden_size=int(config.hidden_size),
        opt_level=1,
    ).save_model_to_file(str(fused if precision == "int8" else out / MODEL_FILE))
    traced.unlink()
    if precision == "int8":
        # The fused ops come from another domain, whose outputs shape inference cannot type.
        quantize_dynamic(
            str(fused),
            str(out / MODEL_FILE),
            weight_type=QuantType.QUInt8 if WEIGHT_TYPE == "uint8" else QuantType.QInt8,
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
        fused.unlink()
    prompts = {k: v for k, v in (getattr(st, "prompts", None) or {}).items() if isinstance(v, str)}
    tokenizer.save_pretrained(str(out / "tokenizer"))
    meta = {
        "model": model_id,
        "precision": precision,
        "dimension": _dimension(st),
        "max_length": int(st.max_seq_length or tokenizer.model_max_length),
        "pooling": pooling,
        "prompts": prompts,
        "onnxruntime": onnxruntime.__version__,
    }
    (out / META).write_text(json.dumps(meta, ensure_ascii=False, indent=1), encoding="utf-8")
    shutil.rmtree(out / "source", ignore_errors=True)


def _hidden_states(transformer: Any) -> Any:
    """Return the transformer as a module of plain tensors in and its last hidden states out."""
    import torch

    class HiddenStates(torch.nn.Module):
        """What the exporter traces: (input_ids, attention_mask) -> last_hidden_state."""

        def __init__(self) -> None:
            super().__init__()
            self.transformer = transformer

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            return self.transformer(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    return HiddenStates()


class OnnxBackend:
    """Embeds with an exported model: one ONNX Runtime session per thread budget."""

    name = "onnx"

    def __init__(self, directory: Path, precision: str) -> None:
        from transformers import AutoTokenizer

        self.directory = directory
        self.meta = json.loads((directory / META).read_text(encoding="utf-8"))
        self.tokenizer = AutoTokenizer.from_pretrained(str(directory / "tokenizer"))
        self.precision = "int8" if precision == "int8" else "fp32"
        self.dimension = int(self.meta["dimension"])
        self.prompts: dict[str, str] = dict(self.meta["prompts"])
        self.max_length = int(self.meta["max_length"])
        self._sessions: dict[tuple[int, bool], Any] = {}
        self._lock = threading.Lock()

    def _session(self, threads: int, bulk: bool) -> Any:
        """Return the session of this thread budget and use (made once for each; runs are thread-safe)."""
        import onnxruntime

        with self._lock:
            if (threads, bulk) not in self._sessions:
                options = onnxruntime.SessionOptions()
                options.intra_op_num_threads = threads
                options.inter_op_num_threads = 1
                options.log_severity_level = 3
                # Spinning threads wait on a core a neighbour (or the other session) needs.
                options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                self._sessions[threads, bulk] = onnxruntime.InferenceSession(
                    str(self.directory / MODEL_FILE), options, providers=["CPUExecutionProvider"]
                )
            return self._sessions[threads, bulk]

    def token_counts(self, texts: Sequence[str]) -> list[int]:
        """Return each text's token count as the model sees it (truncated to its longest input)."""
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        return [len(row) for row in ids]

    def embed(self, texts: Sequence[str], threads: int, batch_size: int, *, bulk: bool) -> np.ndarray:
        """Return L2-normalised mean-pooled vectors of texts (prompts already prefixed), longest first."""
        session = self._session(threads, bulk)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            rows = order[start : start + batch_size]
            enc = self.tokenizer(
                [texts[i] for i in rows],
                padding=True,
                truncation=True,
                max_length=self.max_length,
                return_tensors="np",
            )
            mask = enc["attention_mask"].astype(np.int64)
            (hidden,) = session.run(
                None, {"input_ids": enc["input_ids"].astype(np.int64), "attention_mask": mask}
            )
            out[rows] = mean_pool(hidden, mask)
        return out
