#!/usr/bin/env python3
"""Reference data for the BPE tokenizer tests (BPEParityTests.swift), made with the `tokenizers` and
`gguf` packages (pip install tokenizers gguf).

  bpe_reference.py smollm2 GGUF OUT     SmolLM2's tokenizer rebuilt in `tokenizers` from the GGUF's
                                        vocabulary and merges: OUT/tokenizer.json, OUT/values.json (the
                                        GGUF values as plain JSON), OUT/big.txt and OUT/expected.json
  bpe_reference.py trained OUT          a small BPE trained here with the Llama-3 split, a BOS template
                                        and ignore_merges: OUT/tokenizer.json, OUT/big.txt, OUT/expected.json
  bpe_reference.py check JSON OUT       the library's reading of a tokenizer.json PruneScale wrote: OUT/tokenizer.json
                                        (the library's save of what it read), OUT/big.txt, OUT/expected.json
                                        (no pre-tokens) and OUT/values.json (whether that save matches JSON)
  bpe_reference.py classes OUT.json     the scalar classes the regexes and Digits use, as ranges
  bpe_reference.py swift-table          Sources/TextData/UnicodeClasses.swift, printed
"""
import glob
import json
import os
import sys
import sysconfig

from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, pre_tokenizers as P, processors, trainers

GPT2 = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3 = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
          r"|\s*[\r\n]+|\s+(?!\S)|\s+")

SAMPLES = [
    "",
    "Hello world",
    "Hello  world",
    "The quick brown fox jumps over the lazy dog. It's 4:30pm; they're sure we've won, I'm told, you'll see, he'd go.",
    "I'm", "I'M", "it'S", "don't", "'s'tart", "rock 'n' roll", "''", "x'", "'", " 'll", "O'Neil's",
    "a\n\nb", "  x", "x  ", " ", "\t", "\n", "a \tb", "x  \t\n y", "line one\r\nline two\r\n\r\n", "trailing spaces   \n  next",
    "   leading and   inner    runs    ",
    "Café naïve résumé façade Ångström Straße",
    "e\u0301 a\u0308o\u0323 \u0915\u094d\u0937",
    "日本語のテキスト、中文字符，한국어 텍스트",
    "Emoji: 😀👍🏽🇺🇸 ❤️ 👨‍👩‍👧 done",
    "Ελληνικά Русский עברית العربية हिन्दी",
    "Numbers 12345 and 3.14159 and 1,000,000 and -42 and 0x1F",
    "٣٤ ½ ² Ⅻ ①②",
    "12345678901234567890",
    "def f(x):\n    return x ** 2  # square\n\n\tif x:\n\t\tpass\n",
    "func greet(_ name: String) -> String {\n    let s = \"Hi, \\(name)!\"\n    return s\n}\n",
    "<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\nHi!<|im_end|>\n",
    "text<|endoftext|>more<|endoftext|><|endoftext|>",
    "<|im_start|><|im_end|>", "<|im_start", "x<|im_start|>", "<<|im_end|>>",
    "?!?!... --- ((()))[[]]{{}} <<>> @@## $$%% ^^&&** ~~``", "!!'s", "  !!", "a—b–c…d",
    "\u00a0nbsp\u2009thin\u3000ideo\u2028ls\u0085nel",
    "tab\tseparated\tvalues\t\t\n",
    "ctrl\x04\x06\x13x\x1d end",
    "\U00040000 plane four \U000f0000 private",
    "zero\u200bwidth\ufeffbom",
    "ſ Kelvin \u212a Angstrom \u212b",
    "MiXeD CaSe WORDS and ALLCAPS",
    "https://example.com/path?q=1&r=two#frag user@example.org",
]


def random_samples(count=400, seed=12):
    """Strings stitched at random from pieces that meet at the scanners' edges: spaces before and
    after everything, apostrophes, digits of several scripts, scalars whose class depends on the
    Unicode version, half special tokens, bytes SmolLM2 cannot spell."""
    import random
    parts = ["a", "Zq", "é", "e\u0301", "ſ", "\u212a", "日本", "1", "42", "\u0663", "\u00b2", "\U00011de0", "\u3250",
             " ", "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "'", "'s", "'S", "'re", "'LL", "'d", "!", "...", "-",
             "(", "_", "😀", "👍🏽", "\u0301", "<|im_start|>", "<|endoftext|>", "<|im_", "\x04", "\u200b", "\U000f0000"]
    rng = random.Random(seed)
    return ["".join(rng.choice(parts) for _ in range(rng.randint(1, 12))) for _ in range(count)]


