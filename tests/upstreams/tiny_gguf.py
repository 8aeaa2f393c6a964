"""Write a tiny, seeded, random-weight llama-architecture GGUF model for tests.

llama.cpp loads it and generates garbage text with real tokenization, real usage counts and
real streaming.  It needs only the ``gguf`` package (from the llama.cpp project) and numpy.

Properties tests can rely on:

* The vocabulary is SentencePiece-style ("llama" tokenizer): ``<unk>``, ``<s>``, ``</s>``, the
  256 ``<0xNN>`` byte-fallback tokens, ChatML ``<|im_start|>`` / ``<|im_end|>`` control tokens
  and printable pieces (single ASCII characters except ``<`` and ``>``, and ``▁word``
  pieces), so any text tokenizes (the rest through the byte tokens).
* Only the printable pieces can ever be sampled: unk, control and byte tokens get a logit near
  -1000 (hidden dimension 0 is held at a positive constant through every layer and only those
  tokens' output rows read it).  So the model never emits an end-of-sequence token, every
  reply runs to ``max_tokens`` (``finish_reason == "length"``), one token is always one
  printable piece, the text is always ASCII and it never contains ``<`` or ``>`` (so never a
  stop string such as ``</s>`` or ``<|im_end|>``, which llama-cpp-python would stop at).
* ``tokenizer.chat_template`` is ChatML. With ``tools=True`` it is ChatML with a tool syntax
  instead (``TOOLS_TEMPLATE``: the tools listed in the system turn, a call written
  ``<function=NAME>{arguments}</function>``, a result in a ``tool`` turn), from which
  llama.cpp's auto-parser builds the grammar that forces a call under
  ``tool_choice: "required"``; that variant also has no SentencePiece space prefix, without
  which llama.cpp (xllamacpp 2026.10) fails to start that grammar ("Failed to initialize
  samplers"). A call so written has no marker before it, so llama.cpp then parses every reply
  of this model as tool calls only: a text reply (``tool_choice: "auto"``) is its 500 "The model
  produced output that does not match the expected peg-native format".
"""

from __future__ import annotations

import os
import string

import gguf
import numpy as np

CHATML_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

