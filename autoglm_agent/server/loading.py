"""Load a local transformers image-text-to-text checkpoint (never downloads anything).

One path serves both the tiny demo checkpoint on a CPU and the real AutoGLM-Phone-9B on a GPU:
``AutoModelForImageTextToText`` + ``AutoProcessor``. When the full processor cannot be built
(``Glm4vProcessor`` insists on a video processor that needs torchvision), the processor is built
image-only: the same processor class without its video part, from the checkpoint's image
processor, tokenizer and chat template.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autoglm_agent.server.config import ServerConfig
from autoglm_agent.server.errors import ModelLoadError

log = logging.getLogger(__name__)

#: Below this many parameters a CPU engine runs torch single-threaded: the matrices are too small for
#: intra-op threads to pay off, and on a busy machine every OpenMP barrier waits for a descheduled thread.
SMALL_MODEL_PARAMS = 100_000_000

#: Added tokens that must stay in decoded text even when a tokenizer marks them special.
KEEP_IN_TEXT = ("<think>", "</think>", "<answer>", "</answer>")


@dataclass
class LoadedModel:
    """A model ready for the engine, with what the server needs to know about it."""

    path: Path
    model: Any
    processor: Any
    tokenizer: Any
    model_type: str
    device: Any
    dtype: Any
    eos_token_ids: set[int]
    pad_token_id: int
    max_model_len: int
    supports_images: bool
    supports_audio: bool
    image_only_processor: bool
    quantized: bool = False
    chat_template: str | None = None
    skip_token_ids: set[int] = field(default_factory=set)
    torch_threads: int | None = None  # intra-op threads the engine should use (None: torch's default)


def _check_folder(path: Path, what: str) -> None:
    if not path.exists():
        raise ModelLoadError(f"{what} path {path} does not exist", hint="pass a local checkpoint folder")
    if not path.is_dir():
        raise ModelLoadError(f"{what} path {path} is not a folder", hint="pass a local checkpoint folder")
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"{what} path {path} is not a transformers checkpoint (no config.json)",
            hint="pass the folder that holds config.json and the weights",
        )


def resolve_device(device: str) -> Any:
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ModelLoadError(
            "device 'cuda' was asked for but torch sees no CUDA GPU", hint="use --device cpu"
        )
    return torch.device(device)


def resolve_dtype(dtype: str, device: Any, config: Any) -> Any:
    import torch

    if dtype != "auto":
        return getattr(torch, dtype)
    if device.type == "cpu":
        return torch.float32
    saved = getattr(config, "dtype", None) or getattr(config, "torch_dtype", None)
    if isinstance(saved, str):
        saved = getattr(torch, saved, None)
    if saved in (torch.float16, torch.bfloat16):
        return saved
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def _read_chat_template(path: Path, tokenizer: Any) -> str | None:
    jinja = path / "chat_template.jinja"
    if jinja.is_file():
        return jinja.read_text(encoding="utf-8")
    for name in ("chat_template.json", "processor_config.json"):
        f = path / name
        if f.is_file():
            try:
                data = json.loads(f.read_text(encoding="utf-8"))
            except ValueError:
                continue
            tpl = data.get("chat_template")
            if isinstance(tpl, str):
                return tpl
    tpl = getattr(tokenizer, "chat_template", None)
    return tpl if isinstance(tpl, str) else None


def _processor_class(path: Path, model_type: str) -> Any:
    import transformers
    from transformers.models.auto.processing_auto import PROCESSOR_MAPPING_NAMES

    name: str | None = None
    f = path / "processor_config.json"
    if f.is_file():
        try:
            name = json.loads(f.read_text(encoding="utf-8")).get("processor_class")
        except ValueError:
            name = None
    if not name:
        name = PROCESSOR_MAPPING_NAMES.get(model_type)
    return getattr(transformers, name, None) if name else None


def build_image_only_processor(path: Path, model_type: str) -> Any:
    """The checkpoint's processor class without its video part (for machines without torchvision)."""
    from transformers import AutoImageProcessor, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    image_processor = AutoImageProcessor.from_pretrained(path, local_files_only=True)
    chat_template = _read_chat_template(path, tokenizer)
    base = _processor_class(path, model_type)
    if base is None:
        raise ModelLoadError(f"no processor class is known for model type {model_type!r} at {path}")

    def __init__(self: Any, image_processor: Any = None, tokenizer: Any = None, **kwargs: Any) -> None:
        # The base processors take (image_processor, tokenizer, video_processor, ...): the video part is
        # left out of this class's attributes, so ProcessorMixin never asks for a video processor.
        base.__init__(self, image_processor, tokenizer, None, **kwargs)

    cls = type(f"ImageOnly{base.__name__}", (base,), {"__init__": __init__})
    try:
        return cls(image_processor, tokenizer, chat_template=chat_template)
    except Exception as exc:
        raise ModelLoadError(f"cannot build an image-only {base.__name__} for {path}: {exc}") from exc