def big_text(limit=200_000):
    """About 200 KB: the licence texts Debian ships, then Python's own library source (code)."""
    paths = sorted(p for p in glob.glob("/usr/share/common-licenses/*") if os.path.isfile(p) and not os.path.islink(p))
    lib = sysconfig.get_paths()["stdlib"]
    paths += [os.path.join(lib, m) for m in ("argparse.py", "textwrap.py", "json/decoder.py")]
    parts, total = [], 0
    for p in paths:
        if not os.path.isfile(p):
            continue
        with open(p, encoding="utf-8", errors="replace") as f:
            text = f.read()
        parts.append(text)
        total += len(text.encode())
        if total >= limit:
            break
    if total < 50_000:
        sys.exit("too little text found for the large sample (/usr/share/common-licenses, the Python library)")
    return "".join(parts).encode()[:limit].decode("utf-8", errors="ignore")


def byte_level(add_prefix_space=False, use_regex=True):
    return P.ByteLevel(add_prefix_space=add_prefix_space, trim_offsets=True, use_regex=use_regex)


def pieces(pre, text):
    return [p for p, _ in pre.pre_tokenize_str(text)]


def pretokenizer_cases(texts):
    """The pre-tokens of each text under each pre-tokenizer the Swift side implements."""
    cases = {
        "smollm": P.Sequence([P.Digits(individual_digits=True), byte_level()]),
        "gpt2": byte_level(),
        "gpt2-prefix-space": byte_level(add_prefix_space=True),
        "digits-contiguous": P.Sequence([P.Digits(individual_digits=False), byte_level()]),
        "llama3": P.Sequence([P.Split(Regex(LLAMA3), behavior="isolated"), byte_level(use_regex=False)]),
        "gpt2-split": P.Sequence([P.Split(Regex(GPT2), behavior="isolated"), byte_level(use_regex=False)]),
    }
    return {name: [pieces(pre, t) for t in texts] for name, pre in cases.items()}


def smollm2(gguf_path, out):
    import gguf
    reader = gguf.GGUFReader(gguf_path)

    def field(key):
        f = reader.fields.get(key)
        return None if f is None else f.contents()

    tokens, merges, types = field("tokenizer.ggml.tokens"), field("tokenizer.ggml.merges"), field("tokenizer.ggml.token_type")
    assert field("tokenizer.ggml.model") == "gpt2", field("tokenizer.ggml.model")
    pre = field("tokenizer.ggml.pre")
    assert pre == "smollm", pre
    values = {"tokens": tokens, "merges": merges, "token_types": [int(t) for t in types], "pre": pre,
              "bos": field("tokenizer.ggml.bos_token_id"), "eos": field("tokenizer.ggml.eos_token_id"),
              "add_bos": bool(field("tokenizer.ggml.add_bos_token"))}
    # SmolLM2's tokenizer.json: BPE without unk, Sequence[Digits(individual), ByteLevel], ByteLevel decoder,
    # its control tokens (GGUF type 3) as special added tokens.
    bpe = models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=[tuple(m.split(" ")) for m in merges])
    tok = Tokenizer(bpe)
    tok.pre_tokenizer = P.Sequence([P.Digits(individual_digits=True), byte_level()])
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, t in enumerate(types) if t == 3])
    write_case(tok, out, values)


def trained(out):
    """A small BPE trained on the large sample, in the Llama-3 style: Split(regex) then ByteLevel without
    regex, ignore_merges, and a post-processor that puts BOS first."""
    text = big_text()
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = P.Sequence([P.Split(Regex(LLAMA3), behavior="isolated"), byte_level(use_regex=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1500, min_frequency=2, show_progress=False,
                                  initial_alphabet=P.ByteLevel.alphabet(),
                                  special_tokens=["<|begin_of_text|>", "<|end_of_text|>"])
    tok.train_from_iterator([text[i:i + 2000] for i in range(0, len(text), 2000)], trainer=trainer)
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)]),
    ])
    write_case(tok, out, {"bos": bos})


def check(path, out):
    """Reads a tokenizer.json written by BPETokenizer.tokenizerJSON() and encodes the samples with it. The
    library's own save of what it read is compared with the file: a field it ignored, defaulted or read
    otherwise shows as the first difference."""
    tok = Tokenizer.from_file(path)
    with open(path, "rb") as f:
        written = f.read()
    resaved = tok.to_str(pretty=True)
    difference = first_difference(json.loads(written), json.loads(resaved), "")
    write_case(tok, out, {"resave_matches": difference is None, "difference": difference,
                          "same_bytes": resaved.encode() == written}, pretokens=False)