TOOLS_TEMPLATE = (
    "{%- if messages[0]['role'] == 'system' %}<|im_start|>system\n{{ messages[0]['content'] }}"
    "{% if tools %}\n{% endif %}{% elif tools %}<|im_start|>system\n{% endif %}"
    "{%- if tools %}Tools:{% for tool in tools %}\n{{ tool | tojson }}{% endfor %}{% endif %}"
    "{% if tools or messages[0]['role'] == 'system' %}<|im_end|>\n{% endif %}"
    "{%- for message in messages %}"
    "{%- if message['role'] == 'system' %}"
    "{%- elif message['role'] == 'assistant' and message.tool_calls %}<|im_start|>assistant\n"
    "{% if message['content'] %}{{ message['content'] }}{% endif %}"
    "{%- for call in message.tool_calls %}{%- if call.function is defined %}{%- set call = call.function %}"
    "{%- endif %}<function={{ call.name }}>{% if call.arguments is string %}{{ call.arguments }}"
    "{% else %}{{ call.arguments | tojson }}{% endif %}</function>{%- endfor %}<|im_end|>\n"
    "{% else %}<|im_start|>{{ message['role'] }}\n{{ message['content'] }}<|im_end|>\n{% endif %}"
    "{%- endfor %}"
    "{%- if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

_WORDS = (
    "the of and to in is it you that he was for on are as with his they at be this from "
    "have or by one had not but what all were when we there can an your which their said if "
    "do will each about how up out them then she many some so these would other into has more "
    "her two like him see time could no make than first been its who now people my made over "
    "did down only way find use may water long little very after words called just where most "
    "know hello world assistant user answer yes paris france spain madrid echo tiny model"
).split()


def _vocab() -> tuple[list[str], list[float], list[int]]:
    """Return (tokens, scores, token types) of the SentencePiece-style vocabulary."""
    tt = gguf.TokenType
    tokens = ["<unk>", "<s>", "</s>"]
    types = [tt.UNKNOWN, tt.CONTROL, tt.CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [tt.BYTE] * 256
    tokens += ["<|im_start|>", "<|im_end|>"]
    types += [tt.CONTROL, tt.CONTROL]
    n_special = len(tokens)
    # No "<" or ">": generated text can never spell "</s>" or "<|im_end|>" (stop strings).
    chars = [c for c in string.printable if c not in " \t\n\r\x0b\x0c<>"]
    pieces = ["▁"] + chars + ["▁" + w for w in _WORDS]
    tokens += pieces
    types += [tt.NORMAL] * len(pieces)
    # SentencePiece scores: longer pieces merge first (higher score).
    scores = [0.0] * n_special + [float(len(p)) - 100.0 for p in pieces]
    return tokens, scores, [int(t) for t in types]


def write_tiny_model(
    path: str | os.PathLike[str],
    *,
    n_layer: int = 2,
    n_embd: int = 64,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 128,
    n_ctx: int = 2048,
    seed: int = 0,
    tools: bool = False,
) -> str:
    """Write the tiny model to ``path`` (about 0.4 MB, F32) and return ``str(path)``; with
    ``tools``, the variant with a tool syntax (see the module docstring)."""
    path = os.fspath(path)
    tokens, scores, types = _vocab()
    n_vocab = len(tokens)
    head_dim = n_embd // n_head
    rng = np.random.default_rng(seed)

    def rand(n_out: int, n_in: int, std: float | None = None) -> np.ndarray:
        """(n_out, n_in) weights, std 1/sqrt(n_in) unless given: activations stay O(1)."""
        scale = n_in**-0.5 if std is None else std
        return (rng.standard_normal((n_out, n_in)) * scale).astype(np.float32)

    w = gguf.GGUFWriter(path, "llama")
    w.add_name("threadrun-tiny")
    w.add_file_type(gguf.LlamaFileType.ALL_F32)
    w.add_context_length(n_ctx)
    w.add_embedding_length(n_embd)
    w.add_block_count(n_layer)
    w.add_feed_forward_length(n_ff)
    w.add_head_count(n_head)
    w.add_head_count_kv(n_head_kv)
    w.add_rope_dimension_count(head_dim)
    w.add_layer_norm_rms_eps(1e-5)
    w.add_vocab_size(n_vocab)
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens)
    w.add_token_scores(scores)
    w.add_token_types(types)
    w.add_unk_token_id(0)
    w.add_bos_token_id(1)
    w.add_eos_token_id(2)
    w.add_add_bos_token(True)
    w.add_add_eos_token(False)
    w.add_chat_template(TOOLS_TEMPLATE if tools else CHATML_TEMPLATE)
    if tools:
        w.add_add_space_prefix(False)

    # numpy shape is (rows, cols) = ggml's (ne1, ne0): weights are (n_out, n_in).
    emb = rand(n_vocab, n_embd, std=1.0)
    emb[:, 0] = 1.0  # dimension 0: a constant "bias" feature, kept through the residual
    w.add_tensor("token_embd.weight", emb)
    for i in range(n_layer):
        attn_out = rand(n_embd, n_head * head_dim)
        ffn_down = rand(n_embd, n_ff)
        attn_out[0, :] = 0.0  # nothing writes to dimension 0
        ffn_down[0, :] = 0.0
        w.add_tensor(f"blk.{i}.attn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(f"blk.{i}.attn_q.weight", rand(n_head * head_dim, n_embd))
        w.add_tensor(f"blk.{i}.attn_k.weight", rand(n_head_kv * head_dim, n_embd))
        w.add_tensor(f"blk.{i}.attn_v.weight", rand(n_head_kv * head_dim, n_embd))
        w.add_tensor(f"blk.{i}.attn_output.weight", attn_out)
        w.add_tensor(f"blk.{i}.ffn_norm.weight", np.ones(n_embd, dtype=np.float32))
        w.add_tensor(f"blk.{i}.ffn_gate.weight", rand(n_ff, n_embd))
        w.add_tensor(f"blk.{i}.ffn_up.weight", rand(n_ff, n_embd))
        w.add_tensor(f"blk.{i}.ffn_down.weight", ffn_down)
    w.add_tensor("output_norm.weight", np.ones(n_embd, dtype=np.float32))
    out = rand(n_vocab, n_embd, std=1.0)
    out[:, 0] = 0.0
    never = [i for i, t in enumerate(types) if t != int(gguf.TokenType.NORMAL)]
    out[never, 0] = -1000.0  # unk, control and byte tokens are never sampled
    w.add_tensor("output.weight", out)

    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


if __name__ == "__main__":
    import sys

    print(write_tiny_model(sys.argv[1] if len(sys.argv) > 1 else "tiny.gguf"))