def load_processor(path: Path, model_type: str) -> tuple[Any, bool]:
    """``AutoProcessor`` when it loads, else the image-only processor. Returns (processor, image_only)."""
    from transformers import AutoProcessor

    try:
        return AutoProcessor.from_pretrained(path, local_files_only=True), False
    except (ImportError, ValueError, OSError, TypeError, AttributeError, KeyError) as exc:
        log.info("AutoProcessor failed for %s (%s); building the processor image-only", path, exc)
    return build_image_only_processor(path, model_type), True


def quantize_int8(model: Any) -> Any:
    """torch dynamic INT8 quantization of every Linear layer (CPU)."""
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.ao.quantization.quantize_dynamic(
            model, {torch.nn.Linear}, dtype=torch.qint8, inplace=True
        )


def load_model(config: ServerConfig) -> LoadedModel:
    """Load ``config.model`` as described by the config; raises ``ModelLoadError`` with one clear line."""
    path = config.model
    _check_folder(path, "model")
    try:
        import torch  # noqa: F401  (a clear error when the server extra is missing)
        from transformers import AutoConfig, AutoModelForCausalLM, AutoModelForImageTextToText
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ModelLoadError(
            f"the model server needs torch and transformers ({exc.name} is missing)",
            hint="pip install 'autoglm-agent[server]'",
        ) from exc

    try:
        hf_config = AutoConfig.from_pretrained(path, local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"cannot read the model config at {path}: {exc}") from exc
    model_type = str(getattr(hf_config, "model_type", "unknown"))
    device = resolve_device(config.device)
    dtype = resolve_dtype(config.dtype, device, hf_config)
    if config.quantize == "int8" and device.type != "cpu":
        raise ModelLoadError(
            "int8 dynamic quantization runs on CPU only", hint="use --device cpu or no quantize"
        )

    kwargs: dict[str, Any] = {"local_files_only": True, "dtype": dtype}
    try:
        try:
            model = AutoModelForImageTextToText.from_pretrained(path, **kwargs)
        except ValueError:
            # Not an image-text-to-text architecture: a text-only causal LM still serves text requests.
            model = AutoModelForCausalLM.from_pretrained(path, **kwargs)
    except Exception as exc:
        raise ModelLoadError(f"cannot load the model weights at {path}: {exc}") from exc
    model.to(device)
    model.eval()
    threads = config.torch_threads
    if (
        threads is None
        and device.type == "cpu"
        and sum(p.numel() for p in model.parameters()) < SMALL_MODEL_PARAMS
    ):
        threads = 1
    quantized = False
    if config.quantize == "int8":
        model = quantize_int8(model)
        quantized = True

    try:
        processor, image_only = load_processor(path, model_type)
    except ModelLoadError:
        raise
    except Exception as exc:
        raise ModelLoadError(f"cannot load the processor/tokenizer at {path}: {exc}") from exc
    tokenizer = getattr(processor, "tokenizer", processor)
    supports_images = hasattr(processor, "image_processor")
    supports_audio = hasattr(processor, "feature_extractor") and processor is not tokenizer
    if supports_images and (config.min_pixels or config.max_pixels):
        ip = processor.image_processor
        size = dict(getattr(ip, "size", None) or {})
        if config.min_pixels:
            size["shortest_edge"] = config.min_pixels
        if config.max_pixels:
            size["longest_edge"] = config.max_pixels
        ip.size = size

    chat_template = getattr(processor, "chat_template", None) or _read_chat_template(path, tokenizer)
    if not chat_template:
        raise ModelLoadError(f"the checkpoint at {path} has no chat template", hint="add chat_template.jinja")

    eos: set[int] = set()
    gen = getattr(model, "generation_config", None)
    gen_eos = getattr(gen, "eos_token_id", None)
    if isinstance(gen_eos, int):
        eos.add(gen_eos)
    elif isinstance(gen_eos, list | tuple):
        eos.update(int(i) for i in gen_eos)
    if tokenizer.eos_token_id is not None:
        eos.add(int(tokenizer.eos_token_id))
    pad = tokenizer.pad_token_id
    if pad is None:
        pad = getattr(gen, "pad_token_id", None)
    if pad is None:
        pad = min(eos) if eos else 0
    text_config = hf_config.get_text_config() if hasattr(hf_config, "get_text_config") else hf_config
    max_len = int(getattr(text_config, "max_position_embeddings", 0) or 32768)
    if config.max_model_len:
        max_len = min(max_len, config.max_model_len) if max_len else config.max_model_len

    keep = {tokenizer.convert_tokens_to_ids(t) for t in KEEP_IN_TEXT}
    keep.discard(getattr(tokenizer, "unk_token_id", None))
    special = {int(i) for i in tokenizer.all_special_ids}
    for tid, added in getattr(tokenizer, "added_tokens_decoder", {}).items():
        if getattr(added, "special", False):
            special.add(int(tid))
    skip = special - keep
    return LoadedModel(
        path=path,
        model=model,
        processor=processor,
        tokenizer=tokenizer,
        model_type=model_type,
        device=device,
        dtype=dtype,
        eos_token_ids=eos,
        pad_token_id=int(pad),
        max_model_len=max_len,
        supports_images=supports_images,
        supports_audio=supports_audio,
        image_only_processor=image_only,
        quantized=quantized,
        chat_template=chat_template,
        skip_token_ids=skip,
        torch_threads=threads,
    )
