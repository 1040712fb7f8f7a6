"""Builders for tiny, randomly initialised checkpoints (never downloaded).

``build_tiny_glm4v`` writes a small ``Glm4vForConditionalGeneration`` (the AutoGLM-Phone-9B
architecture, GLM-4.1V) with a byte-level BPE tokenizer, the GLM special tokens, a GLM-style chat
template with the thinking switch and an image processor with a small pixel budget. The folder
loads through exactly the same server code path as the real model (``loading.load_model``).

``build_tiny_asr`` writes a tiny random ``Wav2Vec2ForCTC`` (or Whisper) speech model that the
transformers ASR pipeline can load. Its transcripts are garbage, but they are real transcripts.

Both take a few seconds on a laptop CPU; tests build them into a temporary folder.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Literal

from autoglm_agent.errors import ConfigError

# GLM special tokens (ids follow this order; the real checkpoint has its own ids, read from its files).
GLM_SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>",
    "[MASK]",
    "[gMASK]",
    "[sMASK]",
    "<sop>",
    "<eop>",
    "<|system|>",
    "<|user|>",
    "<|assistant|>",
    "<|observation|>",
    "<|begin_of_image|>",
    "<|end_of_image|>",
    "<|begin_of_video|>",
    "<|end_of_video|>",
    "<|image|>",
    "<|video|>",
)
#: Added tokens that stay in decoded text (the reasoning parser and the action parser need them).
GLM_TEXT_TAGS: tuple[str, ...] = ("<think>", "</think>", "<answer>", "</answer>")
#: Tokens that end an assistant turn.
GLM_STOP_TOKENS: tuple[str, ...] = ("<|endoftext|>", "<|user|>", "<|observation|>")

#: GLM-4.1V style chat template with the thinking switch. With ``enable_thinking=False`` the
#: assistant turn is pre-filled with an empty ``<think></think>`` so the model answers at once.
GLM_CHAT_TEMPLATE = r"""[gMASK]<sop>
{%- macro render_content(content) -%}
{%- if content is string -%}{{ content }}
{%- elif content is not none -%}
{%- for item in content -%}
{%- if item.type == 'text' -%}{{ item.text }}
{%- elif item.type in ('image', 'image_url') -%}<|begin_of_image|><|image|><|end_of_image|>
{%- elif item.type in ('video', 'video_url') -%}<|begin_of_video|><|video|><|end_of_video|>
{%- endif -%}
{%- endfor -%}
{%- endif -%}
{%- endmacro -%}
{%- for message in messages -%}
{%- if message.role in ('system', 'developer') -%}<|system|>
{{ render_content(message.content) }}
{%- elif message.role == 'user' -%}<|user|>
{{ render_content(message.content) }}
{%- elif message.role == 'assistant' -%}<|assistant|>
{{ render_content(message.content) }}
{%- elif message.role in ('tool', 'observation') -%}<|observation|>
{{ render_content(message.content) }}
{%- endif -%}
{%- endfor -%}
{%- if add_generation_prompt -%}<|assistant|>
{% if enable_thinking is defined and not enable_thinking %}<think></think>
{% endif -%}
{%- endif -%}"""

_APPS_EN = (
    "Settings",
    "Chrome",
    "Gmail",
    "YouTube",
    "Maps",
    "Camera",
    "Photos",
    "Clock",
    "Calendar",
    "Contacts",
    "Messages",
    "Phone",
    "Files",
    "Play Store",
    "Calculator",
    "Weather",
    "Notes",
    "Music",
)
_APPS_ZH = (
    "设置",
    "微信",
    "淘宝",
    "美团",
    "抖音",
    "小红书",
    "支付宝",
    "高德地图",
    "京东",
    "哔哩哔哩",
    "饿了么",
    "拼多多",
    "知乎",
    "微博",
    "携程",
    "大众点评",
    "网易云音乐",
    "相机",
    "相册",
    "时钟",
)
_TASKS = (
    "open settings",
    "turn on wifi",
    "turn off bluetooth",
    "search for coffee nearby",
    "send a message to Alice saying hello",
    "set an alarm for 7 am",
    "take a photo",
    "play some music",
    "check the weather in Beijing",
    "打开设置",
    "打开微信给张三发消息",
    "在淘宝搜索无线耳机",
    "用美团点一份外卖",
    "打开高德地图导航到公司",
    "把屏幕亮度调高",
    "查看今天的天气",
)
_THOUGHTS = (
    "The home screen is visible. I need to open the app first.",
    "I can see the search box at the top of the screen, so I will tap it.",
    "The keyboard is open, now I type the query.",
    "The task is complete.",
    "当前在桌面，我需要先打开应用。",
    "我看到了搜索框，点击它。",
    "任务已经完成。",
)


def _phone_agent_corpus(extra: Iterable[str] | None = None) -> list[str]:
    """A small built-in corpus of phone-agent text (actions, app names, English and Chinese)."""
    lines: list[str] = []
    apps = _APPS_EN + _APPS_ZH
    for i, app in enumerate(apps):
        x, y = (37 * i + 100) % 1000, (53 * i + 200) % 1000
        lines += [
            f'do(action="Launch", app="{app}")',
            f'do(action="Tap", element=[{x},{y}])',
            f'do(action="Long Press", element=[{y},{x}])',
            f'do(action="Double Tap", element=[{x},{x}])',
            f'do(action="Swipe", start=[{x},{y}], end=[{x},{(y + 400) % 1000}])',
            f'do(action="Tap", element=[{x},{y}], message="confirm payment in {app}")',
        ]
    lines += [
        'do(action="Type", text="hello world")',
        'do(action="Type_Name", text="张三")',
        'do(action="Back")',
        'do(action="Home")',
        'do(action="Wait", duration="2 seconds")',
        'do(action="Take_over", message="please log in")',
        'do(action="Note", message="price is 25 yuan")',
        'do(action="Call_API", instruction="summarize the page")',
        'do(action="Interact")',
        'finish(message="done")',
        'finish(message="任务完成")',
    ]
    for task in _TASKS:
        lines.append(f"Task: {task}")
    for thought in _THOUGHTS:
        lines.append(f'<think>{thought}</think><answer>do(action="Back")</answer>')
    lines += [
        "You are a phone operating assistant. Look at the screenshot and output one action.",
        "Screen info: current app is the launcher. The screen is 1080x2400.",
        "你是一个手机操作助手，请根据截图输出下一步操作。",
        "0123456789 ,.;:!?()[]{}\"'=+-*/_ abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    ]
    if extra is not None:
        lines += [str(t) for t in extra]
    return lines


def _mrope_section(rotary_half: int) -> list[int]:
    """Split the rotary half-dimension into (temporal, height, width) like GLM-4.1V's [8, 12, 12]."""
    if rotary_half < 3:
        raise ConfigError(
            f"head_dim * partial_rotary_factor / 2 = {rotary_half} is too small for M-RoPE",
            hint="use a larger hidden_size or fewer attention heads",
        )
    t = max(1, rotary_half // 4)
    h = (rotary_half - t) // 2
    w = rotary_half - t - h
    return [t, h, w]


def build_tokenizer(path: Path, *, vocab_texts: Iterable[str] | None = None, vocab_size: int = 2048) -> Path:
    """Train a byte-level BPE tokenizer with the GLM special tokens and save it to ``path``."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(GLM_SPECIAL_TOKENS),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(_phone_agent_corpus(vocab_texts), trainer)
    tok.add_tokens(list(GLM_TEXT_TAGS))
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        eos_token="<|endoftext|>",
        pad_token="<|endoftext|>",
        clean_up_tokenization_spaces=False,
        padding_side="left",
    )
    fast.chat_template = GLM_CHAT_TEMPLATE
    fast.save_pretrained(path)
    return path


def build_tiny_glm4v(
    path: str | Path,
    *,
    vocab_texts: Iterable[str] | None = None,
    vocab_size: int = 2048,
    hidden_size: int = 128,
    layers: int = 2,
    heads: int = 4,
    kv_heads: int = 2,
    intermediate_size: int = 256,
    vision_hidden_size: int = 64,
    vision_layers: int = 2,
    vision_heads: int = 2,
    image_size: int = 112,
    min_pixels: int = 2 * 28 * 28 * 4,
    max_pixels: int = 2 * 336 * 336,
    max_position_embeddings: int = 8192,
    seed: int = 0,
) -> Path:
    """Write a small random ``Glm4vForConditionalGeneration`` checkpoint to ``path`` and return it.

    ``min_pixels``/``max_pixels`` are the image processor's ``size`` (``shortest_edge``/``longest_edge``,
    which count the temporal factor 2): the default maps a 1080x2400 screenshot to 224x476 px,
    136 image tokens. ``image_size`` is the vision tower's learned position grid (in pixels).
    """
    import torch
    from transformers import GenerationConfig, Glm4vConfig, Glm4vForConditionalGeneration
    from transformers.models.glm4v.image_processing_pil_glm4v import Glm4vImageProcessorPil

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    build_tokenizer(out, vocab_texts=vocab_texts, vocab_size=vocab_size)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(out, local_files_only=True)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in (*GLM_SPECIAL_TOKENS, *GLM_TEXT_TAGS)}

    head_dim = hidden_size // heads
    partial_rotary_factor = 0.5
    rotary_half = int(head_dim * partial_rotary_factor) // 2
    text_config = {
        "vocab_size": len(tokenizer),
        "hidden_size": hidden_size,
        "intermediate_size": intermediate_size,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "max_position_embeddings": max_position_embeddings,
        "rope_parameters": {
            "rope_type": "default",
            "rope_theta": 10000.0,
            "partial_rotary_factor": partial_rotary_factor,
            "mrope_section": _mrope_section(rotary_half),
        },
        "pad_token_id": ids["<|endoftext|>"],
    }
    vision_config = {
        "depth": vision_layers,
        "hidden_size": vision_hidden_size,
        "intermediate_size": intermediate_size,
        "num_heads": vision_heads,
        "out_hidden_size": hidden_size,
        "image_size": image_size,
        "patch_size": 14,
        "spatial_merge_size": 2,
        "temporal_patch_size": 2,
    }
    config = Glm4vConfig(
        text_config=text_config,
        vision_config=vision_config,
        image_token_id=ids["<|image|>"],
        video_token_id=ids["<|video|>"],
        image_start_token_id=ids["<|begin_of_image|>"],
        image_end_token_id=ids["<|end_of_image|>"],
        video_start_token_id=ids["<|begin_of_video|>"],
        video_end_token_id=ids["<|end_of_video|>"],
    )
    torch.manual_seed(seed)
    model = Glm4vForConditionalGeneration(config)
    model.eval()
    stop_ids = [ids[t] for t in GLM_STOP_TOKENS]
    model.generation_config = GenerationConfig(
        eos_token_id=stop_ids, pad_token_id=ids["<|endoftext|>"], do_sample=False
    )
    model.save_pretrained(out, safe_serialization=True)

    image_processor = Glm4vImageProcessorPil(size={"shortest_edge": min_pixels, "longest_edge": max_pixels})
    image_processor.save_pretrained(out)
    (out / "chat_template.jinja").write_text(GLM_CHAT_TEMPLATE, encoding="utf-8")
    (out / "processor_config.json").write_text(
        json.dumps({"processor_class": "Glm4vProcessor"}, indent=2) + "\n", encoding="utf-8"
    )
    return out


def build_tiny_asr(
    path: str | Path, *, kind: Literal["wav2vec2", "whisper"] = "wav2vec2", seed: int = 0
) -> Path:
    """Write a tiny random speech-recognition checkpoint (processor included) to ``path``."""
    import torch

    out = Path(path)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    if kind == "wav2vec2":
        from transformers import (
            Wav2Vec2Config,
            Wav2Vec2CTCTokenizer,
            Wav2Vec2FeatureExtractor,
            Wav2Vec2ForCTC,
            Wav2Vec2Processor,
        )

        chars = list("abcdefghijklmnopqrstuvwxyz'")
        vocab = {"<pad>": 0, "<unk>": 1, "|": 2}
        for c in chars:
            vocab[c] = len(vocab)
        vocab_file = out / "vocab.json"
        vocab_file.write_text(json.dumps(vocab), encoding="utf-8")
        tokenizer = Wav2Vec2CTCTokenizer(
            str(vocab_file),
            unk_token="<unk>",
            pad_token="<pad>",
            bos_token=None,
            eos_token=None,
            word_delimiter_token="|",
        )
        feature_extractor = Wav2Vec2FeatureExtractor(
            feature_size=1,
            sampling_rate=16000,
            padding_value=0.0,
            do_normalize=True,
            return_attention_mask=True,
        )
        processor = Wav2Vec2Processor(feature_extractor=feature_extractor, tokenizer=tokenizer)
        config = Wav2Vec2Config(
            vocab_size=len(vocab),
            hidden_size=32,
            num_hidden_layers=2,
            num_attention_heads=2,
            intermediate_size=64,
            conv_dim=(32, 32, 32),
            conv_stride=(5, 4, 4),
            conv_kernel=(10, 4, 4),
            num_conv_pos_embeddings=16,
            num_conv_pos_embedding_groups=2,
            pad_token_id=0,
            ctc_loss_reduction="mean",
        )
        model = Wav2Vec2ForCTC(config)
        # Bias the CTC head away from <pad> so the random model emits characters, not silence.
        with torch.no_grad():
            model.lm_head.bias[0] = -5.0
        model.save_pretrained(out, safe_serialization=True)
        processor.save_pretrained(out)
        return out
    if kind == "whisper":
        from tokenizers import Tokenizer, models, pre_tokenizers, trainers
        from transformers import (
            WhisperConfig,
            WhisperFeatureExtractor,
            WhisperForConditionalGeneration,
            WhisperProcessor,
            WhisperTokenizer,
        )

        bpe = Tokenizer(models.BPE())
        bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        trainer = trainers.BpeTrainer(
            vocab_size=600,
            special_tokens=["<|endoftext|>"],
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
            show_progress=False,
        )
        bpe.train_from_iterator(_phone_agent_corpus(), trainer)
        model_json = json.loads(bpe.to_str())["model"]
        merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in model_json["merges"]]
        tokenizer = WhisperTokenizer(vocab=model_json["vocab"], merges=merges)
        specials = ["<|startoftranscript|>", "<|en|>", "<|transcribe|>", "<|notimestamps|>"]
        tokenizer.add_special_tokens({"additional_special_tokens": specials})
        sot, en, transcribe, notimestamps = (tokenizer.convert_tokens_to_ids(t) for t in specials)
        eos = tokenizer.convert_tokens_to_ids("<|endoftext|>")
        config = WhisperConfig(
            vocab_size=len(tokenizer),
            num_mel_bins=80,
            encoder_layers=1,
            decoder_layers=1,
            encoder_attention_heads=2,
            decoder_attention_heads=2,
            encoder_ffn_dim=64,
            decoder_ffn_dim=64,
            d_model=32,
            max_source_positions=1500,
            max_target_positions=64,
            pad_token_id=eos,
            bos_token_id=eos,
            eos_token_id=eos,
            decoder_start_token_id=sot,
        )
        model = WhisperForConditionalGeneration(config)
        gen = model.generation_config
        gen.decoder_start_token_id = sot
        gen.forced_decoder_ids = [[1, en], [2, transcribe], [3, notimestamps]]
        gen.eos_token_id = eos
        gen.pad_token_id = eos
        gen.max_length = 32
        gen.suppress_tokens = []
        gen.begin_suppress_tokens = []
        model.save_pretrained(out, safe_serialization=True)
        WhisperProcessor(
            feature_extractor=WhisperFeatureExtractor(feature_size=80), tokenizer=tokenizer
        ).save_pretrained(out)
        return out
    raise ConfigError(f"unknown tiny ASR kind {kind!r}", hint="use 'wav2vec2' or 'whisper'")