def first_difference(a, b, path):
    """Where two parsed JSON values first differ, as a path, or None."""
    if type(a) is not type(b):
        return f"{path or '(root)'}: {type(a).__name__} vs {type(b).__name__}"
    if isinstance(a, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                return f"{path}.{key}: only in the {'file' if key in a else 'library save'}"
            d = first_difference(a[key], b[key], f"{path}.{key}")
            if d:
                return d
        return None
    if isinstance(a, list):
        if len(a) != len(b):
            return f"{path}: {len(a)} items vs {len(b)}"
        return next((d for i, (x, y) in enumerate(zip(a, b)) if (d := first_difference(x, y, f"{path}[{i}]"))), None)
    return None if a == b else f"{path}: {a!r} vs {b!r}"


def write_case(tok, out, values, pretokens=True):
    os.makedirs(out, exist_ok=True)
    tok.save(os.path.join(out, "tokenizer.json"))
    with open(os.path.join(out, "values.json"), "w") as f:
        json.dump(values, f)
    big = big_text()
    with open(os.path.join(out, "big.txt"), "w", encoding="utf-8", newline="") as f:
        f.write(big)
    samples = SAMPLES + random_samples()
    expected = {
        "samples": samples,
        "ids": [tok.encode(s, add_special_tokens=False).ids for s in samples],
        "ids_with_specials": [tok.encode(s, add_special_tokens=True).ids for s in samples],
        "decoded": [tok.decode(tok.encode(s, add_special_tokens=False).ids, skip_special_tokens=False) for s in samples],
        "big_ids": tok.encode(big, add_special_tokens=False).ids,
        "pretokens": pretokenizer_cases(samples) if pretokens else {},
        "big_pretokens": pretokenizer_cases([big]) if pretokens else {},
    }
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f)


def scalar_classes():
    """Which scalars the `tokenizers` regex engine counts as \\p{L}, \\p{N} and \\s, and which Digits
    isolates, as inclusive ranges. Found by splitting a string of every scalar, so this is what the
    library does, whatever Unicode version it carries."""
    scalars = [c for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    text = "".join(map(chr, scalars))

    def ranges(members):
        out = []
        for c in sorted(members):
            if out and out[-1][1] + 1 == c:
                out[-1][1] = c
            else:
                out.append([c, c])
        return out

    def matched(pattern):
        kept = set()
        for _, (a, b) in P.Split(Regex(pattern), behavior="removed").pre_tokenize_str(text):
            kept.update(range(a, b))
        return {scalars[i] for i in range(len(scalars)) if i not in kept}

    # Every scalar doubled: a numeric one then stands alone twice, any other joins a run of length >= 2.
    doubled = "".join(c + c for c in text)
    numeric = {scalars[a // 2] for _, (a, b) in P.Digits(individual_digits=True).pre_tokenize_str(doubled) if b - a == 1}
    return {"letter": ranges(matched(r"\p{L}")), "number": ranges(matched(r"\p{N}")),
            "whitespace": ranges(matched(r"\s")), "numeric": ranges(numeric)}


def swift_table():
    import tokenizers
    classes = scalar_classes()
    lines = [
        "// Generated by Tests/TextDataTests/Fixtures/bpe_reference.py swift-table with tokenizers "
        f"{tokenizers.__version__}; do not edit.",
        "// The scalar classes of the pre-tokenizer regexes (\\p{L}, \\p{N}, \\s) and of the Digits pre-tokenizer",
        "// (Rust's char::is_numeric) as the `tokenizers` library has them, so pre-tokens match it exactly",
        "// rather than follow whichever Unicode version this Swift carries. Inclusive ranges, flattened.",
        "enum UnicodeClassRanges {",
    ]
    for name in ("letter", "number", "whitespace", "numeric"):
        flat = [f"0x{v:X}" for r in classes[name] for v in r]
        lines.append(f"    static let {name}: [UInt32] = [")
        for i in range(0, len(flat), 12):
            lines.append("        " + ", ".join(flat[i:i + 12]) + ",")
        lines.append("    ]")
    lines.append("}")
    print("\n".join(lines))


def main():
    if len(sys.argv) == 4 and sys.argv[1] == "smollm2":
        smollm2(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "trained":
        trained(sys.argv[2])
    elif len(sys.argv) == 4 and sys.argv[1] == "check":
        check(sys.argv[2], sys.argv[3])
    elif len(sys.argv) == 3 and sys.argv[1] == "classes":
        with open(sys.argv[2], "w") as f:
            json.dump(scalar_classes(), f)
    elif len(sys.argv) == 2 and sys.argv[1] == "swift-table":
        swift_table()
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
