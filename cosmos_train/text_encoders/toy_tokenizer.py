"""A word-level stand-in for Qwen's tokenizer, with the id rule of the Reason1 fixture.

``shared/reference/reason1/`` tokenised its cases with toy ids: ``<|endoftext|>`` -> 997 (the pad),
``<|im_start|>`` -> 998, ``<|im_end|>`` -> 999, and every word, punctuation mark and newline ->
``1 + sha256(piece) % 996`` (spaces dropped). :func:`write_toy_tokenizer` saves a real Hugging
Face tokenizer folder (``tokenizer.json``, ``tokenizer_config.json``, ``chat_template.jinja``)
that reproduces those ids for a given set of texts, so tests and benchmarks load it through the
same ``AutoTokenizer`` + chat-template path as the real Reason1 folder.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable
from pathlib import Path

__all__ = [
    "CHATML_TEMPLATE",
    "TOY_SPECIAL_IDS",
    "toy_piece_id",
    "toy_pieces",
    "write_tiny_reason1_folder",
    "write_toy_tokenizer",
]

TOY_SPECIAL_IDS = {"<|endoftext|>": 997, "<|im_start|>": 998, "<|im_end|>": 999}
_PIECE = r"\w+|[^\w\s]|\n"
_UNK = "<|unk|>"

#: ChatML with list-of-parts contents (text parts only), no generation prompt unless asked: the
#: layout Qwen2.5-VL's template gives for text-only chats.
CHATML_TEMPLATE = (
    "{% for message in messages %}<|im_start|>{{ message['role'] }}\n"
    "{% if message['content'] is string %}{{ message['content'] }}"
    "{% else %}{% for part in message['content'] %}"
    "{% if part['type'] == 'text' %}{{ part['text'] }}"
    "{% endif %}{% endfor %}{% endif %}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


def toy_piece_id(piece: str) -> int:
    """The fixture's id of a non-special piece."""
    return 1 + int(hashlib.sha256(piece.encode("utf-8")).hexdigest(), 16) % 996


def toy_pieces(text: str) -> list[str]:
    """Words, punctuation marks and newlines of ``text`` (special tokens removed first)."""
    for special in TOY_SPECIAL_IDS:
        text = text.replace(special, " ")
    return re.findall(_PIECE, text)


def write_toy_tokenizer(folder: str | Path, texts: Iterable[str]) -> Path:
    """Writes a tokenizer folder whose vocabulary covers every piece of ``texts``.

    Args:
        folder: output folder (created).
        texts: captions (and other text) the tokenizer must know; other words become ``<|unk|>``.
    """
    from tokenizers import AddedToken, Regex, Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    from cosmos_train.text_encoders.reason1 import SYSTEM_PROMPT

    vocab = {_UNK: 0, **TOY_SPECIAL_IDS}
    for text in [SYSTEM_PROMPT, "system", "user", "\n", *texts]:
        for piece in toy_pieces(text):
            vocab[piece] = toy_piece_id(piece)
    core = Tokenizer(models.WordLevel(vocab, unk_token=_UNK))
    core.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(
                Regex(r"[^\S\n]+"), behavior="removed"
            ),  # spaces go, newlines stay
            pre_tokenizers.Split(Regex(_PIECE), behavior="isolated"),
        ]
    )
    # Special tokens already in the vocabulary keep their (fixture) ids.
    core.add_special_tokens([AddedToken(t, special=True) for t in TOY_SPECIAL_IDS])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=core,
        unk_token=_UNK,
        pad_token="<|endoftext|>",
        additional_special_tokens=["<|im_start|>", "<|im_end|>"],
    )
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(folder))
    # Saving keeps one piece per id; colliding toy ids (sha256 % 996) need every piece back.
    path = folder / "tokenizer.json"
    data = json.loads(path.read_text(encoding="utf-8"))
    data["model"]["vocab"] = vocab
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    (folder / "chat_template.jinja").write_text(CHATML_TEMPLATE, encoding="utf-8")
    return folder


def write_tiny_reason1_folder(
    folder: str | Path, fixture_dir: str | Path, texts: Iterable[str]
) -> Path:
    """A Reason1-layout folder of the fixture: ``config.json``, ``model.safetensors``, tokenizer.

    Args:
        folder: output folder (created).
        fixture_dir: folder holding ``tiny_config.json`` and ``tiny_weights.safetensors``.
        texts: captions the toy tokenizer must know.
    """
    import shutil

    folder = write_toy_tokenizer(folder, texts)
    fixture_dir = Path(fixture_dir)
    shutil.copyfile(fixture_dir / "tiny_config.json", folder / "config.json")
    shutil.copyfile(fixture_dir / "tiny_weights.safetensors", folder / "model.safetensors")
    return folder
